import type { TreeNode } from '../../../../api/contract';

/** The dendrogram's leaves top to bottom (children in their stored order), so the heatmap can use the same order. */
export function leafOrder(tree: TreeNode): string[] {
  const out: string[] = [];
  const stack: TreeNode[] = [tree];
  while (stack.length) {
    const node = stack.pop()!;
    if (node.children?.length) for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!);
    else out.push(node.label ?? '?');
  }
  return out;
}
