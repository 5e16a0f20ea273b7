import Database from 'better-sqlite3';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { endianness } from 'node:os';
import { StoreError, translateSqliteError } from './errors.js';
import { loadMigrations } from './migrations.js';

/** 'RSCP': marks a file as a Routescope store, so someone else's SQLite file is never migrated by accident. */
export const APPLICATION_ID = 0x52534350;

export interface OpenOptions {
  /** Open without write access; writes then fail with a 'read-only' StoreError. */
  readonly?: boolean;
  /** Create the file (and schema) when missing; default true unless readonly. */
  create?: boolean;
  /** How long to wait for another writer before reporting 'locked'; default 5000 ms. */
  busyTimeoutMs?: number;
  /**
   * Run PRAGMA quick_check after opening and keep its findings in `store.damage` (reading commands warn with
   * them: a damaged page outside the tables a command reads would otherwise go unnoticed). It reads every page,
   * so it costs about one sequential read of the file.
   */
  quickCheck?: boolean;
}

if (endianness() !== 'LE') {
  // Trace BLOBs are little-endian typed-array bytes; a big-endian host would need byte swapping.
  throw new Error('Routescope store requires a little-endian machine');
}

export class Store {
  /** quick_check's findings when opened with `quickCheck`; empty when the file is sound or was not checked. */
  damage: string[] = [];

  private constructor(
    readonly db: Database.Database,
    readonly file: string,
    readonly readonly: boolean,
  ) {}

  /** Opens (or creates) a store, applying pending migrations and refusing files it must not touch. */
  static open(file: string, options: OpenOptions = {}): Store {
    const readonly = options.readonly ?? false;
    const create = options.create ?? !readonly;
    if (!create && !existsSync(file)) throw new StoreError('not-found', `database ${file} does not exist`);
    if (existsSync(file) && statSync(file).isDirectory()) {
      throw new StoreError('invalid-input', `database path ${file} is a folder, expected a file`);
    }
    let db: Database.Database;
    try {
      db = new Database(file, { readonly, fileMustExist: !create, timeout: options.busyTimeoutMs ?? 5000 });
    } catch (err) {
      throw translateSqliteError(err, file, 'opening the database');
    }
    try {
      const store = new Store(db, file, readonly);
      store.prepare();
      if (options.quickCheck) store.damage = store.problems('quick_check');
      return store;
    } catch (err) {
      db.close();
      if (readonly && isReadOnlyWalError(err, file)) {
        throw new StoreError('read-only', `cannot read ${file}: it is in WAL journal mode (left so by an older Routescope or another SQLite tool) and its folder ${dirname(file)} is not writable, so SQLite cannot create the ${basename(file)}-shm index that reading it needs; open it once where the folder is writable (Routescope switches it to a rollback journal when it closes it), or copy it to a writable folder`, { cause: err });
      }
      throw translateSqliteError(err, file, 'opening the database');
    }
  }

  private prepare(): void {
    const migrations = loadMigrations();
    const latest = migrations.length;
    // The first read of the header is where a non-database file is detected.
    let version = this.db.pragma('user_version', { simple: true }) as number;
    const appId = this.db.pragma('application_id', { simple: true }) as number;
    if (version > latest) {
      throw new StoreError('newer-version', `database ${this.file} has schema version ${version}, written by a newer Routescope; this version understands schema ${latest} at most. Upgrade Routescope to open it (the file was not modified).`);
    }
    if (version > 0 && appId !== APPLICATION_ID) {
      throw new StoreError('not-routescope', `${this.file} is an SQLite database but not a Routescope store (application_id ${appId})`);
    }
    if (version === 0) {
      const tables = this.db.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'`).get() as { n: number };
      if (tables.n > 0) {
        throw new StoreError('not-routescope', `${this.file} is an SQLite database with other tables but not a Routescope store; refusing to modify it`);
      }
    }
    if (!this.readonly) {
      // WAL lets the UI read while a capture writes; NORMAL sync keeps every committed batch across a process kill.
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
    }
    this.db.pragma('foreign_keys = ON');
    if (version < latest) {
      if (this.readonly) {
        throw new StoreError('read-only', `database ${this.file} needs schema upgrade ${version} -> ${latest} but was opened read-only`);
      }
      const upgrade = this.db.transaction(() => {
        // Re-read under the write lock: another process may have migrated meanwhile.
        version = this.db.pragma('user_version', { simple: true }) as number;
        for (const m of migrations) {
          if (m.version <= version) continue;
          this.db.exec(m.sql);
          this.db.pragma(`user_version = ${m.version}`);
        }
        this.db.pragma(`application_id = ${APPLICATION_ID}`);
      });
      upgrade.immediate();
    }
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /** Runs fn in one IMMEDIATE transaction; SQLite errors come out as StoreErrors naming the file and the step. */
  write<T>(doing: string, fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (err) {
      throw translateSqliteError(err, this.file, doing);
    }
  }

  read<T>(doing: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw translateSqliteError(err, this.file, doing);
    }
  }

  /**
   * Runs fn inside one read transaction, so every query in it sees the same committed state even while another
   * process (a capture) commits batches: without it, a run's aggregates and its traces can come from different
   * moments. Inside an open transaction fn simply runs in it.
   */
  snapshot<T>(doing: string, fn: () => T): T {
    if (this.db.inTransaction) return this.read(doing, fn);
    this.read(doing, () => this.db.exec('BEGIN'));
    try {
      return this.read(doing, fn);
    } finally {
      if (this.db.inTransaction) this.db.exec('COMMIT');
    }
  }

  /** PRAGMA integrity_check; returns [] when the file is sound, else SQLite's list of problems. */
  integrityProblems(): string[] {
    return this.problems('integrity_check');
  }

  private problems(check: 'integrity_check' | 'quick_check'): string[] {
    let rows: Record<string, string>[];
    try {
      rows = this.db.pragma(`${check}(20)`) as Record<string, string>[];
    } catch (err) {
      // Damage bad enough that the check itself cannot walk the file.
      const code = (err as { code?: string }).code ?? '';
      if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') return [(err as Error).message];
      throw translateSqliteError(err, this.file, `checking integrity (${check})`);
    }
    const msgs = rows.map((r) => Object.values(r)[0]!);
    return msgs.length === 1 && msgs[0] === 'ok' ? [] : msgs;
  }

  /**
   * Closing a writable connection switches the file back to a rollback journal when no other connection has it
   * open: a WAL file cannot be read where its folder is not writable (SQLite must create the -shm index next to
   * it), while a rollback-journal file can. The next writable open turns WAL on again.
   */
  close(): void {
    if (!this.db.open) return;
    if (!this.readonly) {
      try {
        this.db.pragma('busy_timeout = 0');
        this.db.pragma('journal_mode = DELETE');
      } catch {
        // Another connection is still using the file; it switches the mode when it closes last.
      }
    }
    this.db.close();
  }
}

/** SQLite's answer to a read-only open of a WAL file whose -shm index cannot be created. */
function isReadOnlyWalError(err: unknown, file: string): boolean {
  const code = (err as { code?: string }).code ?? '';
  if (!code.startsWith('SQLITE_READONLY') && !code.startsWith('SQLITE_CANTOPEN')) return false;
  if (existsSync(`${file}-shm`)) return false;
  try {
    accessSync(dirname(file), constants.W_OK);
    return false;
  } catch {
    return true;
  }
}

/** Accepts either an open store or a path; returns the store and whether the caller must close it. */
export function useStore(dbOrPath: Store | string, options?: OpenOptions): { store: Store; owned: boolean } {
  if (typeof dbOrPath === 'string') return { store: Store.open(dbOrPath, options), owned: true };
  return { store: dbOrPath, owned: false };
}
