import { resolve } from 'node:path';
import type { CaptureProgress } from '../../capture/job.js';
import {
  ArmError, ExperimentError, ExperimentSpecError, exportExperiment, readExperimentSpec, runExperiment, writeExperimentReport,
  type ExperimentProgress,
} from '../../eval/experiment/index.js';
import { getExperiment, listExperiments, Store, StoreError } from '../../store/index.js';
import { parseCommandArgs, parsePrecisionFlag, positiveInt, requireString } from '../args.js';
import type { Command } from '../commands.js';
import { CliError } from '../errors.js';
import { progressBar } from '../progress-bar.js';
import { cancelOnSigint } from '../sigint.js';

const USAGE = `routescope experiment run SPEC.json --db FILE [--resume] [--ep auto|cpu|cuda] [--threads N]
                          [--precision auto|fp32|fp16|int8|int4]
routescope experiment list --db FILE
routescope experiment report ID --db FILE --out DIR [--seed N] [--resamples N]
routescope experiment export ID --db FILE --out items.jsonl

Runs a steering experiment (baseline, plans, random controls, sweeps) over the same items, one stored result per
(arm, item, sample); see docs/experiments.md for the spec format. Every batch commits atomically: Ctrl-C or a crash
loses at most the batch in flight, and 'run SPEC --resume' continues the latest unfinished experiment of that name
(refused, naming the field, if the spec changed). report writes summary.md, by-language.csv and report.json
(paired statistics); export writes one JSON line per (arm, item, sample) with doc_id, as lm-evaluation-harness logs.`;

const options = {
  db: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'boolean' },
  ep: { type: 'string' },
  threads: { type: 'string' },
  precision: { type: 'string' },
  seed: { type: 'string' },
  resamples: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function translate(err: unknown): never {
  if (err instanceof ExperimentError || err instanceof ExperimentSpecError || err instanceof ArmError || err instanceof StoreError) throw new CliError(err.message, 1);
  throw err;
}

function openStore(db: string, readonly = false): Store {
  try {
    return Store.open(db, readonly ? { readonly: true } : {});
  } catch (err) {
    return translate(err);
  }
}

function idArg(positionals: string[], sub: string): number {
  if (positionals.length !== 1) throw new CliError(`experiment ${sub} takes one experiment id\n${USAGE}`);
  return positiveInt(positionals[0], 'ID')!;
}

/** The capture progress bar shows results as "seq". */
export function experimentBarProgress(p: ExperimentProgress): CaptureProgress {
  return {
    runId: p.experimentId, batchNo: p.unitsDone, batchesDone: p.unitsDone, batchesTotal: p.unitsTotal, sequencesDone: p.resultsDone,
    sequencesTotal: p.resultsTotal, tokensDone: 0, tokensPerSecond: p.tokensPerSecond, etaSeconds: p.etaSeconds, elapsedMs: p.elapsedMs,
  };
}

async function run(positionals: string[], v: Record<string, string | boolean | undefined>): Promise<number> {
  if (positionals.length !== 1) throw new CliError(`experiment run takes one spec file\n${USAGE}`);
  const db = resolve(requireString(v.db, '--db'));
  let spec;
  try {
    spec = readExperimentSpec(positionals[0]!);
  } catch (err) {
    translate(err);
  }
  const ep = (v.ep as string | undefined) ?? 'auto';
  if (ep !== 'auto' && ep !== 'cpu' && ep !== 'cuda') throw new CliError(`--ep must be auto, cpu or cuda, got '${ep}'`);
  const threads = positiveInt(v.threads as string | undefined, '--threads');
  const precision = parsePrecisionFlag(v.precision as string | undefined);
  const store = openStore(db);
  const bar = progressBar(process.stderr, 'experiment');
  const sig = cancelOnSigint(() => {
    bar.done();
    process.stderr.write('cancelling: the batch in flight is discarded, stored results are kept (Ctrl-C again to stop at once)\n');
  });
  try {
    let resumeId: number | undefined;
    const same = listExperiments(store).filter((e) => e.name === spec.name);
    if (v.resume) {
      const open = same.filter((e) => e.status !== 'completed').at(-1);
      if (!open) throw new CliError(`no unfinished experiment named '${spec.name}' in ${db} to resume${same.length ? ` (experiment ${same.at(-1)!.id} is completed)` : ''}`, 1);
      resumeId = open.id;
      process.stderr.write(`resuming experiment ${open.id}: ${open.unitsDone} of ${open.unitsTotal} units stored\n`);
    } else {
      const open = same.filter((e) => e.status !== 'completed').at(-1);
      if (open) process.stderr.write(`note: experiment ${open.id} with this name is unfinished; --resume continues it. Starting a new one.\n`);
    }
    let announced = false;
    let last: ExperimentProgress | undefined;
    const res = await runExperiment({
      store, spec, resumeId, engineOptions: { executionProvider: ep, threads, precision }, signal: sig.signal,
      log: (line) => process.stderr.write(line + '\n'),
      onProgress: (p) => {
        if (!announced) {
          process.stderr.write(`experiment ${p.experimentId}\n`);
          announced = true;
        }
        bar.update(experimentBarProgress(p));
        last = p;
      },
    }).catch(translate);
    bar.done();
    if (last) process.stderr.write(`per arm: ${Object.entries(last.perArm).map(([a, x]) => `${a} ${x.itemsDone}/${x.itemsTotal}`).join(', ')}\n`);
    if (res.status === 'completed') {
      process.stdout.write(`experiment ${res.experimentId} completed: ${res.resultsDone} results in ${db}\n`);
      process.stdout.write(`report: routescope experiment report ${res.experimentId} --db ${db} --out <dir>\n`);
      return 0;
    }
    process.stdout.write(`experiment ${res.experimentId} cancelled after ${res.resultsDone} of ${res.resultsTotal} results; continue with: routescope experiment run ${positionals[0]} --db ${db} --resume\n`);
    return 130;
  } finally {
    bar.done();
    sig.dispose();
    store.close();
  }
}

function list(v: Record<string, string | boolean | undefined>): number {
  const db = resolve(requireString(v.db, '--db'));
  const store = openStore(db, true);
  try {
    const rows = listExperiments(store);
    if (rows.length === 0) {
      process.stdout.write(`no experiments in ${db}\n`);
      return 0;
    }
    process.stdout.write('id  name                      task       status     units        precision created\n');
    for (const e of rows) {
      process.stdout.write(`${String(e.id).padEnd(3)} ${e.name.padEnd(25)} ${e.task.padEnd(10)} ${e.status.padEnd(10)} ${`${e.unitsDone}/${e.unitsTotal}`.padEnd(12)} ${(e.precision ?? '-').padEnd(9)} ${e.createdAt}\n`);
    }
    return 0;
  } finally {
    store.close();
  }
}

function report(positionals: string[], v: Record<string, string | boolean | undefined>): number {
  const id = idArg(positionals, 'report');
  const db = resolve(requireString(v.db, '--db'));
  const out = resolve(requireString(v.out, '--out'));
  const seed = v.seed === undefined ? undefined : positiveInt(v.seed as string, '--seed');
  const resamples = positiveInt(v.resamples as string | undefined, '--resamples');
  const store = openStore(db, true);
  try {
    try {
      getExperiment(store, id);
    } catch (err) {
      translate(err);
    }
    const { report: r, files } = writeExperimentReport(store, id, out, { seed, resamples });
    process.stderr.write(`experiment ${id} ran at precision ${r.experiment.precision ?? 'not recorded'}\n`);
    for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
    process.stdout.write(files.join('\n') + '\n');
    return 0;
  } finally {
    store.close();
  }
}

async function exportCmd(positionals: string[], v: Record<string, string | boolean | undefined>): Promise<number> {
  const id = idArg(positionals, 'export');
  const db = resolve(requireString(v.db, '--db'));
  const out = resolve(requireString(v.out, '--out'));
  const store = openStore(db, true);
  try {
    const n = await exportExperiment(store, id, out).catch(translate);
    process.stdout.write(`${n} lines written to ${out}\n`);
    return 0;
  } finally {
    store.close();
  }
}

export const experimentCommand: Command = {
  summary: 'steering experiments: run (resumable), list, report (paired statistics), export',
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === undefined || sub === '--help' || sub === '-h') {
      process.stdout.write(USAGE + '\n');
      return sub === undefined ? 2 : 0;
    }
    const { values: v, positionals } = parseCommandArgs(`experiment ${sub}`, rest, options);
    if (v.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (sub === 'run') return run(positionals, v);
    if (sub === 'list') return list(v);
    if (sub === 'report') return report(positionals, v);
    if (sub === 'export') return exportCmd(positionals, v);
    throw new CliError(`unknown experiment command '${sub}' (run, list, report, export)\n${USAGE}`);
  },
};
