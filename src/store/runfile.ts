/**
 * Portable run files: JSON lines, one header, then aggregate rows, then trace rows, then an end marker (so a
 * truncated copy is detected). Binary arrays are base64 of little-endian typed arrays, as stored.
 */
import { createReadStream, openSync, writeSync, closeSync, existsSync, renameSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { useStore, type Store } from './db.js';
import { createRun, getRun, type RunRecord, type RunStatus } from './entities.js';
import { StoreError, translateSqliteError } from './errors.js';
import { decodeHalf } from '../numeric/float16.js';
import { loadRunRouting } from './routing.js';
import { iterateSequences, writeBatch, type TraceSequence } from './traces.js';

export const RUN_FILE_FORMAT = 'routescope-run';
export const RUN_FILE_VERSION = 1;

type Header = { format: string; version: number; run: Omit<RunRecord, 'id' | 'model' | 'dataset' | 'worker' | 'interrupted'> & { model: RunRecord['model']; dataset: RunRecord['dataset'] } };

const b64 = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

export interface ExportResult {
  file: string;
  sequences: number;
  aggregateRows: number;
}

export function exportRunFile(dbOrPath: Store | string, runId: number, file: string): ExportResult {
  const { store, owned } = useStore(dbOrPath, { readonly: true });
  // Written under a temporary name and renamed at the end, so a failed export never leaves a plausible-looking file.
  const partial = `${file}.partial`;
  let fd: number;
  try {
    fd = openSync(partial, 'w');
  } catch (err) {
    if (owned) store.close();
    throw new StoreError('io', `cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
  let ok = false;
  try {
    // One read transaction from the header to the end marker: a capture committing meanwhile must not make the
    // aggregate rows and the traces describe different moments (the file would then not import again).
    const counts = store.snapshot(`exporting run ${runId}`, () => writeRun(store, runId, fd));
    closeSync(fd);
    renameSync(partial, file);
    ok = true;
    return { file, ...counts };
  } catch (err) {
    throw err instanceof StoreError ? err : new StoreError('io', `exporting run ${runId} to ${file}: ${(err as Error).message}`, { cause: err });
  } finally {
    if (!ok) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      rmSync(partial, { force: true });
    }
    if (owned) store.close();
  }
}

function writeRun(store: Store, runId: number, fd: number): { sequences: number; aggregateRows: number } {
  const run = getRun(store, runId);
  // Which process wrote the run says nothing about it elsewhere.
  const { id: _id, worker: _worker, interrupted: _interrupted, ...rest } = run;
  const header: Header = { format: RUN_FILE_FORMAT, version: RUN_FILE_VERSION, run: rest };
  writeSync(fd, JSON.stringify(header) + '\n');
  let aggregateRows = 0;
  for (const scope of ['all', 'content'] as const) {
    const data = loadRunRouting(store, runId, { scope });
    const E = data.numExperts;
    for (const lr of data.languages) {
      for (let l = 0; l < data.numLayers; l++) {
        const row = { type: 'aggregate', language: lr.language, scope, layer: l, tokens: lr.totals[l], counts: Array.from(lr.counts.subarray(l * E, (l + 1) * E)), gateSums: Array.from(lr.gateSums.subarray(l * E, (l + 1) * E)) };
        writeSync(fd, JSON.stringify(row) + '\n');
        aggregateRows++;
      }
    }
  }
  let sequences = 0;
  for (const s of iterateSequences(store, runId, undefined, 'batch')) {
    const row = {
      type: 'sequence', language: s.language, itemId: s.itemId, itemIndex: s.itemIndex, batchNo: s.batchNo, numTokens: s.numTokens,
      tokenIds: b64(s.tokenIds), templateMask: b64(s.templateMask), expertIds: b64(s.expertIds), gateWeights: b64(s.gateBits),
      routerLogits: s.logitBits ? b64(s.logitBits) : null,
    };
    writeSync(fd, JSON.stringify(row) + '\n');
    sequences++;
  }
  writeSync(fd, JSON.stringify({ type: 'end', sequences, aggregateRows }) + '\n');
  return { sequences, aggregateRows };
}

function fromB64<T>(text: unknown, C: { new (b: ArrayBuffer): T }, bytesPer: number, where: string): T {
  if (typeof text !== 'string') throw new StoreError('invalid-input', `${where}: expected a base64 string`);
  const buf = Buffer.from(text, 'base64');
  if (buf.byteLength % bytesPer !== 0) throw new StoreError('invalid-input', `${where}: ${buf.byteLength} bytes is not a whole number of ${bytesPer}-byte values`);
  const copy = new Uint8Array(buf.byteLength);
  copy.set(buf);
  return new C(copy.buffer);
}

interface AggRow { language: string; scope: 'all' | 'content'; layer: number; tokens: number; counts: number[]; gateSums: number[] }

function parseSequence(row: Record<string, unknown>, numExperts: number, where: string): TraceSequence & { batchNo: number } {
  const ids = numExperts <= 256 ? fromB64(row.expertIds, Uint8Array, 1, `${where} expertIds`) : fromB64(row.expertIds, Uint16Array, 2, `${where} expertIds`);
  const seq = {
    language: String(row.language), itemId: String(row.itemId), itemIndex: Number(row.itemIndex), batchNo: Number(row.batchNo),
    tokenIds: fromB64(row.tokenIds, Uint32Array, 4, `${where} tokenIds`),
    templateMask: fromB64(row.templateMask, Uint8Array, 1, `${where} templateMask`),
    expertIds: ids,
    gateWeights: decodeHalf(fromB64(row.gateWeights, Uint16Array, 2, `${where} gateWeights`)),
    routerLogits: row.routerLogits ? decodeHalf(fromB64(row.routerLogits, Uint16Array, 2, `${where} routerLogits`)) : undefined,
  };
  if (seq.tokenIds.length !== row.numTokens) throw new StoreError('invalid-input', `${where}: numTokens ${String(row.numTokens)} does not match ${seq.tokenIds.length} token ids`);
  if (!Number.isInteger(seq.itemIndex) || !Number.isInteger(seq.batchNo)) throw new StoreError('invalid-input', `${where}: itemIndex and batchNo must be integers`);
  return seq;
}

/**
 * Imports a run file as a new run, streaming it batch by batch inside one transaction (so memory stays at one batch
 * and a failure leaves nothing behind). Traces are re-aggregated on the way in and must reproduce the file's
 * aggregate rows exactly; otherwise the file is inconsistent and nothing is kept. The store's connection must not be
 * used by anything else until the returned promise settles.
 */
export async function importRunFile(dbOrPath: Store | string, file: string, options: { name?: string } = {}): Promise<number> {
  if (!existsSync(file)) throw new StoreError('not-found', `run file ${file} does not exist`);
  const { store, owned } = useStore(dbOrPath);
  const db = store.db;
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let began = false;
  try {
    let header: Header | undefined;
    let runId = 0;
    const aggs: AggRow[] = [];
    let batch: TraceSequence[] = [];
    let batchNo = -1;
    let sequences = 0;
    let end: { sequences: number; aggregateRows: number } | undefined;
    let lineNo = 0;
    const flush = () => {
      if (batch.length > 0) writeBatch(store, runId, batchNo, batch);
      batch = [];
    };
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      const where = `${file}:${lineNo}`;
      let row: Record<string, unknown>;
      try {
        row = JSON.parse(line) as Record<string, unknown>;
      } catch (err) {
        throw new StoreError('invalid-input', `${where}: invalid JSON (${(err as Error).message})`);
      }
      if (end) throw new StoreError('invalid-input', `${where}: data after the end marker`);
      if (!header) {
        if (row.format !== RUN_FILE_FORMAT) throw new StoreError('invalid-input', `${where}: not a Routescope run file (first line must have "format": "${RUN_FILE_FORMAT}")`);
        if (typeof row.version !== 'number' || row.version > RUN_FILE_VERSION) throw new StoreError('newer-version', `${where}: run file version ${String(row.version)} is newer than this Routescope understands (${RUN_FILE_VERSION})`);
        header = row as unknown as Header;
        const h = header.run;
        if (!h || !Array.isArray(h.languages)) throw new StoreError('invalid-input', `${where}: header has no run description`);
        db.exec('BEGIN IMMEDIATE');
        began = true;
        const status: RunStatus = h.status === 'running' || h.status === 'pending' ? 'cancelled' : h.status;
        runId = createRun(store, {
          projectName: h.projectName ?? undefined, model: h.model ?? undefined, dataset: h.dataset ?? undefined,
          name: options.name ?? h.name ?? `import of ${file}`, source: 'import', languages: h.languages, promptTemplate: h.promptTemplate,
          plan: h.plan ?? undefined, seed: h.seed ?? undefined, engineVersion: h.engineVersion ?? undefined,
          executionProvider: h.executionProvider ?? undefined, precision: h.precision ?? undefined, numMoeLayers: h.numMoeLayers, moeLayers: h.moeLayers,
          numExperts: h.numExperts, topK: h.topK, storeLogits: h.storeLogits, itemLimit: h.itemLimit ?? undefined,
          batchSize: h.batchSize ?? undefined, sequencesTotal: h.sequencesTotal ?? undefined, status,
        });
        db.prepare('UPDATE capture_run SET started_at = ?, finished_at = ?, error = ? WHERE id = ?').run(h.startedAt, h.finishedAt, h.error, runId);
        continue;
      }
      if (row.type === 'aggregate') aggs.push(row as unknown as AggRow);
      else if (row.type === 'sequence') {
        const seq = parseSequence(row, header.run.numExperts, where);
        if (seq.batchNo !== batchNo) {
          flush();
          batchNo = seq.batchNo;
        }
        batch.push(seq);
        sequences++;
      } else if (row.type === 'end') end = row as unknown as { sequences: number; aggregateRows: number };
      else throw new StoreError('invalid-input', `${where}: unknown row type ${JSON.stringify(row.type)}`);
    }
    if (!header) throw new StoreError('invalid-input', `${file} is empty`);
    if (!end) throw new StoreError('invalid-input', `${file} is truncated (no end marker after line ${lineNo})`);
    if (end.sequences !== sequences || end.aggregateRows !== aggs.length) {
      throw new StoreError('invalid-input', `${file}: end marker promises ${end.sequences} sequences and ${end.aggregateRows} aggregate rows, found ${sequences} and ${aggs.length}`);
    }
    flush();
    const h = header.run;
    const E = h.numExperts;
    if (sequences > 0) {
      db.prepare('UPDATE capture_run SET elapsed_ms = ?, batches_done = (SELECT count(DISTINCT batch_no) FROM sequence WHERE run_id = ?) WHERE id = ?').run(h.elapsedMs, runId, runId);
      // The traces were re-aggregated; the file's aggregates must agree with them exactly.
      for (const scope of ['all', 'content'] as const) {
        const data = loadRunRouting(store, runId, { scope });
        const fileRows = aggs.filter((a) => a.scope === scope);
        const have = data.languages.length * data.numLayers;
        if (fileRows.length !== have) throw new StoreError('invalid-input', `${file}: ${fileRows.length} '${scope}' aggregate rows, but its traces give ${have}`);
        for (const a of fileRows) {
          const lr = data.languages.find((x) => x.language === a.language);
          const ok = lr && lr.totals[a.layer] === a.tokens && a.counts.every((c, e) => lr.counts[a.layer * E + e] === c) && a.gateSums.every((g, e) => lr.gateSums[a.layer * E + e] === g);
          if (!ok) throw new StoreError('invalid-input', `${file}: aggregate row ${a.language} layer ${a.layer} (${scope}) disagrees with the file's own traces`);
        }
      }
    } else {
      const insAgg = db.prepare('INSERT INTO run_agg(run_id, language, scope, layer, expert, count, gate_sum) VALUES (?,?,?,?,?,?,?)');
      const insTotal = db.prepare('INSERT INTO run_layer_total(run_id, language, scope, layer, tokens) VALUES (?,?,?,?,?)');
      for (const a of aggs) {
        if (!h.languages.includes(a.language) || !(a.layer >= 0 && a.layer < h.numMoeLayers) || a.counts?.length !== E || a.gateSums?.length !== E || !['all', 'content'].includes(a.scope)) {
          throw new StoreError('invalid-input', `${file}: aggregate row ${a.language} layer ${a.layer} does not fit the run (${h.numMoeLayers} layers x ${E} experts, languages ${h.languages.join(',')})`);
        }
        insTotal.run(runId, a.language, a.scope, a.layer, a.tokens);
        for (let e = 0; e < E; e++) if (a.counts[e] !== 0 || a.gateSums[e] !== 0) insAgg.run(runId, a.language, a.scope, a.layer, e, a.counts[e], a.gateSums[e]);
      }
      db.prepare('UPDATE capture_run SET tokens_done = ?, sequences_done = ?, elapsed_ms = ? WHERE id = ?').run(h.tokensDone, h.sequencesDone, h.elapsedMs, runId);
    }
    db.exec('COMMIT');
    began = false;
    return runId;
  } catch (err) {
    throw translateSqliteError(err, store.file, `importing ${file}`);
  } finally {
    if (began && db.inTransaction) db.exec('ROLLBACK');
    lines.close();
    if (owned) store.close();
  }
}
