import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { readFile, stat } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { EVENTS_PATH } from './contract.js';
import { dispatch } from './dispatch.js';
import { ApiError, HTTP_STATUS, type ApiReply } from './errors.js';
import type { EventHub } from './events.js';
import type { ApiHandlers } from './handlers.js';

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

/** The query parameter that carries the token in the address `serve` prints, and in the WebSocket URL. */
export const TOKEN_PARAM = 'token';

/**
 * Sent with every response. The page needs only its own scripts and styles (ECharts draws on canvas; Svelte sets
 * inline styles), and must never be framed: a framing page could click buttons for the user.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: OutgoingHttpHeaders = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // The token travels in the first address; no Referer may carry it elsewhere.
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** Host names that always mean this machine. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return LOOPBACK_NAMES.includes(h) || h.endsWith('.localhost') || (isIP(h) === 4 && h.startsWith('127.'));
}

/**
 * The names a browser may use for this server besides loopback: the --host given, and for a wildcard host (0.0.0.0,
 * ::) this machine's own addresses and host name, since the server answers on all of them.
 */
function ownNames(host: string): string[] {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h !== '0.0.0.0' && h !== '::') return [h];
  const addresses = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address.toLowerCase()));
  return [h, hostname().toLowerCase(), ...addresses];
}

export interface ServeOptions {
  host: string;
  port: number;
  /** Folder of the built renderer (index.html + assets). */
  staticDir: string;
  handlers: ApiHandlers;
  /** Back-end events, pushed as JSON text frames to WebSocket clients of EVENTS_PATH. */
  events?: EventHub;
  /** The secret every API call (Authorization: Bearer) and WebSocket (?token=) must present. */
  token: string;
  /** Largest accepted request body; larger ones get 413. Default 4 MiB. */
  maxBodyBytes?: number;
}

/**
 * The HTTP transport of the API contract: POST /api/<method> with a JSON body, a WebSocket at /api/events for
 * progress events, static files otherwise.
 */
export interface HttpTransport {
  server: Server;
  /** The port actually bound (useful with port 0). */
  port: number;
  /** Stops accepting, drops WebSocket clients and open connections, and resolves when the server has closed. */
  close(): Promise<void>;
}

function sameToken(given: string | null | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function bearer(req: IncomingMessage): string | null {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return m ? m[1]! : null;
}

export function startHttpServer(opts: ServeOptions): Promise<HttpTransport> {
  if (opts.token.length < 16) throw new Error('startHttpServer: the API token must be at least 16 characters');
  const root = resolve(opts.staticDir);
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  let boundPort = opts.port;
  const allowedHosts = new Set([...LOOPBACK_NAMES, ...ownNames(opts.host)]);

  /**
   * Against DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 sends Host: evil.example.
   * Only this machine's names and the --host given, on the bound port, are served.
   */
  function hostProblem(req: IncomingMessage): ApiError | null {
    const host = req.headers.host;
    if (!host) return new ApiError('invalid-argument', 'the request has no Host header');
    let url: URL;
    try {
      url = new URL(`http://${host}`);
    } catch {
      return new ApiError('misdirected-request', `Host ${JSON.stringify(host)} is not an address of this server`);
    }
    const name = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
    const port = url.port === '' ? 80 : Number(url.port);
    if (!allowedHosts.has(name) && !isLoopbackHost(name)) {
      return new ApiError('misdirected-request', `Host ${JSON.stringify(host)} is not an address of this server (serving ${[...allowedHosts].join(', ')})`, { host });
    }
    if (port !== boundPort) return new ApiError('misdirected-request', `Host ${JSON.stringify(host)} names port ${port}, this server listens on ${boundPort}`, { host });
    return null;
  }

  /** A page on another site may send requests here; browsers mark them with an Origin, which must be this server. */
  function originProblem(req: IncomingMessage): ApiError | null {
    const origin = req.headers.origin;
    if (origin === undefined) return null;
    try {
      if (new URL(origin).host === req.headers.host) return null;
    } catch {
      // a malformed Origin is refused like a foreign one
    }
    return new ApiError('forbidden', `requests from origin ${origin} are refused`, { origin });
  }

  const server = createServer((req, res) => {
    void route(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendReply(res, { ok: false, error: new ApiError('internal', err instanceof Error ? err.message : String(err)).toJSON() });
      else res.destroy();
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refused = hostProblem(req) ?? originProblem(req);
    if (refused) return sendError(res, refused, req);
    let url: URL;
    let path: string;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
      path = decodeURIComponent(url.pathname);
    } catch {
      return sendError(res, new ApiError('invalid-argument', `malformed request path ${JSON.stringify(req.url)}`), req);
    }
    if (path.includes('\0')) return sendError(res, new ApiError('invalid-argument', 'the request path contains a NUL byte'), req);
    if (url.pathname.startsWith('/api/')) return api(req, res, path.slice(5));
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, new ApiError('method-not-allowed', `use GET for ${url.pathname}`), req);
    const rel = path === '/' ? 'index.html' : path.replace(/^\/+/, '');
    const file = normalize(join(root, rel));
    if (file !== root && !file.startsWith(root + sep)) return sendText(res, 403, 'forbidden');
    try {
      const s = await stat(file);
      if (!s.isFile()) return sendText(res, 404, 'not found');
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': MIME[extname(file)] ?? 'application/octet-stream' });
      res.end(req.method === 'HEAD' ? undefined : await readFile(file));
    } catch {
      sendText(res, 404, 'not found');
    }
  }

  async function api(req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
    if (!sameToken(bearer(req), opts.token)) {
      return sendError(res, new ApiError('unauthorized', 'missing or wrong API token: open the address `routescope serve` printed (it ends in ?token=...)'), req);
    }
    if (req.method !== 'POST') return sendError(res, new ApiError('method-not-allowed', 'use POST for API calls'), req);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBody) return sendError(res, tooLarge(maxBody), req);
    let args: unknown;
    try {
      const text = await readBody(req, maxBody);
      args = text ? JSON.parse(text) : null;
    } catch (err) {
      if (err instanceof ApiError) return sendError(res, err, req);
      return sendError(res, new ApiError('invalid-argument', `bad request body: ${err instanceof Error ? err.message : String(err)}`), req);
    }
    sendReply(res, await dispatch(opts.handlers, method, args));
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 });
  const clients = new Set<WebSocket>();
  server.on('upgrade', (req, socket, head) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return refuseUpgrade(socket, new ApiError('invalid-argument', 'malformed path'));
    }
    const refused =
      hostProblem(req) ??
      originProblem(req) ??
      (url.pathname !== EVENTS_PATH ? new ApiError('not-found', `no WebSocket at ${url.pathname}`) : null) ??
      (sameToken(url.searchParams.get(TOKEN_PARAM), opts.token) ? null : new ApiError('unauthorized', 'missing or wrong token'));
    if (refused) return refuseUpgrade(socket, refused);
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      ws.on('close', () => clients.delete(ws));
      ws.on('error', () => clients.delete(ws));
    });
  });
  const unsubscribe = opts.events?.subscribe((event) => {
    const text = JSON.stringify(event);
    for (const ws of clients) if (ws.readyState === ws.OPEN) ws.send(text);
  });
  const close = () =>
    new Promise<void>((res) => {
      unsubscribe?.();
      for (const ws of clients) ws.terminate();
      wss.close();
      server.close(() => res());
      server.closeAllConnections();
    });

  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      const addr = server.address();
      boundPort = typeof addr === 'object' && addr ? addr.port : opts.port;
      resolvePromise({ server, port: boundPort, close });
    });
  });
}

function tooLarge(max: number): ApiError {
  return new ApiError('payload-too-large', `request body larger than ${max} bytes`, { maxBytes: max });
}

/** Reads the body up to `max` bytes; past that it stops buffering and rejects with a 413 error (the rest is drained). */
function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
        rej(tooLarge(max));
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (!over) res(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', rej);
  });
}

function refuseUpgrade(socket: Duplex, err: ApiError): void {
  const status = err.httpStatus;
  const body = JSON.stringify({ ok: false, error: err.toJSON() });
  socket.end(`HTTP/1.1 ${status} ${reasonPhrase(status)}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

function reasonPhrase(status: number): string {
  const phrases: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 421: 'Misdirected Request' };
  return phrases[status] ?? 'Error';
}

function sendReply(res: ServerResponse, reply: ApiReply): void {
  const status = reply.ok ? 200 : HTTP_STATUS[reply.error.code];
  const body = JSON.stringify(reply);
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * An error answer. When the client may still be sending (a refused or oversized body), the connection is closed after
 * the answer and the rest of the body is read and dropped, so the client sees the status instead of a reset.
 */
function sendError(res: ServerResponse, err: ApiError, req: IncomingMessage): void {
  if (!req.complete) {
    res.setHeader('connection', 'close');
    req.resume();
  }
  sendReply(res, { ok: false, error: err.toJSON() });
}

function sendText(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
  res.end(body);
}
