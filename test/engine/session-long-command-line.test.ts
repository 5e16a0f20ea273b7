/**
 * A process started with a long command line must load and run a model (issue #11, item 1: a ~29,000-character
 * argument used to kill the process with SIGSEGV while onnxruntime created its environment; see
 * disableOnnxruntimeTelemetry in src/engine/execution-provider.ts). The model has Qwen3-30B-A3B's depth and
 * width (48 MoE layers of 128 experts, top-8) with a tiny hidden size, so the same run also shows that a graph
 * of that shape is created and run in a fresh process; its routing is checked against the reference.
 */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceForward } from '../support/reference-forward.js';
import { writeTinyModel, type TinyModelInfo } from '../support/tiny-models.js';
import { tempDir } from './graph-helpers.js';

const ROOT = resolve(__dirname, '../..');
const CHILD = join(ROOT, 'test/support/forward-child.ts');
const BIN = join(ROOT, 'bin/routescope.mjs');

interface ChildResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Runs node with `args`; the child's environment asks for onnxruntime's telemetry, which the engine must override. */
function node(args: string[]): Promise<ChildResult> {
  return new Promise((done) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout: 110_000, maxBuffer: 64 * 2 ** 20, env: { ...process.env, ORT_DISABLE_TELEMETRY: '0' } }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; signal?: string }) | null;
      done({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr });
    });
  });
}

describe('a long command line', () => {
  const tmp = tempDir('long-argv');
  let model: TinyModelInfo;
  beforeAll(() => {
    model = writeTinyModel(join(tmp.dir, 'qwen3-30b-a3b-shape'), 'qwen3_moe', {
      seed: 48,
      numLayers: 48,
      numExperts: 128,
      topK: 8,
      hiddenSize: 16,
      numHeads: 2,
      numKvHeads: 1,
      fusedExperts: true,
      configOverrides: { mlp_only_layers: [] },
    });
  });
  afterAll(() => tmp.cleanup());

  it('a 48-layer, 128-expert model loads and runs in a process with a 100 KB argument', async () => {
    expect(model.moeLayers).toHaveLength(48);
    const ids = [5, 17, 42];
    const r = await node(['--import', 'tsx', CHILD, model.dir, join(tmp.dir, 'cache'), ids.join(','), 'x'.repeat(100_000)]);
    expect({ code: r.code, signal: r.signal }, r.stderr).toEqual({ code: 0, signal: null });
    const out = JSON.parse(r.stdout) as { moeKernel: string; experts: number[][] };
    expect(out.moeKernel).toBe('fused');
    const ref = referenceForward(model.dir, [ids]);
    expect(out.experts).toEqual(ref.experts.map((layer) => layer[0]!.flat()));
  });

  it("the issue's command: a 29,000-character --plan path gets the normal plan error, not a crash", async () => {
    const r = await node([BIN, 'forward', join(ROOT, 'resources/demo-model'), '--ids', '5', '--plan', `/x/${'a'.repeat(29_000)}`]);
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 1, signal: null });
    expect(r.stderr).toMatch(/cannot read plan/);
  });
});
