import Database from 'better-sqlite3';
import { closeSync, existsSync, mkdirSync, readFileSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Store, StoreError, createRun, getRun, listRuns, loadRunRouting, writeBatch, iterateSequences, storedKeys,
  exportRunFile, importRunFile, latestSchemaVersion, decodeGates, setRunStatus, modelFingerprint, fingerprintModel, legacyModelFingerprint, describeModelChanges, type TraceSequence,
} from '../../src/store/index.js';
import { referenceAggregate, roundToHalfReference, synthSequence, tempDir } from './helpers.js';

const L = 4;
const E = 16;
const K = 2;

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.cleanup());

function newRun(store: Store, extra: Partial<Parameters<typeof createRun>[1]> = {}) {
  return createRun(store, {
    projectName: 'p', languages: ['en', 'fr'], promptTemplate: 'raw', numMoeLayers: L, numExperts: E, topK: K,
    model: { path: '/models/toy', architecture: 'ToyMoe', numMoeLayers: L, numExperts: E, topK: K, fingerprint: 'sha256:abc' },
    dataset: { kind: 'jsonl', source: '/data/x.jsonl', languages: ['en', 'fr'], itemCount: 3, fingerprint: 'sha256:def' },
    seed: 7, engineVersion: 'test', executionProvider: 'cpu', ...extra,
  });
}

function batchOf(batchNo: number, items: number, tokens = 9, logits = false): TraceSequence[] {
  const out: TraceSequence[] = [];
  for (const language of ['en', 'fr']) {
    for (let j = 0; j < items; j++) {
      const idx = batchNo * items + j;
      out.push(synthSequence({ language, itemId: `q${idx}`, itemIndex: idx, tokens: tokens + (idx % 3), layers: L, experts: E, topK: K, seed: idx * 2 + (language === 'en' ? 1 : 2), logits }));
    }
  }
  return out;
}

function expectMatchesReference(file: string, runId: number, seqs: TraceSequence[]) {
  for (const scope of ['all', 'content'] as const) {
    const data = loadRunRouting(file, runId, { scope });
    expect(data.languages.map((l) => l.language)).toEqual(['en', 'fr']);
    for (const lr of data.languages) {
      const ref = referenceAggregate(seqs, L, E, K, lr.language, scope, roundToHalfReference);
      expect(Array.from(lr.counts)).toEqual(Array.from(ref.counts));
      expect(Array.from(lr.gateSums)).toEqual(Array.from(ref.gates));
      expect(Array.from(lr.totals)).toEqual(new Array(L).fill(ref.tokens));
    }
  }
}

describe('store: schema and opening', () => {
  it('creates a WAL database with foreign keys and the latest schema', () => {
    const file = join(tmp.dir, 'a.db');
    const s = Store.open(file);
    expect(s.schemaVersion).toBe(latestSchemaVersion());
    expect(s.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(s.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(() => s.db.prepare(`INSERT INTO sequence(run_id, language, item_id, item_index, batch_no, num_tokens, num_content, token_ids, template_mask, expert_ids, gate_weights) VALUES (999,'en','x',0,0,0,0,x'',x'',x'',x'')`).run()).toThrow(/FOREIGN KEY/);
    s.close();
    const again = Store.open(file);
    expect(again.schemaVersion).toBe(latestSchemaVersion());
    again.close();
  });

  it('refuses a database written by a newer schema, without modifying it', () => {
    const file = join(tmp.dir, 'newer.db');
    Store.open(file).close();
    const raw = new Database(file);
    raw.pragma(`user_version = ${latestSchemaVersion() + 3}`);
    raw.close();
    const before = statSync(file).mtimeMs;
    expect(() => Store.open(file)).toThrow(StoreError);
    try {
      Store.open(file);
    } catch (err) {
      expect((err as StoreError).code).toBe('newer-version');
      expect((err as Error).message).toMatch(/newer Routescope.*schema version \d+|schema version \d+, written by a newer Routescope/);
    }
    expect(statSync(file).mtimeMs).toBe(before);
  });

  it('refuses a file that is not a database, and an SQLite database that is not a Routescope store', () => {
    const junk = join(tmp.dir, 'junk.db');
    writeFileSync(junk, 'this is a text file, not SQLite '.repeat(200));
    expect(() => Store.open(junk)).toThrow(/not an SQLite database/);
    const other = join(tmp.dir, 'other.db');
    const raw = new Database(other);
    raw.exec('CREATE TABLE customers(id INTEGER)');
    raw.close();
    expect(() => Store.open(other)).toThrow(/not a Routescope store/);
    expect(new Database(other).prepare('SELECT count(*) AS n FROM sqlite_master').get()).toEqual({ n: 1 });
  });

  it('reports a missing database when asked not to create one', () => {
    expect(() => Store.open(join(tmp.dir, 'none.db'), { create: false })).toThrow(/does not exist/);
    expect(() => loadRunRouting(join(tmp.dir, 'none.db'), 1)).toThrow(/does not exist/);
  });

  it('reports a database locked by another writer as locked, and keeps it consistent', () => {
    const file = join(tmp.dir, 'locked.db');
    const s = Store.open(file);
    const runId = newRun(s);
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    const s2 = Store.open(file, { busyTimeoutMs: 50 });
    let err: unknown;
    try {
      writeBatch(s2, runId, 0, batchOf(0, 1));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('locked');
    expect((err as Error).message).toContain(file);
    other.exec('ROLLBACK');
    other.close();
    writeBatch(s2, runId, 0, batchOf(0, 1));
    expect(s2.integrityProblems()).toEqual([]);
    s2.close();
    s.close();
  });

  it('lets a reader see committed batches while a writer holds an open transaction (WAL)', () => {
    const file = join(tmp.dir, 'wal.db');
    const s = Store.open(file);
    const runId = newRun(s);
    writeBatch(s, runId, 0, batchOf(0, 1));
    const writer = new Database(file);
    writer.exec('BEGIN IMMEDIATE');
    writer.prepare('UPDATE capture_run SET name = ? WHERE id = ?').run('uncommitted', runId);
    const reader = Store.open(file, { readonly: true, busyTimeoutMs: 50 });
    expect(getRun(reader, runId).sequencesDone).toBe(2);
    expect(getRun(reader, runId).name).toBe(null);
    expect(loadRunRouting(reader, runId).languages).toHaveLength(2);
    writer.exec('ROLLBACK');
    writer.close();
    reader.close();
    s.close();
  });

  it('reports writes to a read-only database clearly', () => {
    const file = join(tmp.dir, 'ro.db');
    const s = Store.open(file);
    const runId = newRun(s);
    s.close();
    const ro = Store.open(file, { readonly: true });
    expect(() => writeBatch(ro, runId, 0, batchOf(0, 1))).toThrow(/read-only/);
    expect(getRun(ro, runId).status).toBe('pending');
    ro.close();
  });

  it('reports a damaged file as corrupt', () => {
    const file = join(tmp.dir, 'corrupt.db');
    const s = Store.open(file);
    const runId = newRun(s);
    for (let b = 0; b < 4; b++) writeBatch(s, runId, b, batchOf(b, 2));
    s.close(); // checkpoints the WAL into the main file
    const size = statSync(file).size;
    const pageSize = 4096;
    const fd = openSync(file, 'r+');
    // Overwrite every page after the schema page with garbage.
    for (let off = pageSize; off < size; off += pageSize) writeSync(fd, Buffer.alloc(pageSize, 0xa5), 0, pageSize, off);
    closeSync(fd);
    // The product's own report, not an error the test throws: opening fails with a 'corrupt' StoreError that names
    // the file and the step and says what to do.
    let err: unknown;
    try {
      Store.open(file).close();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('corrupt');
    expect((err as StoreError).message).toBe(
      `opening the database (${file}): the database file is damaged (database disk image is malformed); restore it from a backup or re-import the run from an export`,
    );
    // Damage confined to the last page: the file opens, and the integrity check reports the damage the same way.
    const file2 = join(tmp.dir, 'corrupt-tail.db');
    const s2 = Store.open(file2);
    const run2 = newRun(s2);
    for (let b = 0; b < 4; b++) writeBatch(s2, run2, b, batchOf(b, 2));
    s2.close();
    const size2 = statSync(file2).size;
    const fd2 = openSync(file2, 'r+');
    writeSync(fd2, Buffer.alloc(pageSize, 0xa5), 0, pageSize, size2 - pageSize);
    closeSync(fd2);
    const c2 = Store.open(file2);
    try {
      // The check reports the damage as a problem (it does not throw: `runs`/`analyze` warn and go on reading).
      const problems = c2.integrityProblems();
      expect(problems.length).toBeGreaterThan(0);
      expect(problems.join('\n')).toMatch(/malformed|corrupt|btree|page/i);
    } finally {
      c2.close();
    }
    // A sound file has no problems.
    const good = Store.open(join(tmp.dir, 'sound.db'));
    writeBatch(good, newRun(good), 0, batchOf(0, 2));
    expect(good.integrityProblems()).toEqual([]);
    good.close();
  });
});

describe('store: traces and aggregates', () => {
  it('stores traces compactly and aggregates them exactly, per language and scope', () => {
    const file = join(tmp.dir, 'agg.db');
    const s = Store.open(file);
    const runId = newRun(s, { storeLogits: true });
    const all: TraceSequence[] = [];
    for (let b = 0; b < 3; b++) {
      const batch = batchOf(b, 2, 9, true);
      all.push(...batch);
      const res = writeBatch(s, runId, b, batch, 10);
      expect(res.sequences).toBe(4);
    }
    s.close();
    expectMatchesReference(file, runId, all);
    const ro = Store.open(file, { readonly: true });
    const run = getRun(ro, runId);
    expect(run.sequencesDone).toBe(12);
    expect(run.batchesDone).toBe(3);
    expect(run.tokensDone).toBe(all.reduce((a, s) => a + s.tokenIds.length, 0));
    expect(run.model?.fingerprint).toBe('sha256:abc');
    expect(run.dataset?.itemCount).toBe(3);
    // Traces read back: ids exact, weights float16-rounded, 1 byte per id (16 experts) + 2 per weight.
    const stored = [...iterateSequences(ro, runId, 'fr')];
    expect(stored.map((x) => x.itemId)).toEqual(['q0', 'q1', 'q2', 'q3', 'q4', 'q5']);
    const src = all.find((x) => x.language === 'fr' && x.itemId === 'q4')!;
    const back = stored[4]!;
    expect(Array.from(back.expertIds)).toEqual(Array.from(src.expertIds));
    expect(back.expertIds.BYTES_PER_ELEMENT + back.gateBits.BYTES_PER_ELEMENT).toBe(3);
    expect(Array.from(decodeGates(back))).toEqual(Array.from(src.gateWeights, roundToHalfReference));
    expect(Array.from(back.tokenIds)).toEqual(Array.from(src.tokenIds));
    expect(Array.from(back.templateMask)).toEqual(Array.from(src.templateMask));
    expect(back.logitBits?.length).toBe(L * src.tokenIds.length * E);
    expect(storedKeys(ro, runId).size).toBe(12);
    ro.close();
  });

  it('gives per-sequence distributions that match a direct computation', () => {
    const file = join(tmp.dir, 'seq.db');
    const s = Store.open(file);
    const runId = newRun(s);
    const batch = batchOf(0, 3);
    writeBatch(s, runId, 0, batch);
    for (const scope of ['all', 'content'] as const) {
      for (const kind of ['gate', 'frequency'] as const) {
        const data = loadRunRouting(s, runId, { scope, sequences: kind });
        const en = data.languages.find((l) => l.language === 'en')!;
        expect(en.sequences!.ids).toEqual(['q0', 'q1', 'q2']);
        en.sequences!.ids.forEach((id, i) => {
          const src = batch.find((x) => x.language === 'en' && x.itemId === id)!;
          const ref = referenceAggregate([src], L, E, K, 'en', scope, roundToHalfReference);
          const d = en.sequences!.dist[i]!;
          for (let c = 0; c < L * E; c++) {
            const want = kind === 'gate' ? ref.gates[c]! / ref.tokens : ref.counts[c]! / (ref.tokens * K);
            expect(d[c]).toBeCloseTo(want, 6);
          }
          // Each layer's distribution sums to 1 (weights are renormalised over the top-k).
          expect(d.subarray(0, E).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 2);
        });
      }
    }
    s.close();
  });

  it('rejects malformed batches before writing anything', () => {
    const file = join(tmp.dir, 'bad.db');
    const s = Store.open(file);
    const runId = newRun(s);
    const good = batchOf(0, 1);
    const wrongExpert = { ...good[0]!, itemId: 'z', expertIds: Uint16Array.from(good[0]!.expertIds, (e, i) => (i === 5 ? E + 3 : e)) };
    expect(() => writeBatch(s, runId, 0, [good[1]!, wrongExpert])).toThrow(/expert id 19 .* outside 0\.\.15/);
    const nanWeight = { ...good[0]!, itemId: 'n', gateWeights: Float32Array.from(good[0]!.gateWeights, (w, i) => (i === 0 ? NaN : w)) };
    expect(() => writeBatch(s, runId, 0, [nanWeight])).toThrow(/not finite/);
    const shortIds = { ...good[0]!, itemId: 's', expertIds: Array.from(good[0]!.expertIds).slice(0, 3) };
    expect(() => writeBatch(s, runId, 0, [shortIds])).toThrow(/expected 4 layers/);
    expect(() => writeBatch(s, runId, 0, [{ ...good[0]!, language: 'de' }])).toThrow(/language 'de'/);
    expect(getRun(s, runId).sequencesDone).toBe(0);
    writeBatch(s, runId, 0, good);
    expect(() => writeBatch(s, runId, 1, [good[0]!])).toThrow(/already has a trace/);
    expect(getRun(s, runId).sequencesDone).toBe(2);
    expect(s.integrityProblems()).toEqual([]);
    s.close();
  });

  it('keeps completed batches and a consistent file when the disk fills up mid-run', () => {
    const file = join(tmp.dir, 'full.db');
    const s = Store.open(file);
    const runId = newRun(s);
    const pages = s.db.pragma('page_count', { simple: true }) as number;
    s.db.pragma(`max_page_count = ${pages + 40}`);
    const written: TraceSequence[] = [];
    let err: unknown;
    for (let b = 0; b < 200 && !err; b++) {
      const batch = batchOf(b, 3, 40);
      try {
        writeBatch(s, runId, b, batch);
        written.push(...batch);
      } catch (e) {
        err = e;
      }
    }
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('disk-full');
    expect((err as Error).message).toMatch(/full.*earlier committed work is intact/);
    expect(written.length).toBeGreaterThan(0);
    setRunStatus(s, runId, 'failed', (err as Error).message);
    expect(s.integrityProblems()).toEqual([]);
    s.close();
    const run = getRun(Store.open(file, { readonly: true }), runId);
    expect(run.status).toBe('failed');
    expect(run.sequencesDone).toBe(written.length);
    expectMatchesReference(file, runId, written);
  });
});

describe('store: portable run files', () => {
  it('exports a run to JSON lines and imports it back identically', async () => {
    const file = join(tmp.dir, 'src.db');
    const s = Store.open(file);
    const runId = newRun(s, { storeLogits: true, plan: { steer: { layers: [1, 2] } }, precision: 'fp16' });
    for (let b = 0; b < 2; b++) writeBatch(s, runId, b, batchOf(b, 2, 7, true), 5);
    setRunStatus(s, runId, 'completed');
    const out = join(tmp.dir, 'run.jsonl');
    const res = exportRunFile(s, runId, out);
    expect(res.sequences).toBe(8);
    s.close();
    const dst = join(tmp.dir, 'dst.db');
    const newId = await importRunFile(dst, out);
    const a = loadRunRouting(file, runId, { sequences: 'gate' });
    const b = loadRunRouting(dst, newId, { sequences: 'gate' });
    expect(b.languages.map((l) => [l.language, Array.from(l.counts), Array.from(l.gateSums), Array.from(l.totals)])).toEqual(
      a.languages.map((l) => [l.language, Array.from(l.counts), Array.from(l.gateSums), Array.from(l.totals)]),
    );
    expect(b.languages[0]!.sequences!.dist.map((d) => Array.from(d))).toEqual(a.languages[0]!.sequences!.dist.map((d) => Array.from(d)));
    const d = Store.open(dst, { readonly: true });
    const run = listRuns(d)[0]!;
    expect(run.source).toBe('import');
    expect(run.status).toBe('completed');
    expect(run.plan).toEqual({ steer: { layers: [1, 2] } });
    expect(run.precision).toBe('fp16');
    expect(b.precision).toBe('fp16');
    expect(run.model?.fingerprint).toBe('sha256:abc');
    const seqA = [...iterateSequences(Store.open(file, { readonly: true }), runId)];
    const seqB = [...iterateSequences(d, newId)];
    expect(seqB.map((x) => [x.itemId, Array.from(x.gateBits), Array.from(x.logitBits!)])).toEqual(seqA.map((x) => [x.itemId, Array.from(x.gateBits), Array.from(x.logitBits!)]));
    d.close();
  });

  it('refuses truncated, tampered and non-run files, leaving the database unchanged', async () => {
    const file = join(tmp.dir, 'src.db');
    const s = Store.open(file);
    const runId = newRun(s);
    writeBatch(s, runId, 0, batchOf(0, 2));
    const out = join(tmp.dir, 'run.jsonl');
    exportRunFile(s, runId, out);
    s.close();
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    const dst = join(tmp.dir, 'dst.db');
    writeFileSync(join(tmp.dir, 'trunc.jsonl'), lines.slice(0, -2).join('\n') + '\n');
    await expect(importRunFile(dst, join(tmp.dir, 'trunc.jsonl'))).rejects.toThrow(/truncated/);
    const agg = JSON.parse(lines[1]!);
    agg.counts[0] += 1;
    writeFileSync(join(tmp.dir, 'tampered.jsonl'), [lines[0], JSON.stringify(agg), ...lines.slice(2)].join('\n') + '\n');
    await expect(importRunFile(dst, join(tmp.dir, 'tampered.jsonl'))).rejects.toThrow(/disagrees with the file's own traces/);
    writeFileSync(join(tmp.dir, 'badjson.jsonl'), [lines[0], '{"type": "sequence", oops', ...lines.slice(1)].join('\n'));
    await expect(importRunFile(dst, join(tmp.dir, 'badjson.jsonl'))).rejects.toThrow(/badjson\.jsonl:2: invalid JSON/);
    writeFileSync(join(tmp.dir, 'other.jsonl'), '{"hello": 1}\n');
    await expect(importRunFile(dst, join(tmp.dir, 'other.jsonl'))).rejects.toThrow(/not a Routescope run file/);
    writeFileSync(join(tmp.dir, 'empty.jsonl'), '');
    await expect(importRunFile(dst, join(tmp.dir, 'empty.jsonl'))).rejects.toThrow(/is empty/);
    expect(() => exportRunFile(file, 99, join(tmp.dir, 'missing-run.jsonl'))).toThrow(/run 99 does not exist/);
    expect(existsSync(join(tmp.dir, 'missing-run.jsonl'))).toBe(false);
    expect(existsSync(join(tmp.dir, 'missing-run.jsonl.partial'))).toBe(false);
    const d = Store.open(dst);
    expect(listRuns(d)).toEqual([]);
    expect(d.integrityProblems()).toEqual([]);
    d.close();
  });
});

describe('model fingerprint', () => {
  it('changes when config.json or a safetensors header changes', () => {
    const dir = join(tmp.dir, 'model');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), '{"num_experts": 16}');
    const header = Buffer.from(JSON.stringify({ 'w': { dtype: 'F16', shape: [2], data_offsets: [0, 4] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(join(dir, 'model.safetensors'), Buffer.concat([len, header, Buffer.alloc(4)]));
    const a = modelFingerprint(dir);
    expect(a).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(modelFingerprint(dir)).toBe(a);
    writeFileSync(join(dir, 'config.json'), '{"num_experts": 32}');
    expect(modelFingerprint(dir)).not.toBe(a);
    writeFileSync(join(dir, 'model.safetensors'), Buffer.from([255, 255, 255, 255, 0, 0, 0, 0]));
    expect(() => modelFingerprint(dir)).toThrow(/safetensors header length/);
    expect(() => modelFingerprint(join(tmp.dir, 'nope'))).toThrow(/does not exist/);
  });

  it('changes when weights change in place with identical shapes, and names the router tensors / file that changed', () => {
    const dir = join(tmp.dir, 'tuned');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), '{"num_experts": 4}');
    // Two router tensors and one large expert tensor, float32.
    const tensors: [string, number][] = [['model.layers.0.mlp.gate.weight', 64], ['model.layers.0.mlp.experts.0.up_proj.weight', 200_000], ['model.layers.1.mlp.gate.weight', 64]];
    const entries: Record<string, unknown> = {};
    let off = 0;
    for (const [name, n] of tensors) {
      entries[name] = { dtype: 'F32', shape: [n], data_offsets: [off, off + 4 * n] };
      off += 4 * n;
    }
    const header = Buffer.from(JSON.stringify(entries));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    const data = new Float32Array(off / 4).map((_, i) => Math.sin(i) + 0.1);
    const file = join(dir, 'model.safetensors');
    writeFileSync(file, Buffer.concat([len, header, Buffer.from(data.buffer)]));
    const dataStart = 8 + header.length;
    const sampled = { fullHashBelowBytes: 0 }; // the path a 60 GB checkpoint takes: routers + sampled blocks
    const before = fingerprintModel(dir, sampled);
    const legacyBefore = legacyModelFingerprint(dir);
    expect(fingerprintModel(dir, sampled)).toEqual(before);
    // Flip the sign of every router weight in place (same size, same header): what a fine-tune of the router does.
    const fd = openSync(file, 'r+');
    for (const name of ['model.layers.0.mlp.gate.weight', 'model.layers.1.mlp.gate.weight']) {
      const [a0, a1] = (entries[name] as { data_offsets: [number, number] }).data_offsets;
      const w = new Float32Array(data.buffer.slice(a0, a1)).map((x) => -x);
      writeSync(fd, Buffer.from(w.buffer), 0, a1 - a0, dataStart + a0);
    }
    closeSync(fd);
    expect(legacyModelFingerprint(dir)).toBe(legacyBefore); // the header-only fingerprint misses it (issue #11, item 2)
    const flipped = fingerprintModel(dir, sampled);
    expect(flipped.fingerprint).not.toBe(before.fingerprint);
    // (the routers sit at both ends of the data, so the sampled blocks covering them differ too)
    expect(describeModelChanges(before.detail, flipped.detail)).toEqual([
      'model.safetensors: router weights changed (model.layers.0.mlp.gate.weight, model.layers.1.mlp.gate.weight)',
      'model.safetensors: weights changed (sampled blocks differ)',
    ]);
    // A change inside a non-router tensor, at the start of the data (a sampled block), is caught too.
    const fd2 = openSync(file, 'r+');
    const expertAt = (entries['model.layers.0.mlp.experts.0.up_proj.weight'] as { data_offsets: [number, number] }).data_offsets[0];
    writeSync(fd2, Buffer.from(new Float32Array([123.5]).buffer), 0, 4, dataStart + expertAt);
    closeSync(fd2);
    const edited = fingerprintModel(dir, sampled);
    expect(describeModelChanges(flipped.detail, edited.detail)).toEqual(['model.safetensors: weights changed (sampled blocks differ)']);
    // Small files are hashed whole by default, so any byte counts; tokenizer files count as well.
    const whole = fingerprintModel(dir);
    const fd3 = openSync(file, 'r+');
    writeSync(fd3, Buffer.from(new Float32Array([-7]).buffer), 0, 4, dataStart + 4 * 64 + 4 * 100_000); // mid-expert: no sampled block
    closeSync(fd3);
    expect(describeModelChanges(whole.detail, fingerprintModel(dir).detail)).toEqual(['model.safetensors: weights other than the routers changed']);
    const whole2 = fingerprintModel(dir);
    writeFileSync(join(dir, 'tokenizer_config.json'), '{"chat_template": "{{ messages }}"}');
    expect(describeModelChanges(whole2.detail, fingerprintModel(dir).detail)).toEqual(['tokenizer_config.json was added']);
  });
});
