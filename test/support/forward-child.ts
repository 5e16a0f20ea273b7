/**
 * A child process for tests that need a fresh process (fresh onnxruntime environment, its own command line):
 * `node --import tsx test/support/forward-child.ts <modelDir> <cacheDir> <ids comma-separated> [extra args...]`
 * loads the engine, runs one forward pass and prints the experts of every MoE layer as JSON. Extra arguments
 * are ignored; they only make the command line long.
 */
import { loadEngine } from '../../src/engine/index.js';

const [dir, cacheDir, ids] = process.argv.slice(2);
if (!dir || !cacheDir || !ids) {
  process.stderr.write('usage: forward-child.ts <modelDir> <cacheDir> <ids> [ignored...]\n');
  process.exit(2);
}
const engine = await loadEngine(dir, { cacheDir, executionProvider: 'cpu' });
try {
  const result = await engine.forward([ids.split(',').map(Number)], { logits: 'none' });
  process.stdout.write(JSON.stringify({ moeKernel: engine.info.moeKernel?.name, experts: result.routing!.map((l) => Array.from(l.experts)) }) + '\n');
} finally {
  await engine.dispose();
}
