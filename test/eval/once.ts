/**
 * Computes a shared test input on first use inside a test rather than while the file is collected. StrykerJS's
 * vitest runner does not count an error thrown during collection as a failed test, so a mutant that makes
 * compareArms throw would otherwise survive every test that reads the shared result.
 */
export function once<T>(compute: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: compute() }).v;
}
