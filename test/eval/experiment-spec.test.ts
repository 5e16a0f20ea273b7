/**
 * Experiment spec validation: every bad input is refused with a message naming the field; sweeps expand into one
 * arm per grid point; spec differences are located by field path (what a refused resume names).
 */
import { describe, expect, it } from 'vitest';
import { armNames, expandSweep, ExperimentSpecError, firstDifference, parseExperimentSpec, sweepControls } from '../../src/eval/experiment/index.js';

const base = () => ({
  name: 'spec-test',
  model: '/models/m',
  task: 'nll',
  dataset: { kind: 'udhr', split: 'heldout', languages: ['eng', 'swh'] },
  arms: [{ kind: 'baseline' }, { name: 'p', kind: 'plan', plan: { '2': [1] } }],
});

function fails(doc: unknown, field: string, text: RegExp): void {
  let err: unknown;
  try {
    parseExperimentSpec(doc, '/specs');
  } catch (e) {
    err = e;
  }
  expect(err, `expected a spec error at ${field}`).toBeInstanceOf(ExperimentSpecError);
  expect((err as ExperimentSpecError).field).toBe(field);
  expect((err as Error).message).toMatch(text);
}

describe('experiment spec', () => {
  it('parses a minimal spec with defaults and resolves relative paths against the spec folder', () => {
    const s = parseExperimentSpec({ ...base(), model: 'models/m', arms: [{ kind: 'baseline' }, { name: 'f', kind: 'plan', file: 'plan.json' }] }, '/specs');
    expect(s.model).toBe('/specs/models/m');
    expect(s.arms[1]).toEqual({ name: 'f', kind: 'plan', file: '/specs/plan.json' });
    expect(s.batchSize).toBe(8);
    expect(s.decoding).toEqual({ temperature: 0, topP: 1, topK: 0, seed: 0, maxNewTokens: 256, samples: 1 });
    expect(s.prompt.enableThinking).toBe(false);
  });

  it('refuses unknown task, dataset kind, fields, and names the field', () => {
    fails({ ...base(), task: 'summarise' }, 'task', /one of nll, choice, generate, translate/);
    fails({ ...base(), dataset: { kind: 'squad', languages: ['en'] } }, 'dataset.kind', /one of .*udhr/);
    fails({ ...base(), dataset: { kind: 'mgsm', languages: ['en'] } }, 'dataset.path', /needs a folder/);
    fails({ ...base(), dataset: { kind: 'udhr', languages: [] } }, 'dataset.languages', /must not be empty/);
    fails({ ...base(), dataset: { kind: 'udhr', languages: ['eng', 'eng'] } }, 'dataset.languages', /'eng' twice/);
    fails({ ...base(), temperature: 0.7 }, 'temperature', /unknown field/);
    fails({ ...base(), model: '' }, 'model', /non-empty string/);
  });

  it('refuses decoding settings that make no sense', () => {
    fails({ ...base(), task: 'generate', dataset: { kind: 'mgsm', path: 'm', languages: ['en'] }, decoding: { greedy: true, samples: 3 } }, 'decoding.samples', /need sampling/);
    fails({ ...base(), task: 'generate', dataset: { kind: 'mgsm', path: 'm', languages: ['en'] }, decoding: { temperature: 0.7, top_p: 1.5 } }, 'decoding.top_p', /<= 1/);
    fails({ ...base(), task: 'generate', dataset: { kind: 'mgsm', path: 'm', languages: ['en'] }, decoding: { temperature: 0.7, max_new_tokens: 0 } }, 'decoding.max_new_tokens', />= 1/);
    fails({ ...base(), decoding: { greedy: true } }, 'decoding', /generates nothing/);
    fails({ ...base(), task: 'generate', dataset: { kind: 'udhr', languages: ['eng'] } }, 'scoring.task', /needs a scorer/);
    const s = parseExperimentSpec({ ...base(), task: 'generate', dataset: { kind: 'polymath', path: 'p', languages: ['sw'] }, decoding: { temperature: 0.7, top_p: 0.8, top_k: 20, seed: 2025, max_new_tokens: 4096 } });
    expect(s.scoring.task).toBe('polymath');
    expect(s.decoding).toEqual({ temperature: 0.7, topP: 0.8, topK: 20, seed: 2025, maxNewTokens: 4096, samples: 1 });
  });

  it('refuses duplicate arm names, a missing or second baseline, dangling random controls', () => {
    fails({ ...base(), arms: [{ kind: 'baseline' }, { name: 'p', kind: 'plan', plan: {} }, { name: 'p', kind: 'plan', plan: {} }] }, 'arms[2]', /duplicate arm name 'p'/);
    fails({ ...base(), arms: [{ name: 'p', kind: 'plan', plan: {} }] }, 'arms', /exactly one baseline/);
    fails({ ...base(), arms: [{ kind: 'baseline' }, { kind: 'baseline', name: 'b2' }] }, 'arms', /found 2/);
    fails({ ...base(), arms: [{ kind: 'baseline' }, { name: 'r', kind: 'random', of: 'nope', seeds: [1] }] }, 'arms[1].of', /not an arm/);
    fails({ ...base(), arms: [{ kind: 'baseline' }, { name: 'r', kind: 'random', of: 'baseline', seeds: [1] }] }, 'arms[1].of', /baseline arm/);
    fails({ ...base(), arms: [{ kind: 'baseline' }, { name: 'r', kind: 'plan' }] }, 'arms[1]', /exactly one of "file"/);
    fails({ ...base(), arms: [{ kind: 'baseline' }, { name: 'bad name', kind: 'plan', plan: {} }] }, 'arms[1].name', /not a valid arm name/);
    // A random control's expanded name colliding with a listed arm is a duplicate too.
    fails({ ...base(), arms: [{ kind: 'baseline' }, { name: 'p', kind: 'plan', plan: {} }, { name: 'r', kind: 'random', of: 'p', seeds: [1] }, { name: 'r-s1', kind: 'plan', plan: {} }] }, 'arms[3]', /duplicate arm name 'r-s1'/);
  });

  it('validates recipes field by field', () => {
    const routing = { db: 'runs.db', run: 1 };
    fails({ ...base(), arms: [{ kind: 'baseline' }, { name: 's', kind: 'recipe', routing, recipe: { type: 'steer', targets: ['en'], k: 20, thr: 1.5, layers: '10-39', lambda: 0.02 } }] }, 'arms[1].recipe.thr', /<= 1/);
    fails({ ...base(), arms: [{ kind: 'baseline' }, { name: 's', kind: 'recipe', routing, recipe: { type: 'steer', targets: ['en'], k: 20, thr: 0.7, layers: '39-10', lambda: 0.02 } }] }, 'arms[1].recipe.layers', /empty/);
    fails({ ...base(), arms: [{ kind: 'baseline' }, { name: 's', kind: 'recipe', routing: { run: 1 }, recipe: { type: 'mask', shared: true, k: 15, thr: 0.4, layers: [0, 4] } }] }, 'arms[1].routing', /needs "db" and "run"/);
    fails({ ...base(), arms: [{ kind: 'baseline' }, { name: 'd', kind: 'recipe', routing, recipe: { type: 'delta', mode: 'hard', target: 'en', pivot: 'fr', tau: 0.3, layers: '8-35', eps: 0 } }] }, 'arms[1].recipe.eps', /> 0/);
    const s = parseExperimentSpec({ ...base(), arms: [{ kind: 'baseline' }, { name: 'm', kind: 'recipe', routing, recipe: { type: 'mask', targets: 'sw', k: 15, thr: 0.4, layers: '0-4' } }] }, '/specs');
    expect(s.arms[1]).toEqual({ name: 'm', kind: 'recipe', routing: { db: '/specs/runs.db', run: 1, scope: 'all' }, recipe: { type: 'mask', shared: false, targets: ['sw'], k: 15, thr: 0.4, layers: [0, 4] } });
  });

  it('expands sweeps into one arm per grid point and refuses an empty grid', () => {
    const sweep = { name: 'steer', routing: { folder: 'r' }, recipe: { type: 'steer', targets: ['en', 'zh'], k: 20, thr: 0.7, layers: '10-39', lambda: 0.022 }, grid: { lambda: [0.01, 0.02], layers: ['0-4', '22-26', '43-47'] } };
    const s = parseExperimentSpec({ ...base(), sweeps: [sweep] });
    const arms = expandSweep(s.sweeps[0]!);
    expect(arms.map((a) => a.name)).toEqual([
      'steer:lambda=0.01,layers=0-4', 'steer:lambda=0.01,layers=22-26', 'steer:lambda=0.01,layers=43-47',
      'steer:lambda=0.02,layers=0-4', 'steer:lambda=0.02,layers=22-26', 'steer:lambda=0.02,layers=43-47',
    ]);
    expect(arms[4]!.recipe).toMatchObject({ type: 'steer', lambda: 0.02, layers: [22, 26], targets: ['en', 'zh'], k: 20 });
    expect(armNames(s).map((a) => a.name)).toEqual(['baseline', 'p', ...arms.map((a) => a.name)]);
    fails({ ...base(), sweeps: [{ ...sweep, grid: {} }] }, 'sweeps[0].grid', /no axes/);
    fails({ ...base(), sweeps: [{ ...sweep, grid: { lambda: [] } }] }, 'sweeps[0].grid.lambda', /no points/);
  });

  it('expands a sweep over k and thr with seeded random controls per grid point, and validates the controls', () => {
    const sweep = { name: 'sw', routing: { folder: 'r' }, recipe: { type: 'steer', targets: ['en', 'zh'], k: 20, thr: 0.7, layers: '10-39', lambda: 0.022 }, grid: { k: [10, 20], thr: [0.5] }, controls: { seeds: [3, 1] } };
    const s = parseExperimentSpec({ ...base(), sweeps: [sweep] });
    expect(s.sweeps[0]!.controls).toEqual({ seeds: [3, 1] });
    const points = expandSweep(s.sweeps[0]!);
    expect(points.map((p) => p.name)).toEqual(['sw:k=10,thr=0.5', 'sw:k=20,thr=0.5']);
    expect(points[0]!.recipe).toMatchObject({ k: 10, thr: 0.5, lambda: 0.022 });
    // Every point, then every point's controls, seeds in the order given; each control names its point and seed.
    const controls = ['sw:k=10,thr=0.5:random-s3', 'sw:k=10,thr=0.5:random-s1', 'sw:k=20,thr=0.5:random-s3', 'sw:k=20,thr=0.5:random-s1'];
    expect(sweepControls(s.sweeps[0]!)).toEqual([
      { name: controls[0], of: 'sw:k=10,thr=0.5', seed: 3 }, { name: controls[1], of: 'sw:k=10,thr=0.5', seed: 1 },
      { name: controls[2], of: 'sw:k=20,thr=0.5', seed: 3 }, { name: controls[3], of: 'sw:k=20,thr=0.5', seed: 1 },
    ]);
    const entries = armNames(s);
    expect(entries.map((a) => a.name)).toEqual(['baseline', 'p', ...points.map((p) => p.name), ...controls]);
    expect(entries.at(-1)).toMatchObject({ seed: 1, spec: { kind: 'random', of: 'sw:k=20,thr=0.5', seeds: [1] } });
    // Without controls a sweep has none.
    expect(sweepControls(parseExperimentSpec({ ...base(), sweeps: [{ ...sweep, controls: undefined }] }).sweeps[0]!)).toEqual([]);
    fails({ ...base(), sweeps: [{ ...sweep, controls: { seeds: [] } }] }, 'sweeps[0].controls.seeds', /non-empty list/);
    fails({ ...base(), sweeps: [{ ...sweep, controls: { seeds: [1, 1] } }] }, 'sweeps[0].controls.seeds', /seed twice/);
    fails({ ...base(), sweeps: [{ ...sweep, controls: { seeds: [1, -2] } }] }, 'sweeps[0].controls.seeds[1]', />= 0/);
    fails({ ...base(), sweeps: [{ ...sweep, controls: { seeds: [1], per: 'size' } }] }, 'sweeps[0].controls.per', /unknown field/);
    fails({ ...base(), sweeps: [{ ...sweep, controls: [1] }] }, 'sweeps[0].controls', /must be an object/);
    fails({ ...base(), sweeps: [{ ...sweep, grid: { k: [0] } }] }, 'sweeps[0].grid.k[0]', />= 1/);
    fails({ ...base(), sweeps: [{ ...sweep, grid: { k: [2.5] } }] }, 'sweeps[0].grid.k[0]', /whole number/);
    fails({ ...base(), sweeps: [{ ...sweep, grid: { thr: [1.2] } }] }, 'sweeps[0].grid.thr[0]', /<= 1/);
    // A control's name colliding with a listed arm is a duplicate, named at the sweep's controls.
    fails({ ...base(), arms: [...base().arms, { name: 'sw:k=10,thr=0.5:random-s3', kind: 'plan', plan: {} }], sweeps: [sweep] }, 'sweeps[0].controls', /duplicate arm name 'sw:k=10,thr=0.5:random-s3'/);
  });

  it('locates the first differing field between two specs', () => {
    const a = parseExperimentSpec(base());
    const b = parseExperimentSpec({ ...base(), batch_size: 4 });
    expect(firstDifference(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(a)))).toBeNull();
    expect(firstDifference(a, b)).toBe('batchSize');
    const c = parseExperimentSpec({ ...base(), arms: [{ kind: 'baseline' }, { name: 'p', kind: 'plan', plan: { '2': [1, 3] } }] });
    expect(firstDifference(a, c)).toBe('arms[1].plan.2[1]');
  });

  it('a dev/test split needs a fraction strictly inside (0, 1)', () => {
    fails({ ...base(), dev_split: { fraction: 1 } }, 'dev_split.fraction', /below 1/);
    expect(parseExperimentSpec({ ...base(), dev_split: { fraction: 0.5, seed: 3 } }).devSplit).toEqual({ fraction: 0.5, seed: 3 });
  });
});
