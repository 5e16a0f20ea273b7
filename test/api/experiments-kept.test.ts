/**
 * "Cancel and delete" of a running experiment (experiments.delete with cancel), and an experiment's report kept in the project database (experiment_derived): a new service (a restarted server) reads
 * it back instead of bootstrapping again, equal to what `routescope experiment report` writes to report.json and
 * summary.md; a new result, a status change or a rename makes it be recomputed, and so does a corrupt row.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { ApiError } from '../../src/api/errors.js';
import { EventHub } from '../../src/api/events.js';
import { ExperimentService, READING_FORMAT } from '../../src/api/experiments-service.js';
import { JobRegistry } from '../../src/api/jobs.js';
import { Workspace } from '../../src/api/workspace.js';
import { parseExperimentSpec, writeExperimentReport } from '../../src/eval/experiment/index.js';
import {
  claimExperiment, createExperiment, listExperiments, processIdentity, renameExperiment, setExperimentStatus, writeResults, type ExperimentResult, type Store,
} from '../../src/store/index.js';
import { tempDir } from '../store/helpers.js';

let tmp: ReturnType<typeof tempDir>;
let workspace: Workspace;
let projectId: string;
let expId: number;

const LANGS = ['eng', 'swh'];
const ITEMS = 12;

/** One stored unit per arm and language: deterministic NLL-like scores, the plan arm a little lower on Swahili. */
function unit(store: Store, arm: string, language: string, shift: number, from = 0): void {
  const rows: ExperimentResult[] = Array.from({ length: ITEMS }, (_, j) => from + j).map((i) => ({
    arm, language, itemId: `${language}-${i}`, itemIndex: i, sample: 0, seed: null, prompt: `p${i}`, output: null, extracted: null,
    score: 2 + Math.sin(i * 1.7 + language.length) + (arm === 'baseline' ? 0 : shift * ((i % 3) - 0.5)), correct: null, noAnswer: null,
    detectedLang: null, consistent: null, loglik: null, numTokens: 10 + i, finishReason: null, routing: null, extra: null,
  }));
  writeResults(store, expId, rows);
}

const service = (jobs = new JobRegistry(new EventHub(), workspace)) => new ExperimentService(workspace, jobs);

beforeEach(() => {
  tmp = tempDir('routescope-exp-kept-');
  workspace = new Workspace(join(tmp.dir, 'data'));
  projectId = workspace.create('Kept reports', 'blank');
  const spec = parseExperimentSpec({
    name: 'kept', model: join(tmp.dir, 'model'), task: 'nll', dataset: { kind: 'jsonl', path: join(tmp.dir, 'data.jsonl'), languages: LANGS },
    arms: [{ kind: 'baseline' }, { name: 'mask', kind: 'plan', plan: { '1': [0, 1] } }],
  });
  workspace.with(projectId, (store) => {
    expId = createExperiment(store, {
      name: 'kept', task: 'nll', spec, specHash: 'h', modelPath: join(tmp.dir, 'model'), modelFingerprint: 'm', datasetFingerprint: 'd', unitsTotal: 4,
      arms: [
        { index: 0, name: 'baseline', kind: 'baseline', source: 'baseline', plan: null, planHash: null, experts: [] },
        { index: 1, name: 'mask', kind: 'plan', source: 'inline', plan: { '1': [0, 1] }, planHash: 'p', experts: [[], [0, 1]] },
      ],
    });
    for (const arm of ['baseline', 'mask']) for (const lang of LANGS) unit(store, arm, lang, lang === 'swh' ? 0.4 : 0.05);
    setExperimentStatus(store, expId, 'completed');
  });
});
afterEach(() => tmp.cleanup());

describe('kept experiment reports', () => {
  it('are read back by a new service, equal to the CLI report\'s report.json and summary.md', () => {
    const first = service();
    const view = first.get(projectId, expId);
    expect([first.computations, first.keptReads]).toEqual([1, 0]);
    const second = service();
    expect(second.get(projectId, expId)).toEqual(view);
    expect([second.computations, second.keptReads]).toEqual([0, 1]);

    // The CLI's files for the same experiment (its default seed and resamples, as the service uses).
    const out = join(tmp.dir, 'report');
    workspace.with(projectId, (store) => writeExperimentReport(store, expId, out));
    const cli = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as {
      arms: { arm: string; mean: number | null }[]; comparisons: { arm: string; language: string; delta: number; ci: [number, number]; p: number; p_holm: number }[]; warnings: string[];
    };
    expect(view.verdict).toBe(readFileSync(join(out, 'summary.md'), 'utf8'));
    expect(view.arms.map((a) => [a.arm, a.mean])).toEqual(cli.arms.map((a) => [a.arm, a.mean]));
    expect(view.effects.map((e) => [e.arm, e.language, e.delta, e.ci, e.p, e.pHolm])).toEqual(cli.comparisons.map((c) => [c.arm, c.language, c.delta, c.ci, c.p, c.p_holm]));
    expect(view.warnings).toEqual(cli.warnings);
    expect(view.effects.length).toBeGreaterThan(0);
  });

  it('are recomputed after a new result, a status change or a rename, and when the row is corrupt or of another format', () => {
    const base = service().get(projectId, expId);
    const expectFresh = (what: string) => {
      const s = service();
      const v = s.get(projectId, expId);
      expect([s.computations, s.keptReads], what).toEqual([1, 0]);
      const again = service();
      expect(again.get(projectId, expId), what).toEqual(v);
      expect(again.keptReads, what).toBe(1);
      return v;
    };
    workspace.with(projectId, (store) => {
      setExperimentStatus(store, expId, 'running');
      unit(store, 'baseline', 'eng', 0, ITEMS);
      unit(store, 'mask', 'eng', 2, ITEMS);
      setExperimentStatus(store, expId, 'completed');
    });
    const more = expectFresh('a new result');
    expect(more.items.length).toBeGreaterThan(base.items.length);
    expect(more.effects.find((e) => e.arm === 'mask' && e.language === 'eng')!.n).toBe(2 * ITEMS);

    workspace.with(projectId, (store) => renameExperiment(store, expId, 'renamed'));
    expect(expectFresh('a rename').summary.name).toBe('renamed');

    workspace.with(projectId, (store) => store.db.prepare(`UPDATE experiment_derived SET value = x'5253563100' WHERE experiment_id = ?`).run(expId));
    const afterCorrupt = expectFresh('a corrupt row');
    workspace.with(projectId, (store) => store.db.prepare('UPDATE experiment_derived SET format = ? WHERE experiment_id = ?').run(READING_FORMAT + 1, expId));
    expect(expectFresh('another format')).toEqual(afterCorrupt);
  });

  it('are not written while the experiment runs, and go with it when it is deleted', () => {
    const rows = () => workspace.with(projectId, (store) => (store.db.prepare('SELECT count(*) AS n FROM experiment_derived WHERE experiment_id = ?').get(expId) as { n: number }).n);
    workspace.with(projectId, (store) => setExperimentStatus(store, expId, 'cancelled'));
    service().get(projectId, expId);
    expect(rows()).toBe(1);
    workspace.with(projectId, (store) => setExperimentStatus(store, expId, 'running'));
    const s = service();
    s.get(projectId, expId);
    s.get(projectId, expId);
    expect(s.computations).toBe(1);
    workspace.with(projectId, (store) => setExperimentStatus(store, expId, 'cancelled'));
    service().delete(projectId, expId);
    expect(rows()).toBe(0);
  });
});

describe('cancel and delete', () => {
  /**
   * A job of this process running the experiment as the runner does: it claims it, and when cancelled it still
   * finishes the unit in flight (a last result unit written after the abort) before it stops.
   */
  function runningJob(jobs: JobRegistry) {
    const log: string[] = [];
    const job = jobs.start({ kind: 'experiment', projectId, params: {} }, async (ctx) => {
      const store = workspace.open(projectId);
      try {
        claimExperiment(store, expId);
        ctx.setExperiment(expId);
        await new Promise<void>((res) => ctx.signal.addEventListener('abort', () => res()));
        await new Promise((res) => setTimeout(res, 150));
        unit(store, 'baseline', 'eng', 0, ITEMS);
        log.push('last unit written');
        setExperimentStatus(store, expId, 'cancelled');
        return { status: 'cancelled', runId: null };
      } finally {
        store.close();
      }
    });
    return { job, log };
  }
  const resultRows = () => workspace.with(projectId, (store) => (store.db.prepare('SELECT count(*) AS n FROM experiment_result WHERE experiment_id = ?').get(expId) as { n: number }).n);
  const refusal = async (f: () => unknown) => {
    try {
      await f();
    } catch (err) {
      return err as ApiError;
    }
    throw new Error('expected a refusal');
  };

  it('refuses a plain delete of a running experiment, and with cancel stops its job first, then deletes everything', async () => {
    const jobs = new JobRegistry(new EventHub(), workspace);
    const svc = service(jobs);
    const { job, log } = runningJob(jobs);
    await new Promise((res) => setTimeout(res, 50));
    expect(svc.list(projectId)[0]).toMatchObject({ id: expId, status: 'running' });
    const plain = await refusal(() => svc.delete(projectId, expId));
    expect(plain).toMatchObject({ code: 'conflict' });
    expect(plain.message).toBe(`experiment ${expId} is running; cancel it first (or use Cancel and delete), then delete it`);

    await svc.cancelAndDelete(projectId, expId);
    // The job stopped (its last unit written) before the delete: nothing of the experiment is left behind.
    expect(log).toEqual(['last unit written']);
    expect(jobs.get(job.id).status).toBe('cancelled');
    expect(workspace.with(projectId, (store) => listExperiments(store))).toEqual([]);
    expect(resultRows()).toBe(0);
  });

  it('deletes a finished experiment with cancel as without, and refuses one another process runs', async () => {
    const jobs = new JobRegistry(new EventHub(), workspace);
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    onTestFinished(() => void other.kill());
    workspace.with(projectId, (store) =>
      store.db.prepare(`UPDATE experiment SET status = 'running', worker_host = ?, worker_pid = ?, worker_started = ? WHERE id = ?`).run(hostname(), other.pid, processIdentity(other.pid!), expId),
    );
    const elsewhere = await refusal(() => service(jobs).cancelAndDelete(projectId, expId));
    expect(elsewhere).toMatchObject({ code: 'conflict' });
    expect(elsewhere.message).toBe(`experiment ${expId} is running in another window or process; cancel it there, then delete it`);
    expect(resultRows()).toBeGreaterThan(0);
    workspace.with(projectId, (store) => setExperimentStatus(store, expId, 'completed'));
    await service(jobs).cancelAndDelete(projectId, expId);
    expect(resultRows()).toBe(0);
  });
});
