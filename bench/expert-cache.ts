/**
 * Cost of the fused expert cache's integrity check (src/engine/expert-cache.ts) on a generated Qwen3-MoE folder
 * with wide experts (hidden 8192, 128 experts of width 16, 3 MoE layers: a ~0.56 GiB cache): writing it (segments
 * hashed from memory), loading it unchanged (stat against the stamp, nothing read), and loading it after a touch
 * (ctime changed, every segment re-hashed from the file). Also the raw sha256 rate of this Node build.
 *
 *   npm run bench:expert-cache            # BENCH_REPS=3 by default
 */
import { createHash } from 'node:crypto';
import { rmSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { decoderSpecFor } from '../src/engine/architectures/index.js';
import { prepareFusedExpertCache } from '../src/engine/expert-cache.js';
import { readModelFolder } from '../src/engine/model-folder.js';
import { tempDir } from '../test/engine/graph-helpers.js';
import { writeTinyModel } from '../test/support/tiny-models.js';

const REPS = Number(process.env.BENCH_REPS ?? 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const log = (m: string) => process.stderr.write(`[bench:expert-cache] ${m}\n`);

async function main(): Promise<void> {
  const model = tempDir('bench-cache-model');
  const cache = tempDir('bench-cache-root');
  try {
    writeTinyModel(model.dir, 'qwen3_moe', { hiddenSize: 8192, numExperts: 128, seed: 1, withoutTokenizer: true });
    const folder = readModelFolder(model.dir);
    const spec = decoderSpecFor(folder.dir, folder.architecture, folder.config, folder.weights);
    const quiet = { onNotice: () => {} };
    const times = { write: [] as number[], unchanged: [] as number[], touched: [] as number[] };
    let bytes = 0;
    for (let r = 0; r < REPS; r++) {
      rmSync(join(cache.dir, 'fused-experts'), { recursive: true, force: true });
      let t = performance.now();
      const c = await prepareFusedExpertCache(spec, folder.weights, folder.dir, cache.dir, quiet);
      times.write.push(performance.now() - t);
      bytes = c.bytes;
      t = performance.now();
      if ((await prepareFusedExpertCache(spec, folder.weights, folder.dir, cache.dir, quiet)).verifiedBy !== 'unchanged-file') throw new Error('expected the stamp path');
      times.unchanged.push(performance.now() - t);
      const now = Date.now() / 1000;
      utimesSync(c.file, now, now);
      t = performance.now();
      if ((await prepareFusedExpertCache(spec, folder.weights, folder.dir, cache.dir, quiet)).verifiedBy !== 'checksums') throw new Error('expected a full check');
      times.touched.push(performance.now() - t);
    }
    const buf = Buffer.alloc(256 * 2 ** 20, 1);
    const hashMs: number[] = [];
    for (let r = 0; r < REPS; r++) {
      const t = performance.now();
      createHash('sha256').update(buf).digest();
      hashMs.push(performance.now() - t);
    }
    const gib = bytes / 2 ** 30;
    const result = {
      cacheGiB: +gib.toFixed(3),
      writeMs: Math.round(median(times.write)),
      unchangedLoadMs: +median(times.unchanged).toFixed(2),
      touchedLoadMs: Math.round(median(times.touched)),
      verifyGiBPerS: +(gib / (median(times.touched) / 1000)).toFixed(2),
      sha256GiBPerS: +(0.25 / (median(hashMs) / 1000)).toFixed(2),
    };
    log(`reps ${REPS}, medians`);
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } finally {
    model.cleanup();
    cache.cleanup();
  }
}

await main();
