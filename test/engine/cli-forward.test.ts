/** `routescope forward` and `routescope inspect` run as a user would: a child process on a real model folder. */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeText, readTextFile } from '../../src/cli/text-file.js';
import { CliError } from '../../src/cli/errors.js';
import { WeightStore } from '../../src/engine/safetensors.js';
import { neutralSteering } from '../../src/engine/steering-plan.js';
import { cliInProcess } from '../support/cli.js';
import { referenceForward } from '../support/reference-forward.js';
import { overwriteF32, writeTinyModel, type TinyModelInfo } from '../support/tiny-models.js';
import { flipBytes, relativeError, tempDir } from './graph-helpers.js';

const BIN = resolve(__dirname, '../../bin/routescope.mjs');

/** The CLI's fused-kernel expert cache goes here, not to ~/.cache. */
const cliCache = tempDir('cli-cache');
afterAll(() => cliCache.cleanup());

/** Runs the CLI; `stdin` (when given) is piped in and closed. */
function cli(args: string[], stdin?: Uint8Array | string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = execFile(process.execPath, [BIN, ...args], { timeout: 90_000, maxBuffer: 64 * 2 ** 20, env: { ...process.env, ROUTESCOPE_CACHE_DIR: cliCache.dir } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      done({ code, stdout, stderr });
    });
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

/** The same command in this process (no process start-up: for the many error cases); stdin is not available here. */
function inProcess(args: string[]) {
  return cliInProcess(args, { ROUTESCOPE_CACHE_DIR: cliCache.dir });
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

  it('--text-file <path> and --text-file - (stdin) give the same pass as --text, text kept exactly', async () => {
    const text = 'hello world\nthe cat sat';
    const file = join(tmp.dir, 'input.txt');
    // A leading byte-order mark is dropped; everything else (the newline included) is the text.
    writeFileSync(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, 'utf8')]));
    const viaArg = await inProcess(['forward', model.dir, '--text', text, '--json']);
    const viaFile = await inProcess(['forward', model.dir, '--text-file', file, '--json']);
    const viaStdin = await cli(['forward', model.dir, '--text-file', '-', '--json'], text);
    for (const r of [viaArg, viaFile, viaStdin]) expect(r.code, r.stderr).toBe(0);
    const ids = JSON.parse(viaArg.stdout).ids as number[];
    expect(ids.length).toBeGreaterThan(3);
    expect(JSON.parse(viaFile.stdout).ids).toEqual(ids);
    expect(JSON.parse(viaStdin.stdout)).toEqual(JSON.parse(viaArg.stdout));
  });

  it('a corrupted expert cache (size and mtime kept) is announced on stderr, rebuilt, and the output unchanged', async () => {
    const first = await inProcess(['forward', model.dir, '--ids', '4,8,15,16', '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).not.toMatch(/expert cache/);
    const dir = join(cliCache.dir, 'fused-experts');
    for (const bin of readdirSync(dir).filter((f) => f.endsWith('.bin'))) {
      const m = JSON.parse(readFileSync(join(dir, bin.replace(/\.bin$/, '.json')), 'utf8')) as { data: { layers: { fc1: { offset: number } }[] } };
      flipBytes(join(dir, bin), m.data.layers[0]!.fc1.offset + 64, 16);
    }
    const again = await inProcess(['forward', model.dir, '--ids', '4,8,15,16', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/routescope: expert cache .*\.bin does not match its checksum in decoder layer \d+'s fc1 experts .*; rebuilding it/);
    expect(again.stdout).toBe(first.stdout);
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
    // OLMoE's tiny experts are SiLU-gated without biases on blocks of 16: int4 runs them on the dispatch kernel at fp32 activations.
    expect(text.stdout).toMatch(/int4 experts\s+dispatch, accuracy_level 1 \(.*same memory as QMoE/);
    expect(s.int4Kernel).toMatchObject({ name: 'dispatch', expertAccuracy: 1 });
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

  it('--precision fp16 and int4 run; an unknown precision is refused', async () => {
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
    const int4 = await cli(['forward', model.dir, '--ids', ids.join(','), '--json', '--precision', 'int4']);
    expect(int4.code, int4.stderr).toBe(0);
    expect(int4.stderr).toMatch(/precision int4 \(int4 requested/);
    expect(JSON.parse(int4.stdout).experts).toHaveLength(model.moeLayers.length);
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
      const r1 = await inProcess(['forward', model.dir, '--ids', '1,2', '--plan', all, '--json']);
      expect(r1.code).not.toBe(0);
      expect(r1.stdout).toBe('');
      expect(r1.stderr).toMatch(/mask-all\.json: layer 1: every expert is masked/);
      const most = join(tmp.dir, 'mask-most.json');
      writeFileSync(most, JSON.stringify({ '1': Array.from({ length: model.numExperts - 1 }, (_, e) => e) }));
      const r2 = await inProcess(['forward', model.dir, '--ids', '1,2', '--plan', most, '--json']);
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
      const r = await inProcess(['forward', dir, '--ids', '1,2,3', '--json']);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`router logits of decoder layer ${m.moeLayers[1]} .*are not finite \\(NaN`));
    });

    it('--text-file: missing file, a folder, both --text and --text-file, invalid UTF-8, NUL bytes', async () => {
      const r1 = await inProcess(['forward', model.dir, '--text-file', join(tmp.dir, 'absent.txt')]);
      expect(r1.code).toBe(2);
      expect(r1.stderr).toMatch(/--text-file .*absent\.txt: file not found/);
      const r2 = await inProcess(['forward', model.dir, '--text-file', tmp.dir]);
      expect(r2.stderr).toMatch(/is a folder/);
      const r3 = await inProcess(['forward', model.dir, '--text', 'a', '--text-file', join(tmp.dir, 'absent.txt')]);
      expect(r3.code).toBe(2);
      expect(r3.stderr).toMatch(/exactly one of --text, --text-file or --ids/);
      const latin1 = join(tmp.dir, 'latin1.txt');
      writeFileSync(latin1, Buffer.from('caf\xe9\n', 'latin1'));
      const r4 = await inProcess(['forward', model.dir, '--text-file', latin1]);
      expect(r4.code).toBe(2);
      expect(r4.stderr).toMatch(/latin1\.txt: not valid UTF-8 at byte 3 \(line 1\)/);
      // Through a real pipe: stdin is read as bytes and checked like a file.
      const r5 = await cli(['forward', model.dir, '--text-file', '-'], Buffer.from('h\0i', 'utf8'));
      expect(r5.code).toBe(2);
      expect(r5.stderr).toMatch(/--text-file - \(stdin\): contains a NUL byte at byte 1/);
      for (const r of [r1, r2, r3, r4, r5]) expect(r.stdout).toBe('');
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
      expect(r3.stderr).toMatch(/exactly one of --text, --text-file or --ids/);
    });
  });
});

describe('text files for --text-file (decodeText, readTextFile)', () => {
  const tmp = tempDir('text-file');
  afterAll(() => tmp.cleanup());
  const errorOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(CliError);
      return (err as Error).message;
    }
    throw new Error('expected a CliError');
  };

  it('reads text longer than the 128 KiB one-argument limit exactly, multi-byte characters included', () => {
    const text = 'Ḽơᶉëᶆ ȋṕšᶙṁ 語 ✓\n'.repeat(8000);
    expect(Buffer.byteLength(text)).toBeGreaterThan(200_000);
    const file = join(tmp.dir, 'long.txt');
    writeFileSync(file, text);
    expect(readTextFile(file)).toBe(text);
  });

  it('names the byte and line of the first invalid UTF-8 sequence, past genuine U+FFFD characters', () => {
    // Line 2 holds a real U+FFFD (EF BF BD, valid); the lone continuation byte 0x80 on line 3 is the error.
    const bytes = Buffer.concat([Buffer.from('ok\n\uFFFD fine\nab', 'utf8'), Buffer.from([0x80]), Buffer.from('c', 'utf8')]);
    const at = Buffer.byteLength('ok\n\uFFFD fine\nab');
    expect(errorOf(() => decodeText(bytes, 'x.txt'))).toContain(`x.txt: not valid UTF-8 at byte ${at} (line 3)`);
    expect(decodeText(Buffer.from('ok\n\uFFFD fine', 'utf8'), 'x.txt')).toBe('ok\n\uFFFD fine');
    // A truncated 3-byte sequence at the very end.
    expect(errorOf(() => decodeText(Buffer.from([0x61, 0xe2, 0x82]), 'y'))).toContain('at byte 1 (line 1)');
  });

  it('refuses NUL bytes (UTF-16 files), empty text and unreadable files', () => {
    expect(errorOf(() => decodeText(Buffer.from('hi', 'utf16le'), 'u16.txt'))).toContain('u16.txt: contains a NUL byte at byte 1 (line 1)');
    expect(errorOf(() => decodeText(Buffer.from([0xef, 0xbb, 0xbf]), 'bom-only'))).toContain('bom-only: the text is empty');
    if (process.getuid?.() !== 0) {
      const locked = join(tmp.dir, 'locked.txt');
      writeFileSync(locked, 'x');
      chmodSync(locked, 0o000);
      expect(errorOf(() => readTextFile(locked))).toContain('locked.txt: permission denied');
    }
  });
});
