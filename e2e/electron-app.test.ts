import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { _electron } from 'playwright-core';

const root = resolve(import.meta.dirname, '..');

// Electron's binary comes from GitHub releases, which `npm install` here cannot reach (allowScripts skips its
// download); on a developer machine with the binary and a display this test drives the real app window.
function electronBinary(): string | null {
  try {
    const path = createRequire(import.meta.url)('electron') as unknown;
    return typeof path === 'string' && existsSync(path) ? path : null;
  } catch {
    return null;
  }
}

const binary = electronBinary();
const built = existsSync(resolve(root, 'out/main/index.js'));
const reason = !binary
  ? "Electron's binary is not installed (its download is skipped offline; run `node node_modules/electron/install.js`)"
  : !built
    ? 'the app is not built (run `npm run build`)'
    : !process.env.DISPLAY
      ? 'no display (run under xvfb-run)'
      : '';

describe.skipIf(reason !== '')(`Electron app window${reason ? ` — skipped: ${reason}` : ''}`, () => {
  it('opens a window that shows the execution provider over IPC', async () => {
    const app = await _electron.launch({ executablePath: binary!, args: [root] });
    try {
      const win = await app.firstWindow();
      await win.getByTestId('app-info').waitFor();
      expect(await win.getByTestId('ep').textContent()).toMatch(/^(cpu|cuda)$/);
    } finally {
      await app.close();
    }
  });

  it.skipIf(!existsSync(resolve(root, 'resources/demo-model/model.safetensors')))('captures in the demo project over IPC, with progress events from the utility process', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'routescope-electron-'));
    const app = await _electron.launch({ executablePath: binary!, args: [root], env: { ...process.env, ROUTESCOPE_DATA_DIR: dataDir } });
    try {
      const win = await app.firstWindow();
      await win.getByTestId('create-demo').click();
      await win.getByTestId('capture').waitFor();
      const selected = Number(await win.getByTestId('selected-count').textContent());
      await win.getByTestId('limit').fill('2');
      await win.getByTestId('start-capture').click();
      await win.getByTestId('progress-bar').waitFor();
      await win.getByTestId('capture-done').waitFor({ timeout: 100_000 });
      await win.getByTestId('open-analysis').click();
      await win.getByTestId('results').waitFor({ timeout: 100_000 });
      expect(Number(await win.getByTestId('languages-count').textContent())).toBe(selected);
      // The demo project's folder: its name's slug and a creation stamp (src/api/workspace.ts).
      const folder = readdirSync(join(dataDir, 'projects')).find((d) => /^demo-[a-z0-9]{10}$/.test(d));
      expect(folder && existsSync(join(dataDir, 'projects', folder, 'project.db'))).toBe(true);
    } finally {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
