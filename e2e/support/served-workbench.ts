/**
 * The suite fixture of the browser tests that drive one workbench: before the suite, the renderer built from source,
 * `routescope serve` started on a fresh data folder with the given token, and Debian's Chromium launched; after it,
 * all three stopped and the folder removed. Read the fields inside tests (they are set in beforeAll).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { buildRenderer, launchChromium, startServe } from './browser.js';

export interface ServedWorkbench {
  readonly tmp: string;
  readonly baseUrl: string;
  readonly browser: Browser;
  readonly server: ChildProcess;
}

export function useServedWorkbench(prefix: string, token: string, opts: { artefacts?: string } = {}): ServedWorkbench {
  let state: { tmp: string; baseUrl: string; browser: Browser; server: ChildProcess } | undefined;
  let tmp: string | undefined;
  let server: ChildProcess | undefined;
  const get = () => {
    if (!state) throw new Error('the served workbench is read before its beforeAll ran');
    return state;
  };
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), `routescope-${prefix}-`));
    const outDir = join(tmp, 'ui');
    if (opts.artefacts) mkdirSync(opts.artefacts, { recursive: true });
    await buildRenderer(outDir);
    const served = await startServe({ data: join(tmp, 'data'), ui: outDir, token });
    server = served.process;
    state = { tmp, baseUrl: served.baseUrl, server, browser: await launchChromium() };
  }, 120_000);
  afterAll(async () => {
    await state?.browser.close();
    server?.kill();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
  return {
    get tmp() { return get().tmp; },
    get baseUrl() { return get().baseUrl; },
    get browser() { return get().browser; },
    get server() { return get().server; },
  };
}
