import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createBackend, DEFAULT_DATA_DIR } from '../../api/handlers.js';
import { isLoopbackHost, startHttpServer, TOKEN_PARAM } from '../../api/http-server.js';
import { parseCommandArgs } from '../args.js';
import { CliError } from '../errors.js';
import type { Command } from '../commands.js';
import { appRoot } from '../../app-root.js';
import { ENGINE_MODES } from '../../capture/engine-thread.js';

const repoRoot = appRoot();

const USAGE = `routescope serve [--port 5178] [--host 127.0.0.1] [--ui out/renderer] [--data ${DEFAULT_DATA_DIR}]
Serves the workbench UI and its API (POST /api/<method>, progress events on the WebSocket /api/events) for a browser.
Prints the address to open, with a fresh secret token (http://127.0.0.1:PORT/?token=...): every API call and the
event socket need it, so other pages and other users of this machine cannot drive the workbench.
  --host NAME  the address to listen on; anything but a loopback address (127.0.0.1, ::1, localhost) exposes the
               workbench (which reads and writes files) to the network, and serve warns about it
  --ui DIR     the built renderer (npm run build writes out/renderer)
  --data DIR   where the projects go (DIR/projects/<id>/project.db, one database per project); default
               ./${DEFAULT_DATA_DIR}
Environment: ROUTESCOPE_TOKEN fixes the token (at least 16 characters), e.g. to keep a page working across restarts.
ROUTESCOPE_EVENT_LOOP_MS=N prints the event loop's delay (p50, p99, max) every N ms on stderr (bench/ui-capture.ts).
ROUTESCOPE_CAPTURE_ENGINE=in-process runs captures' forward passes on the server's own thread instead of a worker
thread (the baseline bench/ui-capture.ts compares against); ROUTESCOPE_EXPERIMENT_ENGINE=in-process does the same
for experiments (the baseline of bench/ui-experiment.ts). Both default to 'worker'. ROUTESCOPE_ANALYSIS_THREAD=main
analyses runs on the server's own thread instead of its analysis thread (the baseline bench/analysis-thread.ts
compares against).`;

/**
 * The event loop's delay over each interval, on stderr, so a benchmark can tell a server busy between onnxruntime
 * runs (tokenising, writing a batch) from a page that stalls on its own.
 */
function logEventLoopDelay(everyMs: number): () => void {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const timer = setInterval(() => {
    // No sample yet: the loop was blocked the whole interval, and the sample that ends the block lands in the next line.
    if (h.count === 0) return;
    const ms = (ns: number) => (ns / 1e6).toFixed(1);
    process.stderr.write(`routescope: event-loop delay p50 ${ms(h.percentile(50))} p99 ${ms(h.percentile(99))} max ${ms(h.max)} ms\n`);
    h.reset();
  }, everyMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    h.disable();
  };
}

/** Where captures or experiments run their engine; a value other than the two is refused by name. */
/** An environment switch with a fixed set of values; anything else is refused by name before the server starts. */
function envChoice<T extends string>(variable: string, allowed: readonly T[]): T | undefined {
  const value = process.env[variable];
  if (value !== undefined && !(allowed as readonly string[]).includes(value)) {
    throw new CliError(`${variable} must be ${allowed.map((a) => `'${a}'`).join(' or ')}, got '${value}'`);
  }
  return value as T | undefined;
}

export const serveCommand: Command = {
  summary: 'serve the workbench UI and API over HTTP for a browser',
  async run(args) {
    const { values, positionals } = parseCommandArgs('serve', args, {
      port: { type: 'string', default: '5178' },
      host: { type: 'string', default: '127.0.0.1' },
      ui: { type: 'string' },
      data: { type: 'string' },
      help: { type: 'boolean' },
    });
    if (values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (positionals.length) throw new CliError(`serve takes no positional arguments (got ${positionals.join(' ')})`);
    const port = Number(values.port);
    if (!/^\d+$/.test(values.port!) || !Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port must be 0-65535, got '${values.port}'`);
    const staticDir = resolve(values.ui ?? resolve(repoRoot, 'out/renderer'));
    if (!existsSync(resolve(staticDir, 'index.html'))) {
      throw new CliError(`no built UI in ${staticDir} (index.html missing): run 'npm run build' first, or pass --ui DIR`);
    }
    if (values.data !== undefined && values.data.trim() === '') throw new CliError('--data must name a folder');
    const dataDir = resolve(values.data ?? DEFAULT_DATA_DIR);
    const engineMode = envChoice('ROUTESCOPE_CAPTURE_ENGINE', ENGINE_MODES);
    const experimentEngineMode = envChoice('ROUTESCOPE_EXPERIMENT_ENGINE', ENGINE_MODES);
    const analysisThread = envChoice('ROUTESCOPE_ANALYSIS_THREAD', ['worker', 'main']);
    const loopEnv = process.env.ROUTESCOPE_EVENT_LOOP_MS;
    if (loopEnv !== undefined && loopEnv !== '' && !/^\d+$/.test(loopEnv)) {
      throw new CliError(`ROUTESCOPE_EVENT_LOOP_MS must be a whole number of milliseconds (0: off), got '${loopEnv}'`);
    }
    const loopMs = Number(loopEnv || 0);
    const backend = createBackend('http', { dataDir, captureEngine: engineMode, experimentEngine: experimentEngineMode, analysisThread });
    const host = values.host!;
    const token = process.env.ROUTESCOPE_TOKEN || randomBytes(24).toString('base64url');
    if (token.length < 16) throw new CliError('ROUTESCOPE_TOKEN must be at least 16 characters');
    const http = await startHttpServer({ host, port, staticDir, handlers: backend.handlers, events: backend.events, token });
    if (!isLoopbackHost(host)) {
      process.stderr.write(`routescope: WARNING: --host ${host} is not a loopback address; anyone who can reach this machine and learns the token can read and write files through the workbench. Prefer 127.0.0.1 and an SSH tunnel.\n`);
    }
    const shown = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    process.stderr.write(`routescope: serving ${staticDir} with data in ${dataDir} (Ctrl-C to stop)\n`);
    process.stderr.write(`routescope: open http://${shown}:${http.port}/?${TOKEN_PARAM}=${token}\n`);
    backend.warmUp();
    const stopLoopLog = loopMs > 0 ? logEventLoopDelay(loopMs) : () => {};
    await new Promise<void>((res) => {
      const stop = () => {
        stopLoopLog();
        backend.dispose();
        void http.close().then(res);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return 0;
  },
};
