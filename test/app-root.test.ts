import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { appPath, appRoot } from '../src/app-root.js';

const repo = resolve(import.meta.dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'routescope-app-root-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function file(path: string, text: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

describe('appRoot', () => {
  it('is the repository from the sources, with the schema migrations and resources under it', () => {
    expect(appRoot()).toBe(repo);
    expect(readdirSync(appPath('db'))).toContain('001_init.sql');
    expect(existsSync(appPath('resources', 'languages', 'languages.json'))).toBe(true);
  });

  it('walks up from a bundle chunk two folders deeper than the sources, past a package.json of another name', () => {
    const app = join(tmp, 'app');
    file(join(app, 'package.json'), JSON.stringify({ name: 'routescope', version: '9.9.9' }));
    file(join(app, 'out', 'package.json'), JSON.stringify({ name: 'something-else' }));
    file(join(app, 'out', 'main', 'chunks', 'package.json'), '{ not json');
    const chunk = file(join(app, 'out', 'main', 'chunks', 'shared-abc123.js'), '');
    expect(appRoot(pathToFileURL(chunk).href)).toBe(app);
    expect(appRoot(join(app, 'out', 'main', 'index.js'))).toBe(app);
  });

  it('names the folder it started from when no routescope package.json is above it', () => {
    const stray = file(join(tmp, 'stray', 'deep', 'x.js'), '');
    expect(() => appRoot(stray)).toThrow(`no package.json named "routescope" in ${join(tmp, 'stray', 'deep')} or any folder above it`);
  });

  it('is the only way sources reach package.json, db/ or resources/ (no path counted in ../ from a module)', () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.(ts|svelte)$/.test(e.name) && !p.endsWith('app-root.ts')) {
          const text = readFileSync(p, 'utf8');
          if (/(\.\.\/)+(package\.json|resources\/|db['/])|'\.\.',\s*'\.\.'/.test(text)) offenders.push(relative(repo, p));
        }
      }
    };
    walk(join(repo, 'src'));
    expect(offenders).toEqual([]);
  });
});
