/**
 * How to start one of the project's worker threads, from the sources or from the electron-vite bundle. From the
 * sources (tsx, vitest) the entry is a .ts file beside the module starting it, and the thread first registers tsx's
 * loader itself (as bin/routescope.mjs does: loader hooks are not inherited by worker threads, and `--import tsx` in
 * execArgv does not reach a worker's entry on Node 20). In the bundle the starting module is inlined into
 * out/main/*.js (or a shared chunk under out/main/chunks/) and the entry is its own chunk (electron.vite.config.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface ThreadEntry {
  /** The entry module (named in errors). */
  entry: URL;
  /** What `new Worker` is given: the entry itself, or code that registers tsx and then imports it. */
  code: string | URL;
  eval: boolean;
}

/**
 * @param here import.meta.url of the module starting the thread
 * @param source the entry's .ts file relative to `here` (e.g. './engine-worker.ts')
 * @param chunk the entry's file name in the bundle (e.g. 'capture-worker.js')
 */
export function threadEntry(here: string, source: string, chunk: string): ThreadEntry {
  if (here.endsWith('.ts')) {
    const entry = new URL(source, here);
    const code = `import(${JSON.stringify(tsxEsmApi(here))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`;
    return { entry, code, eval: true };
  }
  const candidates = [new URL(`./${chunk}`, here), new URL(`../${chunk}`, here)];
  const entry = candidates.find((u) => existsSync(u)) ?? candidates[0]!;
  return { entry, code: entry, eval: false };
}

/** The file URL of tsx's ESM register API (its CommonJS twin misresolves its own chunks when run from eval code). */
function tsxEsmApi(here: string): string {
  const pkgFile = createRequire(here).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports: Record<string, { import?: { default?: string } }> };
  const rel = pkg.exports['./esm/api']?.import?.default;
  if (!rel) throw new Error(`${pkgFile} has no ESM entry for tsx/esm/api; cannot start a worker thread from the sources`);
  return pathToFileURL(join(dirname(pkgFile), rel)).href;
}
