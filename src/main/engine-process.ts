import { createBackend } from '../api/handlers.js';
import { dispatch } from '../api/dispatch.js';

// Electron utility-process entry: the same back end and dispatch `routescope serve` uses, behind process.parentPort.
// Replies carry the request id and the shared reply shape; events (job progress) go out as { event } messages.
interface ParentPort {
  on(ev: 'message', cb: (e: { data: unknown }) => void): void;
  postMessage(m: unknown): void;
}
const port = (process as unknown as { parentPort: ParentPort }).parentPort;

const dataFlag = process.argv.indexOf('--data');
const dataDir = dataFlag >= 0 ? process.argv[dataFlag + 1] : undefined;
if (!dataDir) throw new Error('engine process started without --data DIR');

const backend = createBackend('ipc', { dataDir });
backend.events.subscribe((event) => port.postMessage({ event }));
backend.warmUp();

port.on('message', async ({ data }) => {
  const { id, method, args } = data as { id: number; method: unknown; args: unknown };
  port.postMessage({ id, reply: await dispatch(backend.handlers, method, args) });
});
