import { parseExperimentSpec, runExperiment } from '/work/wt-experiment/src/eval/experiment/index.js';
import { Store, experimentResults } from '/work/wt-experiment/src/store/index.js';
import { rmSync } from 'node:fs';
rmSync('/tmp/exp/smoke.db', { force: true });
const spec = parseExperimentSpec({
  name: 'smoke', model: '/work/wt-experiment/resources/demo-model', task: 'nll',
  dataset: { kind: 'udhr', split: 'heldout', languages: ['eng', 'swh'] },
  arms: [{ kind: 'baseline' }, { name: 'mask', kind: 'plan', plan: { '2': [0, 1], '3': [4] } }, { name: 'rnd', kind: 'random', of: 'mask', seeds: [1, 2] }],
});
const store = Store.open('/tmp/exp/smoke.db');
const t0 = performance.now();
const r = await runExperiment({ store, spec, engineOptions: { executionProvider: 'cpu' }, onProgress: (p) => console.log(p.arm, p.unitsDone, p.unitsTotal, p.tokensPerSecond.toFixed(0)) });
console.log(r, (performance.now() - t0) / 1000);
for (const x of experimentResults(store, r.experimentId).slice(0, 12)) console.log(x.arm, x.language, x.itemId, x.score, x.numTokens, JSON.stringify(x.routing));
