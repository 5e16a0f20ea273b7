/** Shared bits of the graph tests: temp model folders, numeric comparison, steering tensors and edited configs. */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decoderSpecFor } from '../../src/engine/architectures/index.js';
import { readModelFolder } from '../../src/engine/model-folder.js';
import { neutralSteering, type SteeringTensors } from '../../src/engine/steering-plan.js';

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `routescope-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** max |a - b| / max |b| over the arrays; 0 when both are all zeros. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Row r (length n) of a flat array, as a plain array. */
export function row(flat: ArrayLike<number>, r: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => flat[r * n + i]!);
}

export function seededIds(count: number, vocab: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: count }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s % vocab;
  });
}

/**
 * Flips `count` bytes at `at` in place (XOR 0x5a) and restores the mtime to the nanosecond with GNU touch, so
 * size and mtime look untouched (only ctime, which no call can set back, tells).
 */
export function flipBytes(file: string, at: number, count: number): void {
  const before = statSync(file, { bigint: true });
  const fd = openSync(file, 'r+');
  try {
    const b = Buffer.alloc(count);
    readSync(fd, b, 0, count, at);
    for (let i = 0; i < count; i++) b[i] = b[i]! ^ 0x5a;
    writeSync(fd, b, 0, count, at);
  } finally {
    closeSync(fd);
  }
  const ns = before.mtimeNs;
  execFileSync('touch', ['-m', '-d', `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`, file]);
  const after = statSync(file, { bigint: true });
  if (after.size !== before.size || after.mtimeNs !== before.mtimeNs) throw new Error(`flipBytes: could not restore the size and mtime of ${file}`);
}

/** Neutral steering tensors for a session of this shape, then `edit(tensors, numExperts)` applied. */
export function editedSteering(
  info: { numLayers: number; numExperts: number; moeLayers: number[] },
  edit: (t: SteeringTensors, E: number) => void,
): SteeringTensors {
  const t = neutralSteering({ numLayers: info.numLayers, numExperts: info.numExperts, moeLayers: info.moeLayers });
  edit(t, info.numExperts);
  return t;
}

/** The decoder spec of a model folder with its config edited in memory (for the tests of what a config refuses). */
export function specWithConfig(dir: string, edit: (config: Record<string, unknown>) => void): ReturnType<typeof decoderSpecFor> {
  const folder = readModelFolder(dir);
  const config = structuredClone(folder.config);
  edit(config);
  return decoderSpecFor(folder.dir, folder.architecture, config, folder.weights);
}

