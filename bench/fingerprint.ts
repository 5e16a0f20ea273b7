/**
 * Model fingerprint benchmark: how long `fingerprintModel` (router tensors whole + 64 sampled blocks per shard)
 * takes on large safetensors shards, against hashing every byte. Writes a synthetic checkpoint shaped like
 * Qwen3-30B-A3B's routers (48 layers x [128 x 2048] bf16 router tensors) spread over the shards, padded with
 * pseudo-random expert bytes. Run: npx tsx bench/fingerprint.ts [--shards N] [--shard-gib G] [--keep]
 */
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fingerprintModel } from '../src/store/index.js';

const { values } = parseArgs({ options: { shards: { type: 'string' }, 'shard-gib': { type: 'string' }, keep: { type: 'boolean' } } });
const SHARDS = Number(values.shards ?? 2);
const SHARD_BYTES = Math.round(Number(values['shard-gib'] ?? 2) * 2 ** 30);
const LAYERS = 48;
const ROUTER_BYTES = 128 * 2048 * 2;
const dir = mkdtempSync(join(tmpdir(), 'routescope-fp-bench-'));
writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['Qwen3MoeForCausalLM'], num_experts: 128 }));

const chunk = Buffer.alloc(64 * 2 ** 20);
for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE(((Math.imul(i, 2654435761) >>> 0) ^ 0x9e3779b9) >>> 0, i);
const tw = performance.now();
for (let s = 0; s < SHARDS; s++) {
  const layers = Array.from({ length: LAYERS }, (_, l) => l).filter((l) => l % SHARDS === s);
  const expertBytes = SHARD_BYTES - layers.length * ROUTER_BYTES;
  const entries: Record<string, unknown> = {};
  let off = 0;
  // Routers interleaved with expert blocks, as in real shards.
  const per = Math.floor(expertBytes / Math.max(layers.length, 1));
  for (const l of layers) {
    entries[`model.layers.${l}.mlp.gate.weight`] = { dtype: 'BF16', shape: [128, 2048], data_offsets: [off, off + ROUTER_BYTES] };
    off += ROUTER_BYTES;
    entries[`model.layers.${l}.mlp.experts.stacked`] = { dtype: 'BF16', shape: [per / 2], data_offsets: [off, off + per] };
    off += per;
  }
  const header = Buffer.from(JSON.stringify(entries));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const fd = openSync(join(dir, `model-${String(s + 1).padStart(5, '0')}-of-${String(SHARDS).padStart(5, '0')}.safetensors`), 'w');
  writeSync(fd, Buffer.concat([len, header]));
  for (let left = off; left > 0; left -= chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, left));
  closeSync(fd);
}
const writeS = (performance.now() - tw) / 1000;
const total = SHARDS * SHARD_BYTES;

const times: number[] = [];
for (let rep = 0; rep < 3; rep++) {
  const t = performance.now();
  fingerprintModel(dir);
  times.push(performance.now() - t);
}
const t2 = performance.now();
const buf = Buffer.alloc(4 * 2 ** 20);
for (let s = 0; s < SHARDS; s++) {
  const h = createHash('sha256');
  const fd = openSync(join(dir, `model-${String(s + 1).padStart(5, '0')}-of-${String(SHARDS).padStart(5, '0')}.safetensors`), 'r');
  for (let n; (n = readSync(fd, buf)) > 0; ) h.update(buf.subarray(0, n));
  closeSync(fd);
}
const fullS = (performance.now() - t2) / 1000;
const gib = total / 2 ** 30;
console.log(`${SHARDS} shards, ${gib.toFixed(1)} GiB in all (written in ${writeS.toFixed(1)} s), 48 bf16 router tensors of 128 x 2048`);
console.log(`fingerprintModel: first ${times[0]!.toFixed(0)} ms, then ${Math.min(...times.slice(1)).toFixed(0)} ms (reads ${((LAYERS * ROUTER_BYTES + SHARDS * 64 * 65536) / 2 ** 20).toFixed(0)} MiB)`);
console.log(`full sha256 of every byte: ${fullS.toFixed(1)} s (${(gib / fullS).toFixed(2)} GiB/s) -> ${((61 / gib) * fullS).toFixed(0)} s for 61 GB`);
console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}`);
if (values.keep) console.log(`kept ${dir}`);
else rmSync(dir, { recursive: true, force: true });
