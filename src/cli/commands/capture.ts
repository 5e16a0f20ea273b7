import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { EngineBackend } from '../../capture/engine-backend.js';
import { CaptureError, findUnfinishedRun, resumeCapture, startCapture, type CaptureResult } from '../../capture/job.js';
import { DATASET_KINDS, DatasetError, reloadDataset, TEMPLATES, type Dataset, type DatasetKind } from '../../datasets/index.js';
import { progressBar } from '../progress-bar.js';
import { resolvePlan } from '../../engine/steering-plan.js';
import { getRun, Store, StoreError } from '../../store/index.js';
import { parseCommandArgs, parseLangs, parsePrecisionFlag, positiveInt, requireString } from '../args.js';
import { cancelOnSigint } from '../sigint.js';
import type { Command } from '../commands.js';
import { CliError } from '../errors.js';

const USAGE = `routescope capture --model DIR --dataset SPEC --langs a,b,c --db FILE [options]
routescope capture --resume RUN_ID --db FILE [--model DIR]

Captures per-token expert routing of a dataset into the SQLite store, batch by batch; every batch commits
atomically, so Ctrl-C (or a crash) loses at most the batch in flight and --resume continues the run.

  --dataset SPEC        udhr (embedded corpus), <kind>:<path> with kind one of
                        ${Object.keys(DATASET_KINDS).join(', ')}, or a .jsonl/.csv/.tsv file
  --langs a,b,c         language codes as the dataset names them (default: every language found)
  --split S             FLORES dev|devtest, PolyMath level, UDHR train|heldout|all
  --limit N             first N aligned items per language
  --template NAME       ${Object.keys(TEMPLATES).join('|')} (default: the dataset's; chat = the model's chat template, thinking off)
  --plan FILE           steering / masking plan applied while capturing (any format 'routescope forward' accepts)
  --batch N             prompts per batch (default 8)
  --max-batch-tokens N  split a batch into length-sorted forward passes of at most N padded tokens (default 4096)
  --logits              also store full router logits (large)
  --new                 start a new run even when an unfinished run has exactly these settings (by default that
                        run is continued, as --resume would)
  --name NAME  --project NAME  --seed N
  --ep auto|cpu|cuda    execution provider;  --threads N  intra-op threads
  --precision P         auto|fp32|fp16|int8|int4 weight precision (default auto; docs/precision.md)
Progress (bar, tokens/s, ETA) goes to stderr; the run id and outcome to stdout.`;

const options = {
  model: { type: 'string' },
  precision: { type: 'string' },
  dataset: { type: 'string' },
  langs: { type: 'string' },
  split: { type: 'string' },
  limit: { type: 'string' },
  template: { type: 'string' },
  plan: { type: 'string' },
  batch: { type: 'string' },
  'max-batch-tokens': { type: 'string' },
  logits: { type: 'boolean' },
  name: { type: 'string' },
  project: { type: 'string' },
  seed: { type: 'string' },
  ep: { type: 'string' },
  threads: { type: 'string' },
  db: { type: 'string' },
  resume: { type: 'string' },
  new: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `udhr`, `<kind>:<path>`, or a table file whose extension says its kind. Paths are made absolute for --resume. */
export function parseDatasetSpec(spec: string): { kind: DatasetKind; path: string | undefined } {
  const colon = spec.indexOf(':');
  const prefix = colon > 0 ? spec.slice(0, colon) : spec;
  if (prefix in DATASET_KINDS) {
    const kind = prefix as DatasetKind;
    const info = DATASET_KINDS[kind];
    const path = colon > 0 ? spec.slice(colon + 1) : undefined;
    if (info.path === 'none') {
      if (path) throw new CliError(`--dataset ${kind} takes no path (it is embedded)`);
      return { kind, path: undefined };
    }
    if (!path) throw new CliError(`--dataset ${kind} needs a ${info.path}: --dataset ${kind}:<${info.path}>`);
    return { kind, path: resolve(path) };
  }
  const ext = extname(spec).toLowerCase();
  if (existsSync(spec) && statSync(spec).isFile()) {
    if (ext === '.jsonl' || ext === '.ndjson') return { kind: 'jsonl', path: resolve(spec) };
    if (ext === '.csv' || ext === '.tsv') return { kind: 'csv', path: resolve(spec) };
  }
  if (!existsSync(spec)) throw new CliError(`--dataset ${spec}: not a dataset kind (${Object.keys(DATASET_KINDS).join(', ')}) and no such file or folder`);
  throw new CliError(`--dataset ${spec}: cannot tell the dataset kind from the path; write it as <kind>:${spec} (kinds: ${Object.keys(DATASET_KINDS).join(', ')})`);
}

async function loadDatasetFor(kind: DatasetKind, path: string | undefined, languages: string[] | undefined, split: string | undefined): Promise<Dataset> {
  try {
    return await DATASET_KINDS[kind].load(path, { languages, split });
  } catch (err) {
    if (err instanceof DatasetError) throw new CliError(`--dataset: ${err.message}`);
    throw err;
  }
}

function readPlan(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`--plan ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new CliError(`--plan ${file}: not valid JSON (${(err as Error).message})`);
  }
}

function engineOptions(v: { ep?: string; threads?: string; 'max-batch-tokens'?: string; precision?: string }) {
  const ep = v.ep ?? 'auto';
  if (ep !== 'auto' && ep !== 'cpu' && ep !== 'cuda') throw new CliError(`--ep must be auto, cpu or cuda, got '${ep}'`);
  return {
    executionProvider: ep,
    threads: positiveInt(v.threads, '--threads'),
    maxBatchTokens: positiveInt(v['max-batch-tokens'], '--max-batch-tokens') ?? 4096,
    precision: parsePrecisionFlag(v.precision),
  } as const;
}

function translate(err: unknown): never {
  if (err instanceof CaptureError || err instanceof StoreError || err instanceof DatasetError) throw new CliError(err.message, 1);
  throw err;
}

async function runWithBackend(
  modelDir: string,
  v: Parameters<typeof engineOptions>[0],
  go: (backend: EngineBackend, signal: AbortSignal, onProgress: Parameters<typeof startCapture>[0]['onProgress']) => Promise<CaptureResult>,
): Promise<CaptureResult> {
  if (!existsSync(modelDir)) throw new CliError(`--model ${modelDir}: no such folder`);
  const backend = await EngineBackend.load(modelDir, engineOptions(v));
  const bar = progressBar(process.stderr, 'capture');
  const sig = cancelOnSigint(() => {
    bar.done();
    process.stderr.write('cancelling: the batch in flight is discarded, committed batches are kept (Ctrl-C again to stop at once)\n');
  });
  try {
    const m = backend.model;
    process.stderr.write(`${m.architecture}, ${m.numMoeLayers} MoE layers x ${m.numExperts} experts, top-${m.topK}, on ${m.executionProvider}\n`);
    let announced = false;
    return await go(backend, sig.signal, (p) => {
      if (!announced) {
        // Printed once the first batch is durable, so a crash after this point always leaves a resumable run.
        process.stderr.write(`run ${p.runId}\n`);
        announced = true;
      }
      bar.update(p);
    });
  } catch (err) {
    translate(err);
  } finally {
    bar.done();
    sig.dispose();
    await backend.dispose();
  }
}

function report(res: CaptureResult, db: string): number {
  if (res.status === 'completed') {
    process.stdout.write(`run ${res.runId} completed: ${res.sequencesDone} sequences, ${res.tokensDone} tokens in ${db}\n`);
    return 0;
  }
  process.stdout.write(`run ${res.runId} cancelled after ${res.sequencesDone} sequences; continue with: routescope capture --resume ${res.runId} --db ${db}\n`);
  return 130;
}

async function resume(v: Record<string, string | boolean | undefined>, db: string): Promise<number> {
  const runId = positiveInt(v.resume as string, '--resume')!;
  for (const flag of ['dataset', 'langs', 'split', 'limit', 'template', 'plan', 'batch', 'logits', 'name', 'project', 'seed', 'new'] as const) {
    if (v[flag] !== undefined) throw new CliError(`--${flag} cannot be changed on --resume: the run keeps the settings it was started with`);
  }
  if (!existsSync(db)) throw new CliError(`--db ${db}: no such file`);
  const store = openStore(db);
  try {
    const run = (() => {
      try {
        return getRun(store, runId);
      } catch (err) {
        return translate(err);
      }
    })();
    if (run.status === 'completed') throw new CliError(`run ${runId} is already completed`, 1);
    if (!run.dataset || !run.model) throw new CliError(`run ${runId} was not captured by 'routescope capture' (no model/dataset recorded); it cannot be resumed`, 1);
    let dataset: Dataset;
    try {
      dataset = await reloadDataset(run.dataset);
    } catch (err) {
      if (err instanceof DatasetError) throw new CliError(`run ${runId}: ${err.message}`, 1);
      throw err;
    }
    const modelDir = (v.model as string | undefined) ?? run.model.path;
    const remaining = (run.sequencesTotal ?? 0) - run.sequencesDone;
    process.stderr.write(`resuming run ${runId}: ${run.sequencesDone} of ${run.sequencesTotal ?? '?'} sequences stored, ${remaining} to go\n`);
    const res = await runWithBackend(modelDir, v, (backend, signal, onProgress) => resumeCapture({ store, backend, dataset, runId, signal, onProgress }));
    return report(res, db);
  } finally {
    store.close();
  }
}

function openStore(db: string): Store {
  try {
    return Store.open(db);
  } catch (err) {
    return translate(err);
  }
}

export const captureCommand: Command = {
  summary: 'capture expert routing of a dataset into the store (resumable)',
  async run(args) {
    const { values: v, positionals } = parseCommandArgs('capture', args, options);
    if (v.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (positionals.length) throw new CliError(`capture takes no positional arguments (got ${positionals.join(' ')})\n${USAGE}`);
    const db = resolve(requireString(v.db, '--db'));
    if (v.resume !== undefined) return resume(v, db);
    const modelDir = resolve(requireString(v.model, '--model'));
    const spec = parseDatasetSpec(requireString(v.dataset, '--dataset'));
    const langs = parseLangs(v.langs);
    const limit = positiveInt(v.limit, '--limit');
    const batchSize = positiveInt(v.batch, '--batch') ?? 8;
    const seed = v.seed === undefined ? undefined : Number(v.seed);
    if (seed !== undefined && !Number.isSafeInteger(seed)) throw new CliError(`--seed must be a whole number, got '${v.seed}'`);
    if (v.template !== undefined && !(v.template in TEMPLATES)) throw new CliError(`--template must be one of ${Object.keys(TEMPLATES).join(', ')}, got '${v.template}'`);
    const plan = v.plan === undefined ? undefined : readPlan(v.plan);
    const dataset = await loadDatasetFor(spec.kind, spec.path, langs, v.split);
    if (dataset.ids.length === 0) throw new CliError(`--dataset ${v.dataset}: no items are present in every requested language`);
    const store = openStore(db);
    try {
      const res = await runWithBackend(modelDir, v, (backend, signal, onProgress) => {
        if (plan !== undefined) {
          try {
            for (const w of resolvePlan(plan, backend.engine.steeringModel, v.plan).warnings) process.stderr.write(`warning: ${w}\n`);
          } catch (err) {
            throw new CliError(`--plan: ${(err as Error).message}`);
          }
        }
        const settings = {
          store, backend, dataset, languages: langs, template: v.template, limit, batchSize, seed, plan, storeLogits: v.logits === true,
          projectName: v.project, name: v.name,
        };
        const previous = v.new ? null : findUnfinishedRun(settings);
        if (previous) {
          // The identical command again: continue the unfinished run rather than capture everything a second time.
          if (previous.status === 'running' && previous.worker?.state !== 'dead') {
            throw new CliError(`run ${previous.id} has the same settings and is ${previous.worker?.state === 'alive' ? `being captured right now (pid ${previous.worker.pid})` : `marked running by a process on ${previous.worker?.host ?? 'an unknown machine'}`}; wait for it, or pass --new to start a separate run`, 1);
          }
          process.stderr.write(`run ${previous.id} has the same settings and stopped (${previous.interrupted ? 'interrupted' : previous.status}); continuing it (pass --new to start a new run instead)\n`);
          process.stderr.write(`resuming run ${previous.id}: ${previous.sequencesDone} of ${previous.sequencesTotal ?? '?'} sequences stored, ${(previous.sequencesTotal ?? 0) - previous.sequencesDone} to go\n`);
          return resumeCapture({ store, backend, dataset, runId: previous.id, signal, onProgress });
        }
        return startCapture({ ...settings, signal, onProgress });
      });
      return report(res, db);
    } finally {
      store.close();
    }
  },
};
