import { EVENTS_PATH, type ApiArgs, type ApiEvent, type ApiMethod, type ApiResult } from '../../api/contract';
import { ApiError, type ApiReply } from '../../api/errors';

export interface Bridge {
  call<M extends ApiMethod>(method: M, args: ApiArgs<M>): Promise<ApiResult<M>>;
  /** Subscribes to back-end events (job progress); returns the function that unsubscribes. */
  onEvent(listener: (event: ApiEvent) => void): () => void;
  /**
   * HTTP only: told false when the event socket to the server drops (the server stopped or the network went away)
   * and true when it is open again; returns the function that unsubscribes.
   */
  onConnection?: (listener: (up: boolean) => void) => () => void;
  /** Electron only: the native folder picker; resolves null when the user cancels. */
  pickFolder?: () => Promise<string | null>;
}

let cached: Bridge | null = null;

/** What the Electron preload exposes (src/preload): the Bridge, plus the reply as JSON. */
interface PreloadBridge extends Bridge {
  reply?<M extends ApiMethod>(method: M, args: ApiArgs<M>): Promise<ApiReply<ApiResult<M>>>;
}

/** The same contract over either transport: the Electron preload bridge, or HTTP + WebSocket to `routescope serve`. */
export function apiClient(): Bridge {
  const preload = (globalThis as { routescope?: PreloadBridge }).routescope;
  cached ??= preload ? electronBridge(preload) : httpBridge(takeToken());
  return cached;
}

/**
 * Electron: errors are rebuilt here from the reply's JSON, since an error thrown across the context bridge arrives
 * with its message only (no code, no details).
 */
function electronBridge(preload: PreloadBridge): Bridge {
  const reply = preload.reply;
  if (!reply) return preload;
  return {
    async call(method, args) {
      const r = await reply(method, args);
      if (!r.ok) throw ApiError.fromJSON(r.error);
      return r.result;
    },
    onEvent: (listener) => preload.onEvent(listener),
    ...(preload.pickFolder ? { pickFolder: () => preload.pickFolder!() } : {}),
  };
}

const TOKEN_KEY = 'routescope.token';

/**
 * `routescope serve` prints the address with ?token=...; the page keeps the token for this tab (sessionStorage, so
 * a reload keeps working) and removes it from the address bar, so it is not bookmarked, shared or kept in history.
 */
function takeToken(): string | null {
  const url = new URL(location.href);
  const given = url.searchParams.get('token');
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    url.searchParams.delete('token');
    history.replaceState(history.state, '', url.pathname + url.search + url.hash);
    return given;
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

const NO_TOKEN =
  'This page has no API token. Open the address `routescope serve` printed in its terminal (it ends in ?token=...).';

/** The socket's reconnection delays: doubling from the first, never above the last (a restarted server is found soon). */
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 4000;

function httpBridge(token: string | null): Bridge {
  const listeners = new Set<(e: ApiEvent) => void>();
  const connection = new Set<(up: boolean) => void>();
  let socket: WebSocket | null = null;
  let retryMs = RETRY_FIRST_MS;
  let up = true;
  const setUp = (next: boolean) => {
    if (next === up) return;
    up = next;
    for (const l of connection) l(up);
  };

  // One socket shared by all listeners, reopened with backoff if the server restarts; its state is the connection's.
  function connect() {
    if (!token) return;
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${EVENTS_PATH}?token=${encodeURIComponent(token)}`;
    socket = new WebSocket(url);
    socket.onopen = () => {
      retryMs = RETRY_FIRST_MS;
      setUp(true);
    };
    socket.onmessage = (m) => {
      let event: ApiEvent;
      try {
        event = JSON.parse(String(m.data)) as ApiEvent;
      } catch {
        return;
      }
      for (const l of listeners) l(event);
    };
    socket.onclose = () => {
      socket = null;
      if (!listeners.size) return;
      setUp(false);
      setTimeout(() => listeners.size && !socket && connect(), retryMs);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    };
  }

  return {
    async call(method, args) {
      if (!token) throw new ApiError('unauthorized', NO_TOKEN);
      let res: Response;
      try {
        res = await fetch(`/api/${method}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify(args ?? null),
        });
      } catch (err) {
        throw new ApiError('unavailable', `cannot reach the Routescope server (${(err as Error).message}); is \`routescope serve\` still running?`, { connection: true });
      }
      let reply: ApiReply;
      try {
        reply = (await res.json()) as ApiReply;
      } catch {
        throw new ApiError('internal', `${method}: the server answered HTTP ${res.status} without a JSON body`);
      }
      if (!reply.ok) {
        const err = ApiError.fromJSON(reply.error);
        // A server restarted with a new token: say what to do rather than only "unauthorized".
        if (err.code === 'unauthorized') throw new ApiError('unauthorized', `${err.message}. If the server was restarted, open the new address it printed.`);
        throw err;
      }
      return reply.result as never;
    },
    onConnection(listener) {
      connection.add(listener);
      return () => connection.delete(listener);
    },
    onEvent(listener) {
      listeners.add(listener);
      if (!socket) connect();
      return () => {
        listeners.delete(listener);
        if (!listeners.size) socket?.close();
      };
    },
  };
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
