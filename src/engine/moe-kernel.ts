/**
 * The one place that decides how MoE experts run (see graph-builder.ts): `fused` (one com.microsoft.MoE node
 * per layer, fast on CPU, costs an fp32 re-laid-out copy of the experts' gate/up weights in a cache file,
 * expert-cache.ts) or `dispatch`
 * (standard ops over mapped weights, no copy, ~11 nodes per expert). Both give the same routing and, within
 * fp32 rounding, the same outputs (tests check both against the independent reference).
 * `auto` picks fused on the CPU provider when the cache exists or fits on the cache folder's disk, dispatch
 * otherwise (and on CUDA, where the fused path is not validated).
 * Override with the engine option `moeKernel` or ROUTESCOPE_MOE_KERNEL=auto|fused|dispatch.
 */
import { existsSync, realpathSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { DecoderSpec } from './architectures/types.js';
import { EngineError } from './errors.js';
import type { ExecutionProviderName } from './execution-provider.js';
import { expertWidth, fusedCopyBytes } from './fused-experts.js';
import { hasFusedExpertCache } from './expert-cache.js';
import { commonAncestor, type MoeKernelName } from './graph-builder.js';
import type { WeightStore } from './safetensors.js';

export type MoeKernelPreference = 'auto' | MoeKernelName;

export interface MoeKernelChoice {
  name: MoeKernelName;
  reason: string;
  /** Bytes of expert weights the fused kernel keeps re-laid-out in its cache file (0 for dispatch). */
  expertCopyBytes: number;
  /** int4 on the dispatch kernel: its MatMulNBits accuracy_level (1: fp32 activations; 4: int8 activations, more memory). */
  expertAccuracy?: 1 | 4;
  cacheFile?: string;
  cacheReused?: boolean;
}

/** Disk space auto leaves free after writing a cache. */
const DISK_MARGIN_BYTES = 2 ** 30;

/** Free bytes on the filesystem that holds (or will hold) `dir`. */
export function freeBytesAt(dir: string): number | null {
  let d = resolve(dir);
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  try {
    const st = statfsSync(d);
    return Number(st.bavail) * Number(st.bsize);
  } catch {
    return null;
  }
}

function existingAncestor(dir: string): string {
  let d = resolve(dir);
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  return realpathSync(d);
}

export function parseMoeKernel(value: string | undefined, source: string): MoeKernelPreference {
  if (value === undefined || value === '') return 'auto';
  const v = value.toLowerCase();
  if (v === 'auto' || v === 'fused' || v === 'dispatch') return v;
  throw new EngineError(`${source} must be auto, fused or dispatch, got '${value}'`);
}

/** Bytes the fused kernel would copy for this model. */
export function fusedExpertCopyBytes(spec: DecoderSpec, weights: WeightStore): number {
  let total = 0;
  for (const layer of spec.layers) {
    if (layer.mlp.kind !== 'moe') continue;
    const experts = layer.mlp.moe.experts;
    total += fusedCopyBytes(weights, experts, spec.hiddenSize, expertWidth(experts[0]!));
  }
  return total;
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

export function chooseMoeKernel(
  spec: DecoderSpec,
  weights: WeightStore,
  modelDir: string,
  cacheRoot: string,
  provider: ExecutionProviderName,
  preference?: MoeKernelPreference,
): MoeKernelChoice {
  const pref = preference ?? parseMoeKernel(process.env.ROUTESCOPE_MOE_KERNEL, 'ROUTESCOPE_MOE_KERNEL');
  const hasExperts = spec.moeLayers.length > 0;
  if (pref === 'dispatch' || !hasExperts) return { name: 'dispatch', reason: hasExperts ? 'dispatch requested' : 'model has no MoE layer', expertCopyBytes: 0 };
  const bytes = fusedExpertCopyBytes(spec, weights);
  if (pref === 'fused') return { name: 'fused', reason: `fused requested (experts copied: ${gib(bytes)})`, expertCopyBytes: bytes };
  if (provider !== 'cpu') {
    return { name: 'dispatch', reason: `the fused kernel is only validated on the CPU provider`, expertCopyBytes: 0 };
  }
  if (!commonAncestor(realpathSync(modelDir), existingAncestor(cacheRoot))) {
    return { name: 'dispatch', reason: `the cache folder ${cacheRoot} and the model folder share no common folder`, expertCopyBytes: 0 };
  }
  if (!hasFusedExpertCache(spec, weights, modelDir, cacheRoot)) {
    const free = freeBytesAt(cacheRoot);
    if (free !== null && bytes + DISK_MARGIN_BYTES > free) {
      return { name: 'dispatch', reason: `the fused kernel's expert cache needs ${gib(bytes)} but ${cacheRoot} has ${gib(free)} free`, expertCopyBytes: 0 };
    }
  }
  return { name: 'fused', reason: `CPU provider; expert cache ${gib(bytes)}`, expertCopyBytes: bytes };
}
