import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cliInProcess } from '../support/cli.js';
import { Store, createRun, writeBatch } from '../../src/store/index.js';
import { synthSequence, tempDir } from './helpers.js';

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir('routescope-cli-');
});
afterEach(() => tmp.cleanup());

const cli = (...argv: string[]) => cliInProcess(argv);

const FIXTURES = resolve(__dirname, '../../../shared/fixtures/qwen3-30b-a3b-mgsm-routing');
const ROOT = resolve(__dirname, '../..');
const BIN = join(ROOT, 'bin/routescope.mjs');

describe('runs / export / import commands', () => {
  it('lists, exports and re-imports a captured run', async () => {
    const db = join(tmp.dir, 'a.db');
    const s = Store.open(db);
    const runId = createRun(s, { languages: ['en'], promptTemplate: 'raw', numMoeLayers: 2, numExperts: 8, topK: 2, name: 'toy' });
    writeBatch(s, runId, 0, [synthSequence({ language: 'en', itemId: 'a', itemIndex: 0, tokens: 5, layers: 2, experts: 8, topK: 2, seed: 3 })]);
    s.close();
    const runs = await cli('runs', '--db', db);
    expect(runs.code).toBe(0);
    expect(runs.stdout).toMatch(/^id\s+status/);
    expect(runs.stdout).toMatch(/1\s+pending\s+capture/);
    const json = JSON.parse((await cli('runs', '--db', db, '--json')).stdout);
    expect(json[0].tokensDone).toBe(5);
    const file = join(tmp.dir, 'run.jsonl');
    expect((await cli('export', '--db', db, '--run', '1', '--out', file)).stdout).toContain('1 sequences');
    const imp = await cli('import', '--db', join(tmp.dir, 'b.db'), '--file', file);
    expect(imp.stdout).toContain('imported as run 1');
    expect(readFileSync(file, 'utf8').split('\n')[0]).toContain('"format":"routescope-run"');
  });

  it('analyze warns that a run is incomplete and names the languages with no or partial data', async () => {
    const db = join(tmp.dir, 'part.db');
    const s = Store.open(db);
    const runId = createRun(s, { languages: ['en', 'fr', 'de', 'sw'], promptTemplate: 'raw', numMoeLayers: 3, numExperts: 8, topK: 2, sequencesTotal: 12, status: 'running' });
    const seq = (language: string, i: number) => synthSequence({ language, itemId: `q${i}`, itemIndex: i, tokens: 6, layers: 3, experts: 8, topK: 2, seed: i + language.length });
    writeBatch(s, runId, 0, [0, 1, 2].map((i) => seq('en', i)));
    writeBatch(s, runId, 1, [0].map((i) => seq('fr', i)));
    s.close();
    const res = await cli('analyze', '--db', db, '--run', String(runId), '--out', join(tmp.dir, 'rep'), '--k', '2');
    expect(res.stderr).not.toMatch(/routescope analyze: (?!warning)/);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/warning: run 1 is incomplete \(running\): 4 of 12 sequences/);
    expect(res.stderr).toMatch(/no data for 2 of 4 languages: de, sw/);
    expect(res.stderr).toMatch(/partly captured: fr \(1 of 3\)/);
    expect(readFileSync(join(tmp.dir, 'rep', 'summary.md'), 'utf8')).toMatch(/incomplete/);
  });

  it('runs and analyze warn about damaged pages that their own queries do not touch', async () => {
    const db = join(tmp.dir, 'damaged.db');
    const s = Store.open(db);
    const runId = createRun(s, { languages: ['en', 'fr'], promptTemplate: 'raw', numMoeLayers: 3, numExperts: 8, topK: 2, sequencesTotal: 80, status: 'completed' });
    for (let b = 0; b < 40; b++) {
      writeBatch(s, runId, b, ['en', 'fr'].map((language, i) => synthSequence({ language, itemId: `q${b}`, itemIndex: b, tokens: 40, layers: 3, experts: 8, topK: 2, seed: b * 2 + i + 1 })));
    }
    s.close();
    // Damage the last pages: trace rows written last, which neither 'runs' nor 'analyze' reads.
    const size = statSync(db).size;
    const fd = openSync(db, 'r+');
    for (let off = size - 3 * 4096; off < size; off += 4096) writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, off);
    closeSync(fd);
    const runs = await cli('runs', '--db', db);
    expect(runs.code).toBe(0);
    expect(runs.stderr).toMatch(/^routescope runs: warning: .*damaged\.db is damaged/);
    const an = await cli('analyze', '--db', db, '--run', '1', '--out', join(tmp.dir, 'rep'), '--k', '2');
    expect(an.stderr).toMatch(/^routescope analyze: warning: .*damaged\.db is damaged/);
  });

  it('reads a database in a read-only folder (runs, analyze)', async () => {
    const dir = join(tmp.dir, 'ro');
    mkdirSync(dir);
    const db = join(dir, 'r.db');
    const s = Store.open(db);
    const runId = createRun(s, { languages: ['en', 'fr'], promptTemplate: 'raw', numMoeLayers: 3, numExperts: 8, topK: 2, sequencesTotal: 2, status: 'completed' });
    writeBatch(s, runId, 0, ['en', 'fr'].map((language, i) => synthSequence({ language, itemId: 'q', itemIndex: 0, tokens: 9, layers: 3, experts: 8, topK: 2, seed: i + 1 })));
    s.close();
    chmodSync(db, 0o444);
    chmodSync(dir, 0o555);
    chmodSync(tmp.dir, 0o755);
    // root ignores permissions, so the commands run as 'nobody' there; elsewhere as the test's own user.
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', ...asUser });
    const runs = run('runs', '--db', db);
    expect(runs.stderr).toBe('');
    expect(runs.status).toBe(0);
    expect(runs.stdout).toMatch(/1\s+completed/);
    const out = join(tmpdir(), `routescope-ro-report-${process.pid}`);
    const an = run('analyze', '--db', db, '--run', '1', '--out', out, '--k', '2');
    rmSync(out, { recursive: true, force: true });
    expect(an.stderr).not.toMatch(/read-only|error/i);
    expect(an.status).toBe(0);
    // A file another tool left in WAL mode cannot be read there (SQLite must create its -shm index): say so.
    chmodSync(dir, 0o755);
    const wal = join(dir, 'wal.db');
    const w = Store.open(wal);
    createRun(w, { languages: ['en'], promptTemplate: 'raw', numMoeLayers: 1, numExperts: 4, topK: 1 });
    w.db.close(); // closed without Store.close(): stays in WAL mode, as an older Routescope left files
    chmodSync(wal, 0o444);
    chmodSync(dir, 0o555);
    const walRuns = run('runs', '--db', wal);
    expect(walRuns.status).toBe(2);
    expect(walRuns.stderr).toMatch(/WAL journal mode .* folder .* is not writable/);
    chmodSync(dir, 0o755);
  });

  it('fails clearly on bad arguments and bad databases', async () => {
    expect((await cli('runs')).stderr).toContain('missing required option --db');
    const missing = await cli('runs', '--db', join(tmp.dir, 'none.db'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/none\.db does not exist/);
    writeFileSync(join(tmp.dir, 'junk.db'), 'not a database at all'.repeat(100));
    expect((await cli('runs', '--db', join(tmp.dir, 'junk.db'))).stderr).toMatch(/not an SQLite database/);
    expect((await cli('export', '--db', join(tmp.dir, 'x.db'), '--run', 'abc', '--out', 'f')).stderr).toMatch(/--run must be a run id/);
    expect((await cli('import', '--db', join(tmp.dir, 'x.db'))).stderr).toMatch(/exactly one of --recorder DIR or --file/);
    expect((await cli('import', '--db', join(tmp.dir, 'x.db'), '--recorder', tmp.dir, '--pattern', 'nolang.json')).stderr).toMatch(/must contain \{lang\}/);
  });

  it.skipIf(!existsSync(join(FIXTURES, 'mgsm_en.json')))('imports the real MGSM recorder files and exports them unchanged (needs ../shared/fixtures)', async () => {
    const db = join(tmp.dir, 'r.db');
    const imp = await cli('import', '--db', db, '--recorder', FIXTURES, '--pattern', 'mgsm_{lang}.json', '--langs', 'en,ja');
    expect(imp.stdout).toContain('imported as run 1');
    const out = join(tmp.dir, 'rec');
    expect((await cli('export', '--db', db, '--run', '1', '--recorder', out, '--pattern', 'mgsm_{lang}.json')).code).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'mgsm_ja.json'), 'utf8'))).toEqual(JSON.parse(readFileSync(join(FIXTURES, 'mgsm_ja.json'), 'utf8')));
  });
});
