/** `routescope forward` and `routescope inspect` run as a user would: a child process on a real model folder. */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WeightStore } from '../../src/engine/safetensors.js';
import { neutralSteering } from '../../src/engine/steering-plan.js';
import { referenceForward } from '../support/reference-forward.js';
import { writeTinyModel, type TinyModelInfo } from '../support/tiny-models.js';
import { relativeError, tempDir } from './graph-helpers.js';

const BIN = resolve(__dirname, '../../bin/routescope.mjs');

/** The CLI's fused-kernel expert cache goes here, not to ~/.cache. */
const cliCache = tempDir('cli-cache');
afterAll(() => cliCache.cleanup());

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 90_000, maxBuffer: 64 * 2 ** 20, env: { ...process.env, ROUTESCOPE_CACHE_DIR: cliCache.dir } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

describe('routescope forward / inspect', () => {
  const tmp = tempDir('cli');
  let model: TinyModelInfo;
  beforeAll(() => {
    model = writeTinyModel(join(tmp.dir, 'olmoe'), 'olmoe', { seed: 21 });
  });
  afterAll(() => tmp.cleanup());

  it('--ids --json prints only JSON that matches the reference forward pass', async () => {
    const ids = [5, 17, 42, 99, 3];
    const r = await cli(['forward', model.dir, '--ids', ids.join(','), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const ref = referenceForward(model.dir, [ids]);
    expect(out.ids).toEqual(ids);
    expect(out.tokens).toHaveLength(ids.length);
    expect(out.moe_layers).toEqual(model.moeLayers);
    expect(out.logits).toHaveLength(ids.length);
    ids.forEach((_, t) => expect(relativeError(out.logits[t], ref.logits[0]![t]!)).toBeLessThan(1e-4));
    model.moeLayers.forEach((_, i) => {
      ids.forEach((_, t) => {
        expect(relativeError(out.router_logits[i][t], ref.routerLogits[i]![0]![t]!)).toBeLessThan(1e-4);
        expect(out.experts[i][t]).toEqual(ref.experts[i]![0]![t]!);
        expect(relativeError(out.weights[i][t], ref.weights[i]![0]![t]!)).toBeLessThan(1e-4);
      });
    });
  });

  it('--text uses the tokenizer and a plan file steers the routing', async () => {
    const plan = join(tmp.dir, 'plan.json');
    writeFileSync(plan, JSON.stringify({ format: 'routescope-plan', version: 1, layers: { '1': { mask: [0, 1], force: { '5': 1 } } } }));
    const r = await cli(['forward', model.dir, '--text', 'hello world', '--plan', plan, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const steering = neutralSteering(model);
    steering.perMoeLayer[1]!.mask.set([1, 1]);
    steering.perMoeLayer[1]!.force[5] = 1;
    const ref = referenceForward(model.dir, [out.ids], { steering });
    for (const [t, row] of (out.experts[1] as number[][]).entries()) {
      expect(row[0]).toBe(5);
      expect(row).not.toContain(0);
      expect(row).not.toContain(1);
      expect(row).toEqual(ref.experts[1]![0]![t]!);
    }
  });

  it('prints a readable summary without --json', async () => {
    const r = await cli(['forward', model.dir, '--ids', '1,2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/layer\s+0: experts/);
  });

  it('inspect reports architecture, layers, experts and parameter counts', async () => {
    const r = await cli(['inspect', model.dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    const store = WeightStore.fromFolder(model.dir);
    const total = store.names().reduce((a, n) => a + store.info(n).shape.reduce((x, y) => x * y, 1), 0);
    const cfg = model.config as { hidden_size: number; intermediate_size: number };
    const perExpert = 3 * cfg.hidden_size * cfg.intermediate_size;
    expect(s.architecture).toBe('OlmoeForCausalLM');
    expect(s.numLayers).toBe(model.numLayers);
    expect(s.moeLayers).toEqual(model.moeLayers);
    expect(s.numExperts).toBe(model.numExperts);
    expect(s.topK).toBe(model.topK);
    expect(s.totalParameters).toBe(total);
    expect(s.activeParameters).toBe(total - model.moeLayers.length * (model.numExperts - model.topK) * perExpert);
    expect(s.dtypes).toEqual(['F32']);
    expect(s.executionProvider.name).toMatch(/^(cpu|cuda)$/);
    const text = await cli(['inspect', model.dir]);
    expect(text.stdout).toMatch(/architecture\s+OlmoeForCausalLM/);
    expect(text.stdout).toMatch(/execution\s+(CPU|CUDA)/);
    // The memory plan: one row per precision, experts at 4/2 bytes per weight, auto's choice explained.
    const plans = s.memory.plans as { precision: string; expertBytes: number; parameters: number; fit: string }[];
    expect(plans.map((p) => p.precision)).toEqual(['fp32', 'fp16', 'int8', 'int4']);
    const expertParams = model.moeLayers.length * model.numExperts * perExpert;
    expect(plans[0]!.expertBytes).toBe(4 * expertParams);
    expect(plans[1]!.expertBytes).toBe(2 * expertParams);
    expect(plans[0]!.parameters).toBe(total);
    expect(s.memory.auto).toMatch(/^fp32: auto: fp32 is the most faithful precision that fits/);
    expect(text.stdout).toMatch(/^\s+fp16\s+\d/m);
    expect(text.stdout).toMatch(/precision auto\s+fp32/);
  });

  it('--precision fp16 runs the 16-bit experts; an unknown or unimplemented precision is refused', async () => {
    const ids = [5, 17, 42, 99, 3];
    const r = await cli(['forward', model.dir, '--ids', ids.join(','), '--json', '--precision', 'fp16']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/precision fp16 \(fp16 requested/);
    const out = JSON.parse(r.stdout);
    const ref = referenceForward(model.dir, [ids]);
    ids.forEach((_, t) => expect(relativeError(out.logits[t], ref.logits[0]![t]!)).toBeLessThan(5e-3));
    const bad = await cli(['forward', model.dir, '--ids', '1', '--precision', 'fp8']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--precision must be auto, fp32, fp16, int8, int4; got 'fp8'/);
    const int4 = await cli(['forward', model.dir, '--ids', '1', '--precision', 'int4']);
    expect(int4.code).not.toBe(0);
    expect(int4.stderr).toMatch(/precision int4 is not implemented yet/);
  });

  describe('bad input gives a clear error and a non-zero exit', () => {
    it('missing config.json', async () => {
      const empty = join(tmp.dir, 'empty');
      mkdirSync(empty, { recursive: true });
      for (const cmd of ['forward', 'inspect']) {
        const r = await cli(cmd === 'forward' ? [cmd, empty, '--ids', '1'] : [cmd, empty]);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toMatch(/config\.json/);
        expect(r.stdout).toBe('');
      }
    });

    it('unknown architecture', async () => {
      const dir = join(tmp.dir, 'llama');
      writeTinyModel(dir, 'mixtral', { withoutTokenizer: true, configOverrides: { architectures: ['LlamaForCausalLM'] } });
      const r = await cli(['forward', dir, '--ids', '1,2']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/LlamaForCausalLM/);
      expect(r.stderr).toMatch(/Qwen3MoeForCausalLM/);
    });

    it('plan naming a layer or expert that does not exist', async () => {
      const badLayer = join(tmp.dir, 'bad-layer.json');
      writeFileSync(badLayer, JSON.stringify({ '7': [0] }));
      const r1 = await cli(['forward', model.dir, '--ids', '1,2', '--plan', badLayer]);
      expect(r1.code).not.toBe(0);
      expect(r1.stderr).toMatch(/bad-layer\.json/);
      expect(r1.stderr).toMatch(/7/);
      const badExpert = join(tmp.dir, 'bad-expert.json');
      writeFileSync(badExpert, JSON.stringify({ '0': [0, 99] }));
      const r2 = await cli(['forward', model.dir, '--ids', '1,2', '--plan', badExpert]);
      expect(r2.code).not.toBe(0);
      expect(r2.stderr).toMatch(/bad-expert\.json/);
      expect(r2.stderr).toMatch(/99/);
    });

    it('out-of-vocabulary and malformed ids', async () => {
      const r1 = await cli(['forward', model.dir, '--ids', `1,${model.vocabSize}`]);
      expect(r1.code).not.toBe(0);
      expect(r1.stderr).toMatch(new RegExp(`${model.vocabSize}.*outside the vocabulary`));
      const r2 = await cli(['forward', model.dir, '--ids', '1,x']);
      expect(r2.code).not.toBe(0);
      expect(r2.stderr).toMatch(/--ids/);
      const r3 = await cli(['forward', model.dir]);
      expect(r3.code).not.toBe(0);
      expect(r3.stderr).toMatch(/--text or --ids/);
    });
  });
});
