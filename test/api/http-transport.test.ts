/**
 * The HTTP transport over real sockets: the token on every API call and WebSocket, the Host allow-list against DNS
 * rebinding, refusal of other sites' pages, 413 for big bodies, 400 for malformed paths, security headers on every
 * answer, and the shared error shape with proper status codes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { EVENTS_PATH, type ApiEvent, type JobInfo } from '../../src/api/contract.js';
import { createBackend } from '../../src/api/handlers.js';
import { isLoopbackHost, startHttpServer, type HttpTransport } from '../../src/api/http-server.js';
import { tempDir } from '../store/helpers.js';

const tmp = tempDir('routescope-http-');
const TOKEN = 'test-token-0123456789abcdef';
const MAX_BODY = 64 * 1024;
let http: HttpTransport;
let base: string;
const backend = createBackend('http', { dataDir: join(tmp.dir, 'data') });
const auth = { authorization: `Bearer ${TOKEN}` };

/** A raw request, so Host and the path can be anything a hostile client would send. */
function raw(opts: { method?: string; path: string; headers?: Record<string, string>; body?: Buffer | string }): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((res, rej) => {
    const req = request({ host: '127.0.0.1', port: http.port, method: opts.method ?? 'GET', path: opts.path, headers: opts.headers }, (r) => {
      let body = '';
      r.on('data', (c: Buffer) => (body += c.toString()));
      r.on('end', () => res({ status: r.statusCode!, headers: r.headers, body }));
    });
    req.on('error', rej);
    req.end(opts.body);
  });
}

function openSocket(path: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  const ws = new WebSocket(`ws://${base}${path}`, { headers });
  return new Promise((res, rej) => ws.once('open', () => res(ws)).once('error', rej));
}

beforeAll(async () => {
  const ui = join(tmp.dir, 'ui');
  mkdirSync(ui);
  writeFileSync(join(ui, 'index.html'), '<!doctype html><title>t</title>');
  http = await startHttpServer({ host: '127.0.0.1', port: 0, staticDir: ui, handlers: backend.handlers, events: backend.events, token: TOKEN, maxBodyBytes: MAX_BODY });
  base = `127.0.0.1:${http.port}`;
});

afterAll(async () => {
  await http?.close();
  tmp.cleanup();
});

describe('HTTP transport', () => {
  it('needs the token on every API call: 401 without it or with a wrong one, 200 with it', async () => {
    const none = await fetch(`http://${base}/api/app.info`, { method: 'POST', body: 'null' });
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'unauthorized', message: expect.stringMatching(/token/) });
    const wrong = await fetch(`http://${base}/api/app.info`, { method: 'POST', body: 'null', headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}x` } });
    expect(wrong.status).toBe(401);
    const inQuery = await fetch(`http://${base}/api/app.info?token=${TOKEN}`, { method: 'POST', body: 'null' });
    expect(inQuery.status).toBe(401);
    const ok = await fetch(`http://${base}/api/app.info`, { method: 'POST', body: 'null', headers: auth });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { ok: boolean; result: { transport: string } }).result.transport).toBe('http');
  });

  it('serves the page itself without a token (the page reads the token from its address)', async () => {
    const r = await fetch(`http://${base}/?token=${TOKEN}`);
    expect(r.status).toBe(200);
    expect(await r.text()).toContain('<title>t</title>');
  });

  it('needs the token on the event WebSocket and delivers events as JSON', async () => {
    await expect(openSocket(EVENTS_PATH)).rejects.toThrow(/401/);
    await expect(openSocket(`${EVENTS_PATH}?token=nope-nope-nope-nope`)).rejects.toThrow(/401/);
    const ws = await openSocket(`${EVENTS_PATH}?token=${TOKEN}`);
    const received = new Promise<ApiEvent>((res) => ws.once('message', (d) => res(JSON.parse(String(d)) as ApiEvent)));
    const job = { id: 'j1', kind: 'capture', projectId: 'p', status: 'running' } as unknown as JobInfo;
    backend.events.emit({ type: 'job', job });
    expect(await received).toEqual({ type: 'job', job });
    ws.close();
  });

  it('refuses Host names that are not this server (DNS rebinding) with 421, on pages, API and sockets', async () => {
    for (const host of ['evil.example', `evil.example:${http.port}`, `127.0.0.1:${http.port + 1}`]) {
      const page = await raw({ path: '/', headers: { host } });
      expect(page.status, host).toBe(421);
      const api = await raw({ method: 'POST', path: '/api/app.info', headers: { host, ...auth }, body: 'null' });
      expect(api.status, host).toBe(421);
      expect(JSON.parse(api.body).error.code).toBe('misdirected-request');
    }
    await expect(openSocket(`${EVENTS_PATH}?token=${TOKEN}`, { host: `evil.example:${http.port}` })).rejects.toThrow(/421/);
    for (const host of [`localhost:${http.port}`, `127.0.0.1:${http.port}`, `[::1]:${http.port}`]) {
      expect((await raw({ path: '/', headers: { host } })).status, host).toBe(200);
    }
  });

  it('refuses WebSockets and API calls from another origin, and unknown socket paths', async () => {
    await expect(openSocket(`${EVENTS_PATH}?token=${TOKEN}`, { origin: 'http://evil.example' })).rejects.toThrow(/403/);
    await expect(openSocket(`/api/other?token=${TOKEN}`)).rejects.toThrow(/404/);
    const r = await fetch(`http://${base}/api/app.info`, { method: 'POST', body: 'null', headers: { origin: 'http://evil.example', ...auth } });
    expect(r.status).toBe(403);
    const same = await fetch(`http://${base}/api/app.info`, { method: 'POST', body: 'null', headers: { origin: `http://${base}`, ...auth } });
    expect(same.status).toBe(200);
  });

  it('answers a body over the limit with 413, declared or streamed, not with a reset connection', async () => {
    const big = Buffer.alloc(MAX_BODY + 1, 0x20);
    const declared = await fetch(`http://${base}/api/app.info`, { method: 'POST', body: big, headers: auth });
    expect(declared.status).toBe(413);
    expect(((await declared.json()) as { error: { code: string } }).error.code).toBe('payload-too-large');
    // Chunked: no content-length, so the server only finds out while reading.
    const streamed = await raw({ method: 'POST', path: '/api/app.info', headers: { ...auth, 'transfer-encoding': 'chunked' }, body: Buffer.alloc(MAX_BODY * 3, 0x20) });
    expect(streamed.status).toBe(413);
    // The server still answers afterwards.
    expect((await fetch(`http://${base}/api/app.info`, { method: 'POST', body: 'null', headers: auth })).status).toBe(200);
  });

  it('answers a malformed path with 400, not 500, and never serves files outside the UI folder', async () => {
    const bad = await raw({ path: '/%E0%A4%A' });
    expect(bad.status).toBe(400);
    const badApi = await raw({ method: 'POST', path: '/api/%ZZ', headers: auth, body: 'null' });
    expect(badApi.status).toBe(400);
    const escape = await raw({ path: '/..%2f..%2fpackage.json' });
    expect([403, 404]).toContain(escape.status);
  });

  it('sends the security headers on every answer', async () => {
    const answers = [
      await raw({ path: '/' }),
      await raw({ path: '/missing.js' }),
      await raw({ method: 'POST', path: '/api/app.info', body: 'null' }),
      await raw({ method: 'POST', path: '/api/app.info', headers: auth, body: 'null' }),
      await raw({ path: '/', headers: { host: 'evil.example' } }),
    ];
    for (const a of answers) {
      expect(a.headers['content-security-policy']).toMatch(/default-src 'self'/);
      expect(a.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
      expect(a.headers['x-content-type-options']).toBe('nosniff');
      expect(a.headers['referrer-policy']).toBe('no-referrer');
    }
  });

  it('answers errors with the shared shape and their HTTP status', async () => {
    const call = (method: string, body: string, method_ = 'POST') => fetch(`http://${base}/api/${method}`, { method: method_, body: method_ === 'POST' ? body : undefined, headers: auth });
    const badArg = await call('jobs.get', JSON.stringify({ jobId: 42 }));
    expect(badArg.status).toBe(400);
    expect(await badArg.json()).toEqual({ ok: false, error: { code: 'invalid-argument', message: 'jobs.get: jobId must be a non-empty string, got 42', details: { field: 'jobId' } } });
    const missing = await call('jobs.get', JSON.stringify({ jobId: 'nope' }));
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string; details: unknown } }).error).toMatchObject({ code: 'not-found', details: { jobId: 'nope' } });
    const unknown = await call('no.such', 'null');
    expect(unknown.status).toBe(404);
    const notJson = await call('app.info', '{not json');
    expect(notJson.status).toBe(400);
    const get = await call('app.info', '', 'GET');
    expect(get.status).toBe(405);
  });

  it('on a wildcard host, accepts this machine\'s own addresses but still no other name', async () => {
    const own = Object.values(networkInterfaces()).flatMap((l) => l ?? []).find((i) => i.family === 'IPv4' && !i.internal)?.address ?? '127.0.0.1';
    const ui = join(tmp.dir, 'ui');
    const wild = await startHttpServer({ host: '0.0.0.0', port: 0, staticDir: ui, handlers: backend.handlers, token: TOKEN });
    try {
      const get = (host: string) =>
        new Promise<number>((res, rej) => request({ host: '127.0.0.1', port: wild.port, path: '/', headers: { host } }, (r) => (r.resume(), res(r.statusCode!))).on('error', rej).end());
      expect(await get(`${own}:${wild.port}`)).toBe(200);
      expect(await get(`evil.example:${wild.port}`)).toBe(421);
    } finally {
      await wild.close();
    }
  });

  it('tells loopback host names from others', () => {
    for (const h of ['127.0.0.1', 'localhost', '::1', '[::1]', '127.1.2.3', 'app.localhost']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '192.168.1.5', 'example.com', '::']) expect(isLoopbackHost(h), h).toBe(false);
  });
});
