import { utilityProcess, type UtilityProcess } from 'electron';
import type { ApiEvent, ApiMethod } from '../api/contract.js';
import { ApiError, type ApiReply } from '../api/errors.js';

type ChildMessage = { id: number; reply: ApiReply } | { event: ApiEvent };

/**
 * Runs the engine and store in a utility process: onnxruntime's run() blocks its thread, and a crash or
 * out-of-memory there must not take the window down. Requests carry ids; replies keep the back end's error code and
 * details (ApiReply). A dead child answers every pending call with an 'unavailable' error and is restarted.
 * Events the child posts (job progress) go to `onEvent`.
 */
export class EngineHost {
  private child: UtilityProcess;
  private nextId = 1;
  private pending = new Map<number, (reply: ApiReply) => void>();

  constructor(
    private readonly entry: string,
    private readonly dataDir: string,
    private readonly onEvent: (event: ApiEvent) => void,
  ) {
    this.child = this.spawn();
  }

  private spawn(): UtilityProcess {
    const child = utilityProcess.fork(this.entry, ['--data', this.dataDir], { serviceName: 'routescope-engine' });
    child.on('message', (msg: ChildMessage) => {
      if ('event' in msg) {
        this.onEvent(msg.event);
        return;
      }
      const answer = this.pending.get(msg.id);
      if (!answer) return;
      this.pending.delete(msg.id);
      answer(msg.reply);
    });
    child.on('exit', (code) => {
      const lost = new ApiError('unavailable', `engine process exited (code ${code}); running jobs were interrupted, captured batches are kept`, { exitCode: code });
      for (const answer of this.pending.values()) answer({ ok: false, error: lost.toJSON() });
      this.pending.clear();
      this.child = this.spawn();
    });
    return child;
  }

  call(method: ApiMethod, args: unknown): Promise<ApiReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.child.postMessage({ id, method, args });
    });
  }

  dispose(): void {
    this.child.removeAllListeners('exit');
    this.child.kill();
  }
}
