/**
 * GPT-OSS as released: experts in MXFP4 (`*_blocks` / `*_scales`, quantization_config.quant_method 'mxfp4').
 * The checkpoints are packed by the test's own quantiser (test/support/mxfp4.ts, written from the OCP MX spec and
 * the layout transformers reads, not from the engine's decoder); the engine's dequantised tensors must equal the
 * quantised values exactly, and the graph must match the float64 reference run on those values (a twin folder
 * with them as F32). Also: the nibble order and transposition on a hand-packed block, the cache (outside the
 * model folder, reused, rebuilt when damaged), `inspect`, and the refusals naming the bad tensor.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { inspectCommand } from '../../src/cli/commands/inspect.js';
import { decoderSpecFor } from '../../src/engine/architectures/index.js';
import { loadEngine, summarizeModel } from '../../src/engine/index.js';
import { readModelFolder } from '../../src/engine/model-folder.js';
import { dequantiseExpert, dequantiseMxfp4, e2m1Value, findMxfp4Tensors } from '../../src/engine/mxfp4.js';
import { WeightStore } from '../../src/engine/safetensors.js';
import { neutralSteering } from '../../src/engine/steering-plan.js';
import { bf16BitsToF32 } from '../../src/numeric/float16.js';
import { convertToMxfp4, writeRawSafetensors, type RawTensor } from '../support/mxfp4.js';
import { writeDequantizedCopy } from '../support/precision-copies.js';
import { referenceForward } from '../support/reference-forward.js';
import { writeTinyModel } from '../support/tiny-models.js';
import { flipBytes, seededIds, tempDir } from './graph-helpers.js';
import { expectMatchesReference, expectRoutingMatchesReference, expectTopKAgreement, INT8_FIRST_ROUTER_TOL } from './reference-suite.js';

const tmp = tempDir('gpt-oss-mxfp4');
const cache = tempDir('gpt-oss-mxfp4-cache');
afterAll(() => {
  tmp.cleanup();
  cache.cleanup();
});

/** A tiny GPT-OSS whose expert input widths (hidden 64, intermediate 64) span two 32-value blocks. */
function tinyMxfp4(name: string, seed: number): { dir: string; twin: string; known: Map<string, Float32Array> } {
  const dir = join(tmp.dir, name);
  const twin = join(tmp.dir, `${name}-twin`);
  const base = writeTinyModel(join(tmp.dir, `${name}-base`), 'gpt_oss', { seed, hiddenSize: 64, withoutTokenizer: true });
  const config = { ...base.config, intermediate_size: 64, quantization_config: { modules_to_not_convert: ['model.layers.*.self_attn', 'model.layers.*.mlp.router', 'model.embed_tokens', 'lm_head'], quant_method: 'mxfp4' } };
  writeTinyModel(dir, 'gpt_oss', { seed, config });
  return { dir, twin, known: convertToMxfp4(dir, twin) };
}

describe('MXFP4 decoding, by hand', () => {
  it('E2M1 codes decode to the 16 values of the OCP table', () => {
    expect(Array.from({ length: 16 }, (_, c) => e2m1Value(c))).toEqual([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6]);
  });

  it('low nibble first, scale 2^(byte - 127), rows transposed to [K, R]', () => {
    // One expert, R = 2 rows, one block each: row 0 byte 0 = 0x21 (codes 1 then 2), row 1 byte 15 = 0xF8 (-0 then -6).
    const blocks = new Uint8Array(2 * 16);
    blocks[0] = 0x21;
    blocks[16 + 15] = 0xf8;
    const scales = Uint8Array.from([128, 125]);
    const out = dequantiseExpert({ name: 't', blocks: 't_blocks', scales: 't_scales', experts: 1, rows: 2, groups: 1 }, 0, blocks, scales);
    const value = (k: number, r: number) => bf16BitsToF32(out[k * 2 + r]!);
    expect([value(0, 0), value(1, 0)]).toEqual([1, 2]); // 0.5 * 2, 1 * 2
    expect(value(30, 1)).toBe(-0);
    expect(value(31, 1)).toBe(-1.5); // -6 * 2^-2
    expect(Array.from(out).filter((b) => b !== 0 && b !== 0x8000).length).toBe(3);
  });

  it('refuses the E8M0 NaN scale and a scale that overflows BF16, naming the tensor, expert, row and block', () => {
    const t = { name: 'x', blocks: 'x_blocks', scales: 'x_scales', experts: 1, rows: 1, groups: 1 };
    const blocks = new Uint8Array(16).fill(0x77); // code 7 = 6
    expect(() => dequantiseExpert(t, 3, blocks, Uint8Array.from([255]))).toThrow(/MXFP4 tensor 'x_scales': expert 3, row 0, block 0 has scale byte is the E8M0 NaN/);
    expect(() => dequantiseExpert(t, 0, blocks, Uint8Array.from([253]))).toThrow(/scale byte 253 makes the block's values overflow/);
    // The largest finite case: 6 * 2^125.
    expect(bf16BitsToF32(dequantiseExpert(t, 0, blocks, Uint8Array.from([252]))[0]!)).toBe(6 * 2 ** 125);
  });
});

describe('GPT-OSS MXFP4 checkpoint vs the float64 reference', () => {
  let m: ReturnType<typeof tinyMxfp4>;
  beforeAll(() => {
    m = tinyMxfp4('tiny', 17);
  });

  it('dequantises every expert tensor to exactly the packed values, once, outside the model folder', async () => {
    const folder = readModelFolder(m.dir);
    expect(folder.mxfp4?.tensors.map((t) => t.name)).toEqual([...m.known.keys()].sort());
    // Before a session the tensors are known by shape only.
    const gu = 'model.layers.0.mlp.experts.gate_up_proj';
    expect(folder.weights.info(gu).shape).toEqual([8, 64, 128]);
    expect(() => folder.weights.readFloat32(gu)).toThrow(/is stored in MXFP4 \('model\.layers\.0\.mlp\.experts\.gate_up_proj_blocks'.*dequantised when a session loads/);
    const spec = decoderSpecFor(folder.dir, folder.architecture, folder.config, folder.weights);
    // Cancelled: nothing is left in the cache folder.
    const cancelled = tempDir('gpt-oss-mxfp4-cancel');
    const abort = new AbortController();
    abort.abort();
    await expect(dequantiseMxfp4(folder.mxfp4!, folder.dir, spec, cancelled.dir, { signal: abort.signal })).rejects.toThrow(/dequantising the MXFP4 experts was cancelled/);
    expect(readdirSync(join(cancelled.dir, 'mxfp4-dequantised'))).toEqual([]);
    cancelled.cleanup();
    const progress: string[] = [];
    const first = await dequantiseMxfp4(folder.mxfp4!, folder.dir, spec, cache.dir, { onProgress: (p) => progress.push(`${p.layer}/${p.layers}`) });
    expect(progress).toEqual(['1/4', '2/4', '3/4', '4/4']);
    expect(first.reused).toBe(false);
    expect(first.file.startsWith(cache.dir)).toBe(true);
    for (const [name, values] of m.known) expect(first.weights.readFloat32(name), name).toEqual(values);
    const again = await dequantiseMxfp4(folder.mxfp4!, folder.dir, spec, cache.dir);
    expect([again.reused, again.verifiedBy, again.file]).toEqual([true, 'unchanged-file', first.file]);
    // A damaged cache is found by its checksums and rebuilt to the same values.
    flipBytes(first.file, 100, 4);
    const notices: string[] = [];
    const rebuilt = await dequantiseMxfp4(folder.mxfp4!, folder.dir, spec, cache.dir, { onNotice: (n) => notices.push(n) });
    expect(rebuilt.reused).toBe(false);
    expect(notices.join('\n')).toMatch(/MXFP4 dequantisation cache .* does not match its checksum in MXFP4 tensor 'model\.layers\.0\.mlp\.experts\.down_proj'/);
    for (const [name, values] of m.known) expect(rebuilt.weights.readFloat32(name), name).toEqual(values);
  });

  it('the graph matches the reference on the dequantised weights, with steering', async () => {
    const engine = await loadEngine(m.dir, { moeKernel: 'dispatch', cacheDir: cache.dir });
    try {
      const ids = [seededIds(9, engine.info.vocabSize, 5), seededIds(9, engine.info.vocabSize, 6)];
      expectMatchesReference(await engine.forward(ids), referenceForward(m.twin, ids));
      const E = engine.info.numExperts;
      const s = neutralSteering(engine.steeringModel);
      s.perMoeLayer.forEach((l) => ((l.bias[E - 1] = 2), (l.mask[0] = 1)));
      expectMatchesReference(await engine.forward(ids, { steering: s }), referenceForward(m.twin, ids, { steering: s }));
    } finally {
      await engine.dispose();
    }
  });

  it.each([8, 4] as const)('int%i requantises the dequantised MXFP4 values (uniform blocks) and matches the reference on that round trip (int4: routing within 1e-4; int8: top-k agreement)', async (bits) => {
    const engine = await loadEngine(m.dir, { precision: bits === 8 ? 'int8' : 'int4', cacheDir: cache.dir });
    try {
      const ref = join(tmp.dir, `mxfp4-int${bits}-ref`);
      mkdirSync(ref, { recursive: true });
      writeDequantizedCopy(m.twin, ref, bits, engine.info.precision!.blockSize!);
      const ids = [seededIds(9, engine.info.vocabSize, 5)];
      const got = await engine.forward(ids);
      // Attention and the head run through MatMulNBits too: int4's projections are exact on the dequantised weights
      // (accuracy_level 1), the 8-bit head rounds its activations to int8; int8 rounds every projection's input.
      if (bits === 4) expectRoutingMatchesReference(got, referenceForward(ref, ids));
      else expectTopKAgreement(got, referenceForward(ref, ids), ids, INT8_FIRST_ROUTER_TOL);
    } finally {
      await engine.dispose();
    }
  });

  it('inspect counts the dequantised parameters and says the experts are MXFP4', () => {
    const s = summarizeModel(m.dir);
    const twin = summarizeModel(m.twin);
    expect(s.totalParameters).toBe(twin.totalParameters);
    expect(s.activeParameters).toBe(twin.activeParameters);
    expect(s.dtypes).toEqual(['F32', 'U8']);
    expect(s.features[0]).toBe('experts stored in MXFP4 (4 tensors: FP4 E2M1 codes, one E8M0 scale per 32), dequantised once at load to BF16 (exact) in the cache folder');
    expect(s.features.slice(1)).toEqual(twin.features);
    expect(s.memory.plans.map((p) => p.totalBytes)).toEqual(twin.memory.plans.map((p) => p.totalBytes));
  });

  it('`routescope inspect` prints the MXFP4 line and the stored dtypes', async () => {
    const chunks: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (chunks.push(String(chunk)), true));
    try {
      await inspectCommand.run([m.dir]);
    } finally {
      spy.mockRestore();
    }
    const text = chunks.join('');
    expect(text).toContain('experts stored in MXFP4 (4 tensors');
    expect(text).toMatch(/weights\s+F32, U8, /);
  });
});

describe('MXFP4 refusals name the tensor', () => {
  const dir = join(tmp.dir, 'bad');
  let tensors: Record<string, RawTensor>;
  beforeAll(() => {
    tinyMxfp4('bad', 3);
    const store = WeightStore.fromFolder(dir);
    tensors = Object.fromEntries(store.names().map((n) => [n, { dtype: store.info(n).dtype, shape: store.info(n).shape, bytes: new Uint8Array(store.readRaw(n)) }]));
  });
  const withTensors = (edit: (t: Record<string, RawTensor>) => void) => {
    const copy = { ...tensors };
    edit(copy);
    writeRawSafetensors(join(dir, 'model.safetensors'), copy);
    return () => readModelFolder(dir);
  };
  const p = 'model.layers.1.mlp.experts.down_proj';

  it.each<[string, (t: Record<string, RawTensor>) => void, RegExp]>([
    ['a missing scales tensor', (t) => delete t[`${p}_scales`], /MXFP4 tensor 'model\.layers\.1\.mlp\.experts\.down_proj_scales' is missing: the FP4 blocks '.*down_proj_blocks' need one E8M0 scale per 32 values/],
    ['scales without blocks', (t) => delete t[`${p}_blocks`], /MXFP4 tensor '.*down_proj_blocks' is missing: '.*down_proj_scales' holds scales/],
    ['blocks of the wrong shape', (t) => (t[`${p}_blocks`] = { ...t[`${p}_blocks`]!, shape: [8, 64, 4, 8] }), /MXFP4 tensor '.*down_proj_blocks' has shape \[8, 64, 4, 8\]; expected \[experts, rows, blocks per row, 16\]/],
    ['3-D blocks', (t) => (t[`${p}_blocks`] = { ...t[`${p}_blocks`]!, shape: [8, 64, 32] }), /'.*down_proj_blocks' has shape \[8, 64, 32\]/],
    ['scales of the wrong shape', (t) => (t[`${p}_scales`] = { ...t[`${p}_scales`]!, shape: [8, 32, 4] }), /MXFP4 tensor '.*down_proj_scales' has shape \[8, 32, 4\]; its blocks '.*down_proj_blocks' \[8, 64, 2, 16\] need one scale per block: \[8, 64, 2\]/],
    ['blocks that are not U8', (t) => (t[`${p}_blocks`] = { ...t[`${p}_blocks`]!, dtype: 'I8' }), /'.*down_proj_blocks' has dtype I8; MXFP4 blocks are U8/],
    ['both MXFP4 and unquantised experts', (t) => (t[p] = { dtype: 'U8', shape: [1], bytes: new Uint8Array(1) }), /'.*down_proj_blocks' and an unquantised '.*down_proj' are both in the checkpoint/],
  ])('%s', (_name, edit, message) => {
    const open = withTensors(edit);
    expect(open).toThrow(message);
    try {
      open();
    } catch (err) {
      expect((err as { tensor?: string }).tensor).toMatch(/down_proj_(blocks|scales)$/);
    }
  });

  it('blocks whose row count disagrees with config.json: the shape error names the MXFP4 pair', () => {
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeRawSafetensors(join(dir, 'model.safetensors'), tensors);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, intermediate_size: 32 }));
    const folder = readModelFolder(dir);
    expect(() => decoderSpecFor(folder.dir, folder.architecture, folder.config, folder.weights)).toThrow(
      /tensor 'model\.layers\.0\.mlp\.experts\.gate_up_proj' has shape \[8, 64, 128\], expected \[8, 64, 64\] from config\.json \(it is stored in MXFP4/,
    );
    expect(findMxfp4Tensors(folder.mxfp4!.stored)?.length).toBe(4);
  });
});
