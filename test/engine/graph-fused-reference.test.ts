/**
 * The fused com.microsoft.MoE kernel: the full reference suite (all five architectures, steering, padding,
 * layouts, F16/BF16, shards) plus the cases where the op's own routing could differ from ours: exact ties,
 * selected experts whose weight is 0, every expert masked; and the expert cache (outside the model folder,
 * reused, never writing into the model folder).
 */
import { readdirSync, readFileSync, realpathSync, rmSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decoderSpecFor } from '../../src/engine/architectures/index.js';
import { prepareFusedExpertCache } from '../../src/engine/expert-cache.js';
import { readModelFolder } from '../../src/engine/model-folder.js';
import { DecoderSession } from '../../src/engine/session.js';
import type { SteeringTensors } from '../../src/engine/steering-plan.js';
import { referenceForward } from '../support/reference-forward.js';
import { writeTinyModel, TINY_ARCHS, type TinyArch } from '../support/tiny-models.js';
import { editedSteering, flipBytes, relativeError, row, seededIds, tempDir } from './graph-helpers.js';
import { expectMatchesReference, referenceSuite } from './reference-suite.js';

referenceSuite('fused');

function listing(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => `${f}:${statSync(join(dir, f)).size}:${statSync(join(dir, f)).mtimeMs}`)
    .sort();
}

describe.each(TINY_ARCHS)('fused kernel routing edge cases (%s)', (arch: TinyArch) => {
  const tmp = tempDir(`fused-${arch}`);
  const cache = tempDir(`fused-cache-${arch}`);
  let fused: DecoderSession;
  let dispatch: DecoderSession;
  let ids: number[][];
  const steering = (edit: (t: SteeringTensors, E: number) => void) => editedSteering(fused.info, edit);

  beforeAll(async () => {
    writeTinyModel(tmp.dir, arch, { seed: 21 });
    fused = await DecoderSession.load(tmp.dir, { moeKernel: 'fused', cacheDir: cache.dir });
    dispatch = await DecoderSession.load(tmp.dir, { moeKernel: 'dispatch', cacheDir: cache.dir });
    ids = [seededIds(6, fused.info.vocabSize, 5), seededIds(6, fused.info.vocabSize, 6)];
  });
  afterAll(async () => {
    await fused?.dispose();
    await dispatch?.dispose();
    tmp.cleanup();
    cache.cleanup();
  });

  it('reports the kernel it runs', () => {
    expect(fused.info.moeKernel?.name).toBe('fused');
    expect(dispatch.info.moeKernel?.name).toBe('dispatch');
  });

  const cases: [string, (t: SteeringTensors, E: number) => void][] = [
    // Three experts forced to exactly the same logit: a tie the op would break towards the highest index.
    ['an exact three-way tie (lower index wins)', (t) => t.perMoeLayer.forEach((l) => ((l.force[1] = 0.5), (l.force[2] = 0.5), (l.force[3] = 0.5)))],
    // All but one expert masked: the k-1 other selected experts have weight exactly 0.
    ['all but one expert masked (zero-weight experts selected)', (t, E) => t.perMoeLayer.forEach((l) => l.mask.fill(1, 0, E - 1))],
    ['every expert masked (uniform weights, lowest indices)', (t) => t.perMoeLayer.forEach((l) => l.mask.fill(1))],
  ];
  it.each(cases)('matches the reference and the dispatch kernel with %s', async (_name, edit) => {
    const s = steering(edit);
    const got = await fused.forward(ids, { steering: s });
    const other = await dispatch.forward(ids, { steering: s });
    expectMatchesReference(got, referenceForward(tmp.dir, ids, { steering: s }));
    expect(relativeError(got.logits, other.logits)).toBeLessThan(1e-5);
    got.routing!.forEach((l, i) => expect(Array.from(l.experts)).toEqual(Array.from(other.routing![i]!.experts)));
  });

  it('breaks the forced tie towards the lower expert index', async () => {
    const k = fused.info.topK;
    const got = await fused.forward(ids, { steering: steering((t) => t.perMoeLayer.forEach((l) => ((l.force[1] = 0.5), (l.force[2] = 0.5), (l.force[3] = 0.5)))) });
    for (const layer of got.routing!) {
      for (let r = 0; r < layer.experts.length / k; r++) expect(row(layer.experts, r, k).slice(0, 2)).toEqual([1, 2]);
    }
  });

  it('changing steering values needs no reload (same session, neutral again afterwards)', async () => {
    const before = await fused.forward(ids);
    await fused.forward(ids, { steering: steering((t) => t.perMoeLayer.forEach((l) => (l.bias[0] = 50))) });
    const after = await fused.forward(ids);
    expect(Array.from(after.logits)).toEqual(Array.from(before.logits));
  });
});

describe('fused expert cache', () => {
  const tmp = tempDir('fused-cache-model');
  const cache = tempDir('fused-cache-root');
  beforeAll(() => writeTinyModel(tmp.dir, 'qwen3_moe', { seed: 4, withoutTokenizer: true }));
  afterAll(() => {
    tmp.cleanup();
    cache.cleanup();
  });

  it('is written outside the model folder once, reused on the next load, and leaves the model folder untouched', async () => {
    const before = listing(tmp.dir);
    const progress: number[] = [];
    const a = await DecoderSession.load(tmp.dir, { moeKernel: 'fused', cacheDir: cache.dir, onCacheProgress: (p) => progress.push(p.layer) });
    expect(a.info.moeKernel?.cacheReused).toBe(false);
    expect(a.info.moeKernel!.cacheFile!.startsWith(realpathSync(cache.dir))).toBe(true);
    expect(progress).toEqual(a.info.moeLayers.map((_, i) => i + 1));
    const ids = [seededIds(5, a.info.vocabSize, 1)];
    const first = await a.forward(ids);
    await a.dispose();
    const cacheFiles = listing(cache.dir);
    const b = await DecoderSession.load(tmp.dir, { moeKernel: 'fused', cacheDir: cache.dir });
    expect(b.info.moeKernel?.cacheReused).toBe(true);
    expect(listing(cache.dir)).toEqual(cacheFiles);
    expect(Array.from((await b.forward(ids)).logits)).toEqual(Array.from(first.logits));
    await b.dispose();
    expect(listing(tmp.dir)).toEqual(before);
  });

  it('a byte flip that keeps size and mtime is caught on the next load, announced, and the cache rebuilt', async () => {
    const root = tempDir('fused-corrupt-root');
    try {
      const a = await DecoderSession.load(tmp.dir, { moeKernel: 'fused', cacheDir: root.dir });
      const ids = [seededIds(5, a.info.vocabSize, 1)];
      const good = await a.forward(ids);
      const file = a.info.moeKernel!.cacheFile!;
      const secondMoeLayer = a.info.moeLayers[1]!;
      await a.dispose();
      const pristine = readFileSync(file);
      // Inside the fc1 experts of the second MoE layer: the cache's layout is in its manifest.
      const manifest = JSON.parse(readFileSync(file.replace(/\.bin$/, '.json'), 'utf8')) as { data: { layers: { fc1: { offset: number; length: number } }[] } };
      const seg = manifest.data.layers[1]!.fc1;
      flipBytes(file, seg.offset + Math.floor(seg.length / 2), 8);
      const notices: string[] = [];
      const b = await DecoderSession.load(tmp.dir, { moeKernel: 'fused', cacheDir: root.dir, onCacheNotice: (m) => notices.push(m) });
      expect(b.info.moeKernel?.cacheReused).toBe(false);
      const rebuilt = new RegExp(`expert cache .* does not match its checksum in decoder layer ${secondMoeLayer}'s fc1 experts .*; rebuilding it`);
      expect(notices.filter((m) => rebuilt.test(m)), notices.join('\n')).toHaveLength(1);
      expect(readFileSync(b.info.moeKernel!.cacheFile!).equals(pristine)).toBe(true);
      expect(Array.from((await b.forward(ids)).logits)).toEqual(Array.from(good.logits));
      await b.dispose();
    } finally {
      root.cleanup();
    }
  });

  it('trusts an unchanged file without reading it, re-hashes a touched one, and rebuilds truncated or orphaned entries', async () => {
    const root = tempDir('fused-verify-root');
    try {
      const folder = readModelFolder(tmp.dir);
      const spec = decoderSpecFor(folder.dir, folder.architecture, folder.config, folder.weights);
      const notices: string[] = [];
      const prepare = () => prepareFusedExpertCache(spec, folder.weights, folder.dir, root.dir, { onNotice: (m) => notices.push(m) });
      const written = await prepare();
      expect([written.reused, written.verifiedBy]).toEqual([false, 'written']);
      expect((await prepare()).verifiedBy).toBe('unchanged-file');
      expect(notices).toEqual([]);
      const pristine = readFileSync(written.file);
      // Same bytes, same mtime, but the file was written to: its checksums are checked once, then trusted again.
      flipBytes(written.file, written.layers[0]!.fc1.offset, 4);
      flipBytes(written.file, written.layers[0]!.fc1.offset, 4);
      expect(readFileSync(written.file).equals(pristine)).toBe(true);
      const touched = await prepare();
      expect([touched.reused, touched.verifiedBy]).toEqual([true, 'checksums']);
      expect(notices).toHaveLength(1);
      expect(notices[0]).toMatch(/changed on disk since it was last verified; checking its checksums/);
      expect((await prepare()).verifiedBy).toBe('unchanged-file');
      // A truncated file (size no longer the manifest's), then a data file without its manifest: both rebuilt, said once each.
      truncateSync(written.file, written.bytes - 100);
      const afterTruncate = await prepare();
      expect(afterTruncate.verifiedBy).toBe('written');
      expect(notices[1]).toMatch(new RegExp(`is ${written.bytes - 100} bytes long where its manifest says ${written.bytes}; rebuilding it`));
      rmSync(written.file.replace(/\.bin$/, '.json'));
      expect((await prepare()).verifiedBy).toBe('written');
      expect(notices[2]).toMatch(/has no manifest; rebuilding it/);
      expect(notices).toHaveLength(3);
      expect(readFileSync(written.file).equals(pristine)).toBe(true);
    } finally {
      root.cleanup();
    }
  });

  it('writing the cache can be cancelled and leaves no partial file', async () => {
    const other = tempDir('fused-cancel-root');
    try {
      const ac = new AbortController();
      const load = DecoderSession.load(tmp.dir, { moeKernel: 'fused', cacheDir: other.dir, signal: ac.signal, onCacheProgress: () => ac.abort() });
      await expect(load).rejects.toThrow(/expert cache was cancelled/);
      expect(readdirSync(join(other.dir, 'fused-experts'))).toEqual([]);
    } finally {
      other.cleanup();
    }
  });

  it('auto picks the fused kernel on CPU and says why', async () => {
    const s = await DecoderSession.load(tmp.dir, { cacheDir: cache.dir, executionProvider: 'cpu' });
    expect(s.info.moeKernel?.name).toBe('fused');
    expect(s.info.moeKernel?.reason).toMatch(/CPU/);
    await s.dispose();
  });

  it('rejects an unknown kernel name from the environment with a clear error', async () => {
    const saved = process.env.ROUTESCOPE_MOE_KERNEL;
    process.env.ROUTESCOPE_MOE_KERNEL = 'turbo';
    try {
      await expect(DecoderSession.load(tmp.dir, { cacheDir: cache.dir })).rejects.toThrow(/ROUTESCOPE_MOE_KERNEL must be auto, fused or dispatch/);
    } finally {
      if (saved === undefined) delete process.env.ROUTESCOPE_MOE_KERNEL;
      else process.env.ROUTESCOPE_MOE_KERNEL = saved;
    }
  });
});
