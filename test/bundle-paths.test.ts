/**
 * The built Electron main bundle (out/main) reaches the app's own files from its shared chunks. electron-vite puts
 * modules shared by several entries (the window, the engine's utility process, the capture and analysis threads)
 * into out/main/chunks/, one folder deeper than the entries: paths counted in `../` from a module pointed at
 * out/db and out/resources there, so the packaged app could not open a project. The Electron binary is not needed
 * to check this: the chunks are plain Node modules.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const chunks = join(root, 'out', 'main', 'chunks');
const scratch = mkdtempSync(join(tmpdir(), 'routescope-bundle-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

type Exports = Record<string, unknown>;
let modules: { file: string; exports: Exports }[] = [];

/** An export of the bundle found by its original name (the chunks export under one-letter aliases). */
function exported<T>(name: string): T {
  for (const m of modules) for (const v of Object.values(m.exports)) if (typeof v === 'function' && v.name === name) return v as T;
  throw new Error(`no chunk of out/main exports ${name}`);
}

beforeAll(async () => {
  execFileSync(process.execPath, [join(root, 'node_modules/electron-vite/bin/electron-vite.js'), 'build'], { cwd: root, stdio: 'pipe' });
  modules = await Promise.all(readdirSync(chunks).filter((f) => f.endsWith('.js')).map(async (file) => ({ file, exports: (await import(pathToFileURL(join(chunks, file)).href)) as Exports })));
}, 120_000);

describe('the built main bundle', () => {
  it('has shared chunks one folder below its entries (what made module-relative paths wrong)', () => {
    expect(modules.length).toBeGreaterThan(0);
    expect(existsSync(join(root, 'out', 'main', 'index.js'))).toBe(true);
  });

  it('finds db/, resources/ and package.json from a chunk, and opens a project database with the full schema', () => {
    const appPath = exported<(...parts: string[]) => string>('appPath');
    expect(appPath('db')).toBe(join(root, 'db'));
    expect(existsSync(appPath('resources', 'languages', 'languages.json'))).toBe(true);
    const Store = exported<{ open(file: string): { schemaVersion: number; close(): void } }>('Store');
    const store = Store.open(join(scratch, 'project.db'));
    try {
      expect(store.schemaVersion).toBe(readdirSync(join(root, 'db')).filter((f) => /^\d{3}_.*\.sql$/.test(f)).length);
    } finally {
      store.close();
    }
  });
});
