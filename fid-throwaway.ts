import { resolve } from 'node:path';
import { loadDemoLanguages } from './src/corpus/demo-languages.js';
import { loadUdhrCorpus } from './src/corpus/udhr.js';
import { loadTokenizer } from './src/engine/tokenizer.js';
import { DecoderSession } from './src/engine/session.js';
import { tempDir } from './test/engine/graph-helpers.js';
const demo = resolve('resources/demo-model');
const tok = await loadTokenizer(demo);
const corpus = loadUdhrCorpus({ split: 'heldout', languages: loadDemoLanguages() });
const texts = corpus.items.flatMap((it) => Object.values(it.texts)).slice(0, Number(process.env.N ?? 40));
const seqs = texts.map((t) => tok.encode(t, { addSpecialTokens: true }).slice(0, 128));
const cache = tempDir('fid');
async function run(p: 'fp32' | 'int8' | 'int4') { const s = await DecoderSession.load(demo, { precision: p, cacheDir: cache.dir, moeKernel: p === 'fp32' ? 'dispatch' : 'auto' }); const out = []; for (const ids of seqs) out.push(await s.forward([ids])); const k = s.info.topK; await s.dispose(); return { out, k }; }
const ref = await run('fp32');
for (const p of (process.env.P ?? 'int8').split(',') as ('int8' | 'int4')[]) {
  const got = await run(p); let same = 0, tot = 0, top1 = 0;
  ref.out.forEach((r, i) => r.routing!.forEach((l, j) => { const g = got.out[i]!.routing![j]!; for (let t = 0; t < l.experts.length / ref.k; t++) { tot++; const a = new Set(l.experts.subarray(t * ref.k, t * ref.k + ref.k)); if (g.experts.subarray(t * ref.k, t * ref.k + ref.k).every((e) => a.has(e))) same++; if (l.experts[t * ref.k] === g.experts[t * ref.k]) top1++; } }));
  console.log(p, `acc8=${process.env.TMP_ACC8 ?? 4} acc4=${process.env.TMP_ACC4 ?? 1}`, 'topk', (100 * same / tot).toFixed(2), 'top1', (100 * top1 / tot).toFixed(2), tot);
}
cache.cleanup();
