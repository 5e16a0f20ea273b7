/**
 * The folder holding the app's own files (package.json, db/, resources/). Found by walking up from the calling
 * module rather than by a fixed number of `..`: the same code runs from src/<dir>/ (tsx, vitest), from out/main/
 * and from out/main/chunks/ (the electron-vite bundle splits modules shared by its entries into chunks), so a
 * module-relative `../../resources` pointed at out/resources in the built app.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'routescope';
const found = new Map<string, string>();

/** @param here a file URL or path inside the app (defaults to this module) */
export function appRoot(here: string = import.meta.url): string {
  const start = dirname(here.startsWith('file:') ? fileURLToPath(here) : here);
  const hit = found.get(start);
  if (hit) return hit;
  for (let dir = start; ; dir = dirname(dir)) {
    if (isAppPackage(join(dir, 'package.json'))) {
      found.set(start, dir);
      return dir;
    }
    if (dirname(dir) === dir) break;
  }
  throw new Error(`broken installation: no package.json named "${PACKAGE_NAME}" in ${start} or any folder above it, so db/ and resources/ cannot be found`);
}

let pkg: { name: string; version: string } | undefined;
/** The app's package.json (read once): its name and version, for the API's app info and the version runs record. */
export function appPackage(): { name: string; version: string } {
  return (pkg ??= JSON.parse(readFileSync(appPath('package.json'), 'utf8')) as { name: string; version: string });
}

/** A path under the app's folder, e.g. appPath('resources', 'demo-model'). */
export function appPath(...parts: string[]): string {
  return join(appRoot(), ...parts);
}

function isAppPackage(file: string): boolean {
  if (!existsSync(file)) return false;
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME;
  } catch {
    return false;
  }
}
