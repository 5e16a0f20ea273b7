/**
 * Derived results kept with a run or an experiment (db/009_derived_cache.sql). A row is only handed back when the
 * caller's stamp (the owner's state it was computed from) and format (the code's layout version) both match and
 * its value decodes; otherwise the caller recomputes and writes it again. The source tables stay the truth.
 */
import type { Store } from './db.js';
import { decodeValue, encodeValue } from './value-codec.js';

export type DerivedOwner = 'run' | 'experiment';

const TABLE: Record<DerivedOwner, { table: string; id: string }> = {
  run: { table: 'run_derived', id: 'run_id' },
  experiment: { table: 'experiment_derived', id: 'experiment_id' },
};

/** Rows of one kind (the key's text before the first ':') kept per owner: other settings or pivots, newest first. */
const KEPT_PER_OWNER = 6;

export type DerivedRead<T> = { status: 'hit'; value: T } | { status: 'missing' | 'stale' | 'format' | 'corrupt'; value?: undefined };

/** The stored value, or why there is none to use ('corrupt': present but undecodable, left for the writer to replace). */
export function readDerived<T>(store: Store, owner: DerivedOwner, ownerId: number, key: string, stamp: string, format: number): DerivedRead<T> {
  const { table, id } = TABLE[owner];
  const row = store.read(`reading a kept ${owner} result`, () =>
    store.db.prepare(`SELECT stamp, format, value FROM ${table} WHERE ${id} = ? AND key = ?`).get(ownerId, key) as { stamp: string; format: number; value: Buffer } | undefined,
  );
  if (!row) return { status: 'missing' };
  if (row.stamp !== stamp) return { status: 'stale' };
  if (row.format !== format) return { status: 'format' };
  try {
    return { status: 'hit', value: decodeValue(row.value) as T };
  } catch {
    return { status: 'corrupt' };
  }
}

/**
 * Stores (or replaces) the value, dropping the owner's rows computed from another state, and the oldest beyond a few.
 * `stillCurrent`, when given, is asked inside the write transaction (the value is encoded before it, so the lock is
 * held only for the writes): false leaves everything as it is, for a value computed from a state the owner has since
 * left. Returns whether it was stored.
 */
export function writeDerived(store: Store, owner: DerivedOwner, ownerId: number, key: string, stamp: string, format: number, value: unknown, stillCurrent?: () => boolean): boolean {
  const { table, id } = TABLE[owner];
  const bytes = encodeValue(value);
  return store.write(`keeping a ${owner} result`, () => {
    if (stillCurrent && !stillCurrent()) return false;
    const db = store.db;
    db.prepare(`DELETE FROM ${table} WHERE ${id} = ? AND stamp <> ?`).run(ownerId, stamp);
    db.prepare(`INSERT INTO ${table} (${id}, key, stamp, format, value) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT(${id}, key) DO UPDATE SET stamp = excluded.stamp, format = excluded.format, value = excluded.value, created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`).run(ownerId, key, stamp, format, bytes);
    const kind = `${key.split(':')[0]}:%`;
    db.prepare(`DELETE FROM ${table} WHERE ${id} = ? AND key LIKE ? AND key NOT IN
      (SELECT key FROM ${table} WHERE ${id} = ? AND key LIKE ? ORDER BY created_at DESC, rowid DESC LIMIT ${KEPT_PER_OWNER})`).run(ownerId, kind, ownerId, kind);
    return true;
  });
}
