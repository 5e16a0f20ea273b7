import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { StoreError } from './errors.js';
import { appPath } from '../app-root.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The repository's db/ folder; ROUTESCOPE_MIGRATIONS_DIR overrides it for packaged builds. */
export function migrationsDir(): string {
  if (process.env.ROUTESCOPE_MIGRATIONS_DIR) return process.env.ROUTESCOPE_MIGRATIONS_DIR;
  return appPath('db');
}

let cached: { dir: string; list: Migration[] } | undefined;

/** Reads db/NNN_name.sql in order; gaps or duplicates in the numbering are a packaging bug, reported as such. */
export function loadMigrations(dir = migrationsDir()): Migration[] {
  if (cached?.dir === dir) return cached.list;
  if (!existsSync(dir)) throw new StoreError('io', `schema migrations folder ${dir} is missing (broken installation)`);
  const list: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    const m = /^(\d{3})_([\w-]+)\.sql$/.exec(file);
    if (!m) continue;
    list.push({ version: Number(m[1]), name: m[2]!, sql: readFileSync(join(dir, file), 'utf8') });
  }
  list.forEach((mig, i) => {
    if (mig.version !== i + 1) {
      throw new StoreError('io', `schema migrations in ${dir} must be numbered 001, 002, ... without gaps; found ${String(mig.version).padStart(3, '0')}_${mig.name}.sql at position ${i + 1}`);
    }
  });
  if (list.length === 0) throw new StoreError('io', `no schema migrations (NNN_name.sql) in ${dir}`);
  cached = { dir, list };
  return list;
}

export function latestSchemaVersion(): number {
  return loadMigrations().length;
}
