/**
 * The PyTorch peer process (moe_forward.py) seen from Node: which Python has torch, starting it, and one
 * JSON request/answer per line. Benchmarks only; the app never starts it.
 */
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export const TORCH_INSTALL_HINT = 'apt-get install -y python3-torch libopenblas0-pthread';
const SCRIPT = fileURLToPath(new URL('./moe_forward.py', import.meta.url));

export type PythonChoice = { python: string; torch: string } | { skip: string };

/**
 * The first interpreter that imports torch and numpy: BENCH_TORCH_PYTHON if set, then Debian's /usr/bin/python3
 * (where python3-torch installs), then whatever `python3` is on PATH (a pyenv shim may not see Debian's packages).
 */
export function findTorchPython(candidates = [process.env.BENCH_TORCH_PYTHON, '/usr/bin/python3', 'python3']): PythonChoice {
  const tried: string[] = [];
  for (const python of candidates.filter((c): c is string => !!c)) {
    const r = spawnSync(python, ['-c', 'import numpy, torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return { python, torch: r.stdout.trim() };
    const why = r.error ? r.error.message : (r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`);
    tried.push(`${python}: ${why}`);
  }
  return { skip: `no Python with PyTorch and numpy (${tried.join('; ')}); install them with: ${TORCH_INSTALL_HINT}` };
}

export interface PeerInfo {
  torch: string;
  attention: string;
  experts: string;
  layers: number;
  vocab: number;
  omp_wait_policy: string;
}
export interface PeerPrefill {
  ms: number;
  /** With split: milliseconds in the attention blocks and in the MoE blocks. */
  split_ms?: { attention: number; moe: number };
  experts?: number[][];
  router_logits?: number[][];
  logits?: number[];
}
export interface PeerDecode {
  ms: number[];
  tokens: number[];
}

export class TorchPeer {
  private lines: Interface;
  private pending: ((line: string) => void)[] = [];
  private exited: string | null = null;

  private constructor(private proc: ChildProcessByStdio<Writable, Readable, null>) {
    this.lines = createInterface({ input: proc.stdout });
    this.lines.on('line', (line) => this.pending.shift()?.(line));
    proc.on('exit', (code, signal) => {
      this.exited = `the PyTorch peer exited (${signal ?? `code ${code}`})`;
      for (const waiter of this.pending.splice(0)) waiter(JSON.stringify({ error: this.exited }));
    });
  }

  /** Starts the peer on `modelDir`; resolves once it has mapped the weights. */
  static async start(python: string, modelDir: string): Promise<TorchPeer> {
    const proc = spawn(python, [SCRIPT, '--serve', modelDir], { stdio: ['pipe', 'pipe', 'inherit'] });
    const peer = new TorchPeer(proc);
    await peer.next<{ ready: true }>();
    return peer;
  }

  private next<T>(): Promise<T> {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error(this.exited));
      this.pending.push((line) => {
        const answer = JSON.parse(line) as T & { error?: string };
        if (answer.error) reject(new Error(`PyTorch peer: ${answer.error}`));
        else resolve(answer);
      });
    });
  }

  request<T>(req: Record<string, unknown>): Promise<T> {
    const answer = this.next<T>();
    this.proc.stdin.write(JSON.stringify(req) + '\n');
    return answer;
  }

  info = () => this.request<PeerInfo>({ cmd: 'info' });
  threads = (n: number) => this.request<{ threads: number; openblas: string | null }>({ cmd: 'threads', n });
  prefill = (ids: number[], check = false, split = false) => this.request<PeerPrefill>({ cmd: 'prefill', ids, check, split });
  decode = (prompt: number[], steps: number) => this.request<PeerDecode>({ cmd: 'decode', prompt, steps });

  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.stdin.end();
    await done;
  }
}
