/**
 * Routescope against an eager PyTorch forward written the way transformers runs Qwen3-MoE (moe_forward.py), on
 * the same checkpoint and prompts, both fp32, at each thread count (onnxruntime intra-op threads; torch's and
 * OpenBLAS's pools): repetitions alternate between the two processes so load from other jobs hits both alike.
 * First an equal-work check: the same top-k experts for every prompt token and MoE layer, router logits and
 * last-token logits within a tolerance, and the same greedy tokens when decoding.
 */
import { loadEngine, type Engine, type ForwardResult } from '../../src/engine/index.js';
import { findTorchPython, TorchPeer, type PeerPrefill } from './peer.js';

export interface TorchCompareOptions {
  prefill: number;
  decode: number;
  reps: number;
  threads: number[];
  cacheDir: string;
  log: (msg: string) => void;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Relative to the largest magnitude (at least 1): fp32 sums in another order differ by ~1e-6 of it. */
const TOLERANCE = 1e-4;

export interface EqualWork {
  /** (MoE layer, token) rows whose top-k expert sets differ between the two. */
  expertRowsDiffering: number;
  expertRows: number;
  routerLogitsMaxAbsDiff: number;
  logitsMaxAbsDiff: number;
  /** Max |difference| over max(1, max |value|), router logits and logits together. */
  relativeDiff: number;
  greedyTokensEqual?: boolean;
  equal: boolean;
}

function maxAbs(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, Math.abs(xs[i]!));
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, what: string): number {
  if (a.length !== b.length) throw new Error(`${what}: ${a.length} values against ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Compares Routescope's prefill (capture on, last-token logits) with the peer's checked prefill of the same ids. */
export function equalWork(ours: ForwardResult, peer: PeerPrefill, topK: number): EqualWork {
  const routing = ours.routing ?? [];
  if (!peer.experts || !peer.router_logits || !peer.logits) throw new Error('the peer answered a checked prefill without routing or logits');
  if (peer.experts.length !== routing.length) throw new Error(`the peer has ${peer.experts.length} MoE layers, Routescope ${routing.length}`);
  let differing = 0;
  let rows = 0;
  let routerDiff = 0;
  let routerScale = 1;
  routing.forEach((layer, l) => {
    const theirs = peer.experts![l]!;
    for (let r = 0; r * topK < layer.experts.length; r++) {
      const a = [...layer.experts.subarray(r * topK, (r + 1) * topK)].sort((x, y) => x - y);
      const b = theirs.slice(r * topK, (r + 1) * topK).sort((x, y) => x - y);
      rows++;
      if (a.some((v, i) => v !== b[i])) differing++;
    }
    routerDiff = Math.max(routerDiff, maxAbsDiff(layer.routerLogits, peer.router_logits![l]!, `router logits of MoE layer ${l}`));
    routerScale = Math.max(routerScale, maxAbs(layer.routerLogits));
  });
  const logitsDiff = maxAbsDiff(ours.logits, peer.logits, 'last-token logits');
  const relativeDiff = Math.max(routerDiff / routerScale, logitsDiff / Math.max(1, maxAbs(ours.logits)));
  return {
    expertRowsDiffering: differing,
    expertRows: rows,
    routerLogitsMaxAbsDiff: routerDiff,
    logitsMaxAbsDiff: logitsDiff,
    relativeDiff,
    equal: differing === 0 && relativeDiff <= TOLERANCE,
  };
}

function argmax(xs: Float32Array): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}

/** Greedy decode with the KV cache, routing captured as in capture; per-step times and the tokens chosen. */
async function routescopeDecode(engine: Engine, prompt: number[], steps: number): Promise<{ ms: number[]; tokens: number[] }> {
  let r = await engine.forward([prompt], { capture: true, logits: 'last' });
  const ms: number[] = [];
  const tokens: number[] = [];
  for (let i = 0; i < steps; i++) {
    const next = argmax(r.logits);
    tokens.push(next);
    const t = performance.now();
    r = await engine.forward([[next]], { past: r.cache, capture: true, logits: 'last' });
    ms.push(performance.now() - t);
  }
  return { ms, tokens };
}

export async function compareWithTorch(dir: string, o: TorchCompareOptions): Promise<Record<string, unknown>> {
  const choice = findTorchPython();
  if ('skip' in choice) {
    o.log(`torch: skipped: ${choice.skip}`);
    return { skipped: choice.skip };
  }
  let peer: TorchPeer;
  try {
    peer = await TorchPeer.start(choice.python, dir);
  } catch (err) {
    // E.g. a checkpoint the peer does not implement (it runs Qwen3-MoE only): the column is skipped, not the run.
    const reason = (err as Error).message;
    o.log(`torch: skipped: ${reason}`);
    return { skipped: reason };
  }
  try {
    const peerInfo = await peer.info();
    o.log(`torch: ${choice.python}, torch ${peerInfo.torch}, ${peerInfo.attention} attention, ${peerInfo.experts}, OMP_WAIT_POLICY ${peerInfo.omp_wait_policy}`);
    const results: Record<string, unknown> = { python: choice.python, peer: peerInfo };
    for (const n of o.threads) {
      const engine = await loadEngine(dir, { cacheDir: o.cacheDir, threads: n, precision: 'fp32' });
      try {
        const pool = await peer.threads(n);
        const vocab = engine.info.vocabSize;
        const prompt = Array.from({ length: o.prefill }, (_, i) => (i * 7919 + 13) % vocab);
        // Warm-up (first-run allocations, page faults of the mapped weights), then the equal-work check.
        await engine.forward([prompt.slice(0, 16)], { logits: 'last' });
        await peer.prefill(prompt.slice(0, 16));
        const ours = await engine.forward([prompt], { capture: true, logits: 'last' });
        const check = equalWork(ours, await peer.prefill(prompt, true), engine.info.topK);
        o.log(
          `torch, ${n} thread(s): equal work ${check.equal ? 'yes' : 'NO'}: top-k experts differ in ${check.expertRowsDiffering} of ${check.expertRows} ` +
            `(MoE layer, token) rows; max |diff| router logits ${check.routerLogitsMaxAbsDiff.toExponential(2)}, logits ${check.logitsMaxAbsDiff.toExponential(2)}`,
        );
        const prefill = { routescope: [] as number[], torch: [] as number[] };
        for (let r = 0; r < o.reps; r++) {
          for (const side of r % 2 ? (['torch', 'routescope'] as const) : (['routescope', 'torch'] as const)) {
            if (side === 'torch') prefill.torch.push((await peer.prefill(prompt)).ms);
            else {
              const t = performance.now();
              await engine.forward([prompt], { capture: true, logits: 'last' });
              prefill.routescope.push(performance.now() - t);
            }
          }
          o.log(`torch, ${n} thread(s): prefill rep ${r + 1}/${o.reps}`);
        }
        // One more PyTorch prefill with stamps around its attention and MoE blocks: where its time goes.
        const split = await peer.prefill(prompt, false, true);
        // Decode in chunks of 4 steps per side, alternating; each chunk starts from a fresh 16+ token prompt.
        const decode = { routescope: [] as number[], torch: [] as number[] };
        let tokensEqual = true;
        for (let c = 0; c < Math.max(1, o.decode / 4); c++) {
          const p = prompt.slice(0, 16 + 4 * c);
          const a = await routescopeDecode(engine, p, 4);
          const b = await peer.decode(p, 4);
          decode.routescope.push(...a.ms);
          decode.torch.push(...b.ms);
          tokensEqual &&= a.tokens.every((t, i) => t === b.tokens[i]);
        }
        check.greedyTokensEqual = tokensEqual;
        check.equal &&= tokensEqual;
        const tps = (tokens: number, ms: number) => +((tokens / ms) * 1000).toFixed(1);
        const prefillRatio = median(prefill.torch) / median(prefill.routescope);
        const decodeRatio = median(decode.torch) / median(decode.routescope);
        results[`threads${n}`] = {
          threads: n,
          torchPools: pool,
          equalWork: check,
          prefillTokens: o.prefill,
          prefillTokensPerSecond: { routescope: tps(o.prefill, median(prefill.routescope)), torch: tps(o.prefill, median(prefill.torch)) },
          prefillRatio: +prefillRatio.toFixed(2),
          // Each repetition's pair ran back to back, so its ratio shares that moment's load: steadier under bursts.
          prefillRatioMedianOfPairs: +median(prefill.torch.map((t, i) => t / prefill.routescope[i]!)).toFixed(2),
          prefillGoal2xMet: prefillRatio >= 2,
          decodeTokensPerSecondMedianStep: { routescope: tps(1, median(decode.routescope)), torch: tps(1, median(decode.torch)) },
          decodeRatio: +decodeRatio.toFixed(2),
          prefillMs: prefill,
          torchPrefillSplitMs: { total: +split.ms.toFixed(0), attention: +split.split_ms!.attention.toFixed(0), moe: +split.split_ms!.moe.toFixed(0) },
        };
        o.log(`torch, ${n} thread(s): prefill ${prefillRatio.toFixed(2)}x, decode ${decodeRatio.toFixed(2)}x (Routescope over PyTorch), greedy tokens equal: ${tokensEqual}`);
      } finally {
        await engine.dispose();
      }
    }
    return results;
  } finally {
    await peer.close();
  }
}
