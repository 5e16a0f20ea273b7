/**
 * What the browser tests and the UI benchmark share: the renderer built from source, `routescope serve` started on a
 * data folder with a fixed token (read back from the address it prints), the API called as the page calls it, and
 * Debian's Chromium launched headless.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { build } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { chromium, type Browser } from 'playwright-core';
import type { ApiArgs, ApiMethod, ApiResult } from '../../src/api/contract.js';

const root = resolve(import.meta.dirname, '../..');

/** Debian's Chromium (.ci/run installs it); CHROMIUM_PATH points elsewhere. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Headless, no sandbox (containers), and nothing that reaches the network on its own. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

/** The renderer bundle built from src/renderer into `outDir`, for `serve --ui`. */
export async function buildRenderer(outDir: string): Promise<void> {
  await build({ root: join(root, 'src/renderer'), logLevel: 'error', plugins: [svelte()], build: { outDir, emptyOutDir: true } });
}

export interface Served {
  process: ChildProcess;
  /** The address as `serve` printed it, token included. */
  url: URL;
  /** http://127.0.0.1:PORT/ without the token. */
  baseUrl: string;
}

/**
 * Starts `routescope serve` with ROUTESCOPE_TOKEN fixed (so a page keeps working across a restart) and resolves once it
 * prints the address to open; rejects with its stderr if it exits first. Port '0' picks a free one. `nodeArgs` go to
 * node before the script (a benchmark's --cpu-prof), `env` is added to this process's environment.
 */
export async function startServe(opts: { data: string; token: string; ui?: string; port?: string; nodeArgs?: string[]; env?: Record<string, string> }): Promise<Served> {
  const args = [...(opts.nodeArgs ?? []), join(root, 'bin/routescope.mjs'), 'serve', '--port', opts.port ?? '0', ...(opts.ui ? ['--ui', opts.ui] : []), '--data', opts.data];
  const server = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...opts.env, ROUTESCOPE_TOKEN: opts.token } });
  const printed = await new Promise<string>((res, rej) => {
    let err = '';
    server.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /open (http:\/\/\S+)/.exec(err);
      if (m) res(m[1]!);
    });
    server.once('exit', (code) => rej(new Error(`serve exited with ${code}: ${err}`)));
  });
  const url = new URL(printed);
  return { process: server, url, baseUrl: `${url.origin}/` };
}

/** Calls the served API with the bearer token, as the page does; an error reply throws its message. */
export function apiClient(baseUrl: () => string, token: string): <M extends ApiMethod>(method: M, args: ApiArgs<M>) => Promise<ApiResult<M>> {
  return async (method, args) => {
    const body = (await (await fetch(`${baseUrl()}api/${method}`, {
      method: 'POST', body: JSON.stringify(args ?? null), headers: { authorization: `Bearer ${token}` },
    })).json()) as { ok: boolean; result: ApiResult<typeof method>; error?: { message: string } };
    if (!body.ok) throw new Error(body.error?.message);
    return body.result;
  };
}
