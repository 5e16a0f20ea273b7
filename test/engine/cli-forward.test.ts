/** `routescope forward` and `routescope inspect` run as a user would: a child process on a real model folder. */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WeightStore } from '../../src/engine/safetensors.js';
import { neutralSteering } from '../../src/engine/steering-plan.js';
import { referenceForward } from '../support/reference-forward.js';
import { overwriteF32, writeTinyModel, type TinyModelInfo } from '../support/tiny-models.js';
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

    it('a plan masking every expert of a layer is refused; one leaving fewer than top-k is run with a warning', async () => {
      const all = join(tmp.dir, 'mask-all.json');
      writeFileSync(all, JSON.stringify({ '1': Array.from({ length: model.numExperts }, (_, e) => e) }));
      const r1 = await cli(['forward', model.dir, '--ids', '1,2', '--plan', all, '--json']);
      expect(r1.code).not.toBe(0);
      expect(r1.stdout).toBe('');
      expect(r1.stderr).toMatch(/mask-all\.json: layer 1: every expert is masked/);
      const most = join(tmp.dir, 'mask-most.json');
      writeFileSync(most, JSON.stringify({ '1': Array.from({ length: model.numExperts - 1 }, (_, e) => e) }));
      const r2 = await cli(['forward', model.dir, '--ids', '1,2', '--plan', most, '--json']);
      expect(r2.code, r2.stderr).toBe(0);
      expect(r2.stderr).toMatch(new RegExp(`mask-most\\.json: layer 1: only 1 of ${model.numExperts} experts stay unmasked, fewer than the model's top-${model.topK}`));
      // What the warning says happens: the one open expert takes all the weight, the other slots weigh 0.
      const out = JSON.parse(r2.stdout);
      for (const [t, row] of (out.experts[1] as number[][]).entries()) {
        expect(row[0]).toBe(model.numExperts - 1);
        expect(out.weights[1][t][0]).toBeCloseTo(1, 6);
        for (const w of (out.weights[1][t] as number[]).slice(1)) expect(w).toBe(0);
      }
    });

    it('NaN weights in the checkpoint: refused, naming the layer, instead of printing NaN weights', async () => {
      const dir = join(tmp.dir, 'nan');
      const m = writeTinyModel(dir, 'olmoe', { seed: 21, withoutTokenizer: true });
      overwriteF32(dir, `model.layers.${m.moeLayers[1]}.mlp.gate.weight`, 0, [NaN]);
      const r = await cli(['forward', dir, '--ids', '1,2,3', '--json']);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`router logits of decoder layer ${m.moeLayers[1]} .*are not finite \\(NaN`));
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
