/**
 * Exports the fp16 CUDA graph of a model folder for tools/cuda-check/check_cuda.py (see its docstring and
 * docs/precision.md). Usage:
 *
 *   npx tsx tools/cuda-check/export.ts <modelDir> <outDir>     # a model folder (its cache goes to the usual cache root)
 *   npx tsx tools/cuda-check/export.ts --tiny <arch> <outDir>  # a generated tiny checkpoint (qwen3_moe, mixtral, ...)
 *
 * then, on the GPU machine: python3 tools/cuda-check/check_cuda.py <outDir>
 * The checkpoint and the fp16 expert cache are hard-linked into <outDir> (copied across filesystems).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportHalfFusedGraph } from '../../src/engine/onnx-export.js';
import { writeTinyModel, TINY_ARCHS, type TinyArch } from '../../test/support/tiny-models.js';

async function main(argv: string[]): Promise<void> {
  let modelDir: string;
  let outDir: string;
  let cacheDir: string | undefined;
  if (argv[0] === '--tiny') {
    const arch = argv[1] as TinyArch;
    if (!TINY_ARCHS.includes(arch) || !argv[2]) throw new Error(`usage: --tiny <${TINY_ARCHS.join('|')}> <outDir>`);
    modelDir = mkdtempSync(join(tmpdir(), `routescope-cuda-check-${arch}-`));
    writeTinyModel(modelDir, arch, { seed: 31 });
    cacheDir = join(modelDir, '..', `${modelDir.split('/').pop()}-cache`);
    outDir = argv[2];
  } else {
    if (argv.length !== 2) throw new Error('usage: export.ts <modelDir> <outDir> | --tiny <arch> <outDir>');
    [modelDir, outDir] = argv as [string, string];
  }
  const r = await exportHalfFusedGraph(modelDir, outDir, { cacheDir });
  process.stdout.write(
    `wrote ${r.outDir}: model.onnx, ${r.files.length} weight file(s) ${r.linked ? 'hard-linked' : 'copied'}, inputs.json, cpu-outputs.json, meta.json\n` +
      `next, on a machine with onnxruntime-gpu: python3 tools/cuda-check/check_cuda.py ${r.outDir}\n`,
  );
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`cuda-check export: ${(err as Error).message}\n`);
  process.exit(1);
});
