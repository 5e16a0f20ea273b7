/**
 * The fp16 CUDA graph (src/engine/half-fused-experts.ts): fp16 experts in one com.microsoft.MoE node per layer,
 * Casts around it, our routing fed as crafted logits. No GPU here, so it is RUN on onnxruntime's CPU provider,
 * which has no fp16 MoE kernel: it inserts Casts, i.e. runs the fp32 op on the fp16 weights, and (observed)
 * drops the activations' fp32 -> fp16 -> fp32 round trips. So on CPU the graph must equal the float64 reference on
 * fp16-rounded expert weights within the fp32 tolerance (1e-4), with identical experts: that checks the F16
 * layout (interleaved gate/up, fc2), the crafted routing and the wiring. What CUDA adds, fp16 activations, is
 * modelled by the reference's `roundMoeIo` (input, log-weights and routed sum rounded to fp16): the CPU result is
 * within the fp16 tolerance (5e-3, docs/precision.md) of it with the same expert sets, which is the agreement the
 * CUDA check (tools/cuda-check) asks of the GPU run. Also: the kernel choice per provider, the overflow refusal,
 * and the export for tools/cuda-check (loaded from its own folder; its Python comparison run without onnxruntime).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseHalfKernel, halfFusedCacheBytes } from '../../src/engine/half-fused-experts.js';
import { exportHalfFusedGraph, type SavedTensors } from '../../src/engine/onnx-export.js';
import { DecoderSession } from '../../src/engine/session.js';
import { roundToF16 } from '../../src/numeric/float16.js';
import { referenceForward } from '../support/reference-forward.js';
import { overwriteF32, writeTinyModel, TINY_ARCHS, type TinyArch } from '../support/tiny-models.js';
import { writeRoundedCopy } from '../support/precision-copies.js';
import { relativeError, seededIds, specWithConfig, tempDir } from './graph-helpers.js';
import { expectCloseWithSameExperts, expectMatchesReference } from './reference-suite.js';

const FP16_TOL = 5e-3;
const cache = tempDir('fp16-cuda-cache');
afterAll(() => cache.cleanup());

describe('the fp16 MoE kernel per execution provider', () => {
  it('takes the fp16 fused op on CUDA, the dispatch kernel on CPU unless fused is asked for', () => {
    expect(chooseHalfKernel('cuda', undefined)).toMatchObject({ name: 'fused', halfFused: true });
    expect(chooseHalfKernel('cuda', 'auto')).toMatchObject({ name: 'fused', halfFused: true });
    expect(chooseHalfKernel('cuda', 'dispatch')).toMatchObject({ name: 'dispatch', halfFused: false });
    expect(chooseHalfKernel('cpu', undefined)).toMatchObject({ name: 'dispatch', halfFused: false });
    expect(chooseHalfKernel('cpu', 'fused')).toMatchObject({ name: 'fused', halfFused: true });
    expect(chooseHalfKernel('cpu', 'fused').reason).toMatch(/not a memory saving/);
  });
});

describe.each(TINY_ARCHS)('fp16 CUDA graph run on CPU (%s)', (arch: TinyArch) => {
  const tmp = tempDir(`fp16c-${arch}`);
  const rounded = tempDir(`fp16c-rounded-${arch}`);
  let s: DecoderSession;
  let ids: number[][];

  beforeAll(async () => {
    writeTinyModel(tmp.dir, arch, { seed: 31 });
    writeRoundedCopy(tmp.dir, rounded.dir);
    s = await DecoderSession.load(tmp.dir, { precision: 'fp16', moeKernel: 'fused', cacheDir: cache.dir });
    ids = [seededIds(7, s.info.vocabSize, 8), seededIds(7, s.info.vocabSize, 9)];
  });
  afterAll(async () => {
    await s?.dispose();
    tmp.cleanup();
    rounded.cleanup();
  });

  it('holds every expert weight at 2 bytes in its own cache', () => {
    expect(s.info.moeKernel?.name).toBe('fused');
    const file = s.info.precision!.cacheFile!;
    expect(file.startsWith(join(cache.dir, 'fp16-fused-experts'))).toBe(true);
    // By hand from the config: experts x 3 matrices x I x H per MoE layer, 2 bytes each (plus 4 KiB alignment).
    const spec = specWithConfig(tmp.dir, () => {});
    const c = JSON.parse(readFileSync(join(tmp.dir, 'config.json'), 'utf8')) as Record<string, number>;
    const I = c.moe_intermediate_size ?? c.intermediate_size!;
    const byHand = spec.moeLayers.length * spec.numExperts * 3 * I * spec.hiddenSize * 2;
    expect(halfFusedCacheBytes(spec)).toBe(byHand);
    expect(statSync(file).size).toBeGreaterThanOrEqual(byHand);
    expect(statSync(file).size).toBeLessThan(byHand + 2 * spec.moeLayers.length * 4096);
  });

  it('equals the reference on fp16-rounded expert weights within 1e-4, experts identical', async () => {
    expectMatchesReference(await s.forward(ids), referenceForward(rounded.dir, ids));
  });

  it('is within the fp16 tolerance of the reference with fp16 activations around the op, same expert sets', async () => {
    const got = await s.forward(ids);
    const ref = referenceForward(rounded.dir, ids, { roundMoeIo: roundToF16 });
    expectCloseWithSameExperts(got, ref, ids, FP16_TOL);
  });
});

describe('fp16 CUDA graph: refusals and export', () => {
  const src = tempDir('fp16c-src');
  const out = tempDir('fp16c-out');
  afterAll(() => (src.cleanup(), out.cleanup()));

  it('refuses an expert weight beyond the fp16 range, naming it', async () => {
    const big = tempDir('fp16c-big');
    writeTinyModel(big.dir, 'olmoe', { seed: 7 });
    overwriteF32(big.dir, 'model.layers.1.mlp.experts.3.down_proj.weight', 5, [1e5]);
    await expect(DecoderSession.load(big.dir, { precision: 'fp16', moeKernel: 'fused', cacheDir: cache.dir })).rejects.toThrow(
      /decoder layer 1's expert 3 down_proj holds 100000, beyond fp16's range \(65504\).*--precision fp32/,
    );
    big.cleanup();
  });

  it('exports a folder that loads on its own and reproduces the session, and the Python comparison catches differences', async () => {
    writeTinyModel(src.dir, 'qwen3_moe', { seed: 31 });
    const ex = await exportHalfFusedGraph(src.dir, out.dir, { cacheDir: cache.dir });
    for (const f of ['model.onnx', 'inputs.json', 'cpu-outputs.json', 'meta.json', ...ex.files]) expect(existsSync(join(out.dir, f)), f).toBe(true);
    const ids = [ex.inputs.input_ids!.data.slice(0, 8), ex.inputs.input_ids!.data.slice(8)];
    const s = await DecoderSession.load(src.dir, { precision: 'fp16', moeKernel: 'fused', cacheDir: cache.dir });
    const got = await s.forward(ids);
    await s.dispose();
    expect(relativeError(ex.cpuOutputs.logits!.data, got.logits)).toBeLessThan(1e-6);
    expect(ex.cpuOutputs['topk_experts.0']!.data).toEqual(Array.from(got.routing![0]!.experts));
    await expect(exportHalfFusedGraph(src.dir, join(src.dir, 'inside'), { cacheDir: cache.dir })).rejects.toThrow(/lies inside the model folder/);

    let python = true;
    try {
      execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' });
    } catch {
      python = false;
    }
    if (!python) {
      console.warn('python3 with numpy not found: the check_cuda.py comparison is not exercised');
      return;
    }
    const script = join(__dirname, '../../tools/cuda-check/check_cuda.py');
    const check = (outputs: SavedTensors) => {
      const file = join(out.dir, 'other.json');
      writeFileSync(file, JSON.stringify(outputs));
      try {
        execFileSync('python3', ['-B', script, out.dir, '--outputs', file], { encoding: 'utf8' });
        return 'pass';
      } catch (err) {
        return String((err as { stdout?: string }).stdout);
      }
    };
    const edit = (f: (o: SavedTensors) => void) => {
      const o = JSON.parse(JSON.stringify(ex.cpuOutputs)) as SavedTensors;
      f(o);
      return o;
    };
    expect(check(ex.cpuOutputs)).toBe('pass');
    expect(check(edit((o) => (o.logits!.data = o.logits!.data.map((v) => v * (1 + 1e-3)))))).toBe('pass');
    expect(check(edit((o) => (o.logits!.data[3] = o.logits!.data[3]! + 1)))).toMatch(/logits differ by/);
    expect(check(edit((o) => (o['topk_experts.0']!.data[0] = (o['topk_experts.0']!.data[0]! + 1) % 8)))).toMatch(/expert sets of MoE layer 0 differ/);
  });
});
