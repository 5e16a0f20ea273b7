/**
 * Experiments record the weight precision they ran at (db/008_experiment_precision.sql): stored with the
 * experiment, in report.json and summary.md, in `routescope experiment list` and `report`; a resume at another
 * precision is refused (one experiment, one precision), as a capture resume is. Real engine (tiny Qwen3-MoE at
 * fp16 and at fp32) and a real SQLite file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEngine, type Engine } from '../../src/engine/index.js';
import { parseExperimentSpec, runExperiment, writeExperimentReport, type ExperimentSpec } from '../../src/eval/experiment/index.js';
import { getExperiment, listExperiments, Store } from '../../src/store/index.js';
import { tempDir } from '../store/helpers.js';
import { cliInProcess } from '../support/cli.js';
import { writeToyCorpus } from '../support/toy-corpus.js';
import { writeTinyModel, type TinyModelInfo } from '../support/tiny-models.js';

const LANGS = ['en', 'fr'];
let tmp: ReturnType<typeof tempDir>;
let model: TinyModelInfo;
let fp16: Engine;
let fp32: Engine;
let dataFile: string;

const spec = (): ExperimentSpec =>
  parseExperimentSpec({
    name: 'precision-test', model: model.dir, task: 'nll', dataset: { kind: 'jsonl', path: dataFile, languages: LANGS }, batch_size: 2,
    arms: [{ kind: 'baseline' }, { name: 'mask', kind: 'plan', plan: { [String(model.moeLayers[1])]: [0, 1] } }],
  });

beforeAll(async () => {
  tmp = tempDir('routescope-exp-precision-');
  model = writeTinyModel(join(tmp.dir, 'model'), 'qwen3_moe', { seed: 11 });
  dataFile = join(tmp.dir, 'data.jsonl');
  writeToyCorpus(dataFile, LANGS, 4, 5);
  const cacheDir = join(tmp.dir, 'cache');
  fp16 = await loadEngine(model.dir, { executionProvider: 'cpu', precision: 'fp16', cacheDir });
  fp32 = await loadEngine(model.dir, { executionProvider: 'cpu', precision: 'fp32', cacheDir });
});
afterAll(async () => {
  await fp16?.dispose();
  await fp32?.dispose();
  tmp?.cleanup();
});

describe('experiment precision', () => {
  it('is stored with the experiment and shown by report and list; a resume at another precision is refused', async () => {
    const db = join(tmp.dir, 'exp.db');
    const store = Store.open(db);
    let id: number;
    try {
      const ac = new AbortController();
      const first = await runExperiment({ store, spec: spec(), engine: fp16, signal: ac.signal, onProgress: (p) => p.unitsDone >= 1 && ac.abort() });
      id = first.experimentId;
      expect(first.status).toBe('cancelled');
      expect(getExperiment(store, id).precision).toBe('fp16');
      await expect(runExperiment({ store, spec: spec(), engine: fp32, resumeId: id })).rejects.toThrow(
        new RegExp(`experiment ${id} ran at precision fp16; resuming it at fp32 would mix precisions.*--precision fp16`),
      );
      expect(getExperiment(store, id).status).toBe('cancelled');
      const done = await runExperiment({ store, spec: spec(), engine: fp16, resumeId: id });
      expect(done.status).toBe('completed');
      const other = await runExperiment({ store, spec: spec(), engine: fp32 });
      expect(listExperiments(store).map((e) => e.precision)).toEqual(['fp16', 'fp32']);
      const out = join(tmp.dir, 'report');
      const { report } = writeExperimentReport(store, other.experimentId, out);
      expect(report.experiment.precision).toBe('fp32');
      expect((JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { experiment: { precision: string } }).experiment.precision).toBe('fp32');
      expect(readFileSync(join(out, 'summary.md'), 'utf8')).toMatch(/Weights at precision fp32 for every arm/);
    } finally {
      store.close();
    }
    const list = await cliInProcess(['experiment', 'list', '--db', db]);
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/\bprecision\b/);
    expect(lines[1]).toMatch(new RegExp(`^${id}\\s+precision-test .* fp16\\s`));
    expect(lines[2]).toMatch(/ fp32\s/);
    const rep = await cliInProcess(['experiment', 'report', String(id), '--db', db, '--out', join(tmp.dir, 'report2')]);
    expect(rep.code).toBe(0);
    expect(rep.stderr).toMatch(new RegExp(`experiment ${id} ran at precision fp16`));
  });

  it('reads an experiment stored before the column existed as not recorded', () => {
    const store = Store.open(join(tmp.dir, 'exp.db'));
    try {
      store.db.prepare('UPDATE experiment SET precision = NULL WHERE id = 1').run();
      expect(getExperiment(store, 1).precision).toBeNull();
      const { report } = writeExperimentReport(store, 1, join(tmp.dir, 'report3'));
      expect(report.experiment.precision).toBeNull();
      expect(readFileSync(join(tmp.dir, 'report3', 'summary.md'), 'utf8')).toMatch(/Weight precision not recorded/);
    } finally {
      store.close();
    }
  });
});
