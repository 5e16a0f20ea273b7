import { resolve } from 'node:path';
import { parseCommandArgs, requireString } from '../args.js';
import type { Command } from '../commands.js';
import { CliError } from '../errors.js';
import { StoreError, listRuns, type RunRecord } from '../../store/index.js';
import { openForReading } from '../open-store.js';

const USAGE = `routescope runs --db FILE [--json]
Lists the capture runs (and imported routing) in a Routescope database.`;

function describe(r: RunRecord): string[] {
  const progress = r.sequencesTotal ? `${r.sequencesDone}/${r.sequencesTotal}` : String(r.sequencesDone);
  return [
    String(r.id), r.interrupted ? 'interrupted' : r.status, r.source, r.model ? `${r.model.architecture} ${r.model.path}` : '-', r.dataset ? r.dataset.kind : '-',
    r.languages.length > 6 ? `${r.languages.slice(0, 6).join(',')},+${r.languages.length - 6}` : r.languages.join(','),
    progress, String(r.tokensDone), `${r.numMoeLayers}x${r.numExperts} top-${r.topK}`, r.precision ?? '-', r.createdAt.slice(0, 19).replace('T', ' '),
  ];
}

/** What to do about a run that did not finish; null for finished, imported or live ones. */
function resumeHint(r: RunRecord, db: string): string | null {
  if (r.source !== 'capture' || r.status === 'completed') return null;
  const progress = `${r.sequencesDone} of ${r.sequencesTotal ?? '?'} sequences stored`;
  const resume = `continue with: routescope capture --resume ${r.id} --db ${resolve(db)}`;
  if (r.interrupted) return `run ${r.id} was interrupted: its capture process (pid ${r.worker!.pid} on ${r.worker!.host}) is gone; ${progress}; ${resume}`;
  if (r.status === 'running') {
    return r.worker?.state === 'unknown' ? `run ${r.id} is marked running by a process on ${r.worker.host}, which cannot be checked from this machine` : null;
  }
  return `run ${r.id} is ${r.status}: ${progress}; ${resume}`;
}

export const runsCommand: Command = {
  summary: 'list capture runs in a database',
  async run(args) {
    const { values: v } = parseCommandArgs('runs', args, { db: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
    if (v.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    const db = requireString(v.db, '--db');
    let runs: RunRecord[];
    const store = openForReading(db, 'runs');
    try {
      runs = listRuns(store);
    } catch (err) {
      if (err instanceof StoreError) throw new CliError(err.message);
      throw err;
    } finally {
      store.close();
    }
    if (v.json) {
      process.stdout.write(JSON.stringify(runs, null, 2) + '\n');
      return 0;
    }
    if (runs.length === 0) {
      process.stdout.write(`no runs in ${db}\n`);
      return 0;
    }
    const rows = [['id', 'status', 'source', 'model', 'dataset', 'languages', 'sequences', 'tokens', 'routing', 'precision', 'created'], ...runs.map(describe)];
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    for (const r of rows) process.stdout.write(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd() + '\n');
    for (const r of runs) {
      if (r.error) process.stdout.write(`run ${r.id} error: ${r.error}\n`);
      const hint = resumeHint(r, db);
      if (hint) process.stdout.write(`${hint}\n`);
    }
    return 0;
  },
};
