/**
 * The analysis kept in the project database (db/009_derived_cache.sql): a new reader (a restarted server) reads it
 * back instead of recomputing, equal to a fresh computation; it is recomputed when the settings or the run's data
 * change, when its row is corrupt or of another format; and a project made by the previous schema gains it without
 * losing anything.
 */
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ANALYSIS_FORMAT, RunAnalysis } from '../../src/api/run-analysis.js';
import { importRoutingData, latestSchemaVersion, loadRunRouting, migrationsDir, Store } from '../../src/store/index.js';
import { randomRouting } from '../analysis/synthetic.js';
import { tempDir } from '../store/helpers.js';

const CODES = ['eng', 'deu', 'fra', 'spa', 'rus', 'swh', 'yor', 'cmn', 'hin', 'arb'];
let tmp: ReturnType<typeof tempDir>;
let db: string;
let runId: number;

const routing = () => randomRouting(CODES, { layers: 6, experts: 16, topK: 2, seed: 11, tokens: [200, 400], power: 3, floor: 1e-3, source: 'test' });

function sql<T>(f: (s: Store) => T): T {
  const s = Store.open(db);
  try {
    return f(s);
  } finally {
    s.close();
  }
}
const keptRows = () => sql((s) => s.db.prepare('SELECT key, stamp, format FROM run_derived WHERE run_id = ? ORDER BY key').all(runId) as { key: string; stamp: string; format: number }[]);
/** A reader with nothing kept: every row of the run forgotten first. */
function fresh(): RunAnalysis {
  sql((s) => s.db.prepare('DELETE FROM run_derived WHERE run_id = ?').run(runId));
  return new RunAnalysis(db);
}

beforeEach(() => {
  tmp = tempDir('routescope-kept-');
  db = join(tmp.dir, 'routescope.db');
  runId = sql((s) => importRoutingData(s, routing(), { name: 'synthetic', source: 'import' }));
});
afterEach(() => tmp.cleanup());

describe('kept analysis', () => {
  it('is read back by a new reader, deep-equal to a fresh computation, with the same views', async () => {
    const first = new RunAnalysis(db);
    const computed = await first.analysed(runId);
    expect([first.computations, first.keptReads]).toEqual([1, 0]);
    expect(keptRows().map((r) => r.key.split(':')[0])).toEqual(['analysis', 'routing']);

    const second = new RunAnalysis(db);
    const read = await second.analysed(runId);
    expect([second.computations, second.keptReads]).toEqual([0, 1]);
    expect(read.analysis).toEqual(computed.analysis);
    expect(read.data).toEqual(computed.data);
    expect(read.data.languages[0]!.counts).toBeInstanceOf(Float64Array);
    // The aggregates read as one blob equal the aggregate tables read row by row.
    expect(read.data).toEqual(loadRunRouting(db, runId, { scope: 'all' }));
    expect(await second.overview(runId)).toEqual(await first.overview(runId));
    for (const metric of ['cosine', 'jsd', 'njsd'] as const) expect(await second.layer(runId, 3, metric)).toEqual(await first.layer(runId, 3, metric));
    expect(await second.experts(runId, 2, undefined, undefined)).toEqual(await first.experts(runId, 2, undefined, undefined));
    expect(await second.expertMap(runId, 'deu', 'eng')).toEqual(await first.expertMap(runId, 'deu', 'eng'));
    // The layer request with the pivot the overview chose is the same kept analysis.
    const other = new RunAnalysis(db);
    await other.layer(runId, 0, 'cosine', read.pivot!);
    expect([other.computations, other.keptReads]).toEqual([0, 1]);
    // And a recomputation from scratch agrees with what was read back.
    expect((await fresh().analysed(runId)).analysis).toEqual(read.analysis);
  });

  it('is recomputed after the settings change, and the earlier settings stay kept', async () => {
    const view = new RunAnalysis(db);
    const before = await view.overview(runId);
    view.saveSettings({ projectId: 'p', runId, k: 3, measure: 'cosine' });
    const reader = new RunAnalysis(db);
    const after = await reader.overview(runId);
    expect([reader.computations, reader.keptReads]).toEqual([1, 0]);
    expect(after.specialisation.k).toBe(3);
    expect(after.clusterMetric).toBe('cosine, average linkage');
    expect((await reader.analysed(runId)).analysis).toEqual((await fresh().analysed(runId)).analysis);
    expect(after.layers.map((l) => l.shared)).not.toEqual(before.layers.map((l) => l.shared));
    // Back to the defaults: the first analysis is still kept.
    view.saveSettings({ projectId: 'p', runId, reset: true });
    const again = new RunAnalysis(db);
    expect(await again.overview(runId)).toEqual(before);
  });

  it('is recomputed when the run gains data (a resumed capture: more sequences, new totals)', async () => {
    const before = await new RunAnalysis(db).overview(runId);
    // What a resumed capture leaves: more sequences done, a later finish, more tokens and counts for a language.
    sql((s) =>
      s.write('resume', () => {
        s.db.prepare(`UPDATE capture_run SET sequences_done = sequences_done + 1, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+1 second') WHERE id = ?`).run(runId);
        s.db.prepare(`UPDATE run_layer_total SET tokens = tokens + 50 WHERE run_id = ? AND language = 'swh'`).run(runId);
        s.db.prepare(`UPDATE run_agg SET count = count + 100 WHERE run_id = ? AND language = 'swh' AND expert = 0`).run(runId);
      }),
    );
    const reader = new RunAnalysis(db);
    const after = await reader.overview(runId);
    expect([reader.computations, reader.keptReads]).toEqual([1, 0]);
    expect(after.languages.find((l) => l.code === 'swh')!.tokens).toBe(before.languages.find((l) => l.code === 'swh')!.tokens + 50);
    expect((await reader.analysed(runId)).data).toEqual(loadRunRouting(db, runId, { scope: 'all' }));
    expect((await reader.analysed(runId)).analysis).toEqual((await fresh().analysed(runId)).analysis);
    // Only rows for the new state remain.
    const stamps = new Set(keptRows().map((r) => r.stamp));
    expect(stamps.size).toBe(1);
  });

  it('is recomputed when only the aggregates and totals change (an import rewriting them)', async () => {
    await new RunAnalysis(db).overview(runId);
    sql((s) => s.db.prepare(`UPDATE run_layer_total SET tokens = tokens + 1 WHERE run_id = ? AND language = 'eng' AND layer = 0`).run(runId));
    const reader = new RunAnalysis(db);
    await reader.overview(runId);
    expect(reader.computations).toBe(1);
  });

  it('recomputes a corrupt row or a row of another format, with no error, and replaces it', async () => {
    const expected = (await new RunAnalysis(db).analysed(runId)).analysis;
    sql((s) => s.db.prepare(`UPDATE run_derived SET value = x'52535631ffffffff00' WHERE run_id = ? AND key LIKE 'analysis:%'`).run(runId));
    sql((s) => s.db.prepare(`UPDATE run_derived SET value = x'00' WHERE run_id = ? AND key LIKE 'routing:%'`).run(runId));
    const reader = new RunAnalysis(db);
    expect((await reader.analysed(runId)).analysis).toEqual(expected);
    expect([reader.computations, reader.keptReads]).toEqual([1, 0]);
    const next = new RunAnalysis(db);
    expect((await next.analysed(runId)).analysis).toEqual(expected);
    expect(next.keptReads).toBe(1);

    // A row an older layout wrote is not read, however well it decodes.
    sql((s) => s.db.prepare(`UPDATE run_derived SET format = ? WHERE run_id = ? AND key LIKE 'analysis:%'`).run(ANALYSIS_FORMAT - 1, runId));
    const older = new RunAnalysis(db);
    expect((await older.analysed(runId)).analysis).toEqual(expected);
    expect(older.computations).toBe(1);
    expect(keptRows().find((r) => r.key.startsWith('analysis:'))!.format).toBe(ANALYSIS_FORMAT);
  });

  it('goes with the run when it is deleted', async () => {
    await new RunAnalysis(db).overview(runId);
    expect(keptRows().length).toBe(2);
    sql((s) => s.write('delete', () => s.db.prepare('DELETE FROM capture_run WHERE id = ?').run(runId)));
    expect(keptRows().length).toBe(0);
  });
});

describe('a project made by the previous schema (version 8)', () => {
  it('is upgraded on first analysis with its runs intact, and then keeps the analysis', async () => {
    const old = join(tmp.dir, 'old-migrations');
    mkdirSync(old);
    for (const f of readdirSync(migrationsDir()).filter((f) => /^00[1-8]_.*\.sql$/.test(f))) copyFileSync(join(migrationsDir(), f), join(old, f));
    const file = join(tmp.dir, 'old.db');
    process.env.ROUTESCOPE_MIGRATIONS_DIR = old;
    let oldRun: number;
    try {
      const s = Store.open(file);
      expect(s.schemaVersion).toBe(8);
      oldRun = importRoutingData(s, routing(), { name: 'before the upgrade', source: 'import' });
      s.close();
    } finally {
      delete process.env.ROUTESCOPE_MIGRATIONS_DIR;
    }
    const before = loadRunRouting(db, runId);
    const view = new RunAnalysis(file);
    const o = await view.overview(oldRun);
    expect(view.computations).toBe(1);
    const s = Store.open(file, { readonly: true });
    expect(s.schemaVersion).toBe(latestSchemaVersion());
    expect((s.db.prepare('SELECT count(*) AS n FROM run_derived WHERE run_id = ?').get(oldRun) as { n: number }).n).toBe(2);
    s.close();
    // Nothing lost: the old run's aggregates read as before (the same synthetic data as the new-schema run).
    expect(loadRunRouting(file, oldRun).languages).toEqual(before.languages);
    const again = new RunAnalysis(file);
    expect(await again.overview(oldRun)).toEqual(o);
    expect(again.keptReads).toBe(1);
  });
});
