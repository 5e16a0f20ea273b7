/**
 * Helpers shared by the architecture adapters: typed config access with errors that name config.json and
 * the field, and weight lookup that checks shapes and understands both per-expert and fused 3-D experts.
 */
import { ModelFolderError } from '../errors.js';
import type { WeightStore } from '../safetensors.js';
import type { GatedMlpSpec, LinearSpec, TensorSlice } from './types.js';

export class ConfigReader {
  constructor(
    readonly config: Record<string, unknown>,
    readonly file: string,
  ) {}

  private fail(field: string, what: string): never {
    throw new ModelFolderError(`${this.file}: field '${field}' ${what}`, { file: this.file });
  }

  has(field: string): boolean {
    return this.config[field] !== undefined && this.config[field] !== null;
  }

  int(field: string, fallback?: number): number {
    const v = this.config[field];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      this.fail(field, 'is missing');
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(field, `must be a non-negative integer, got ${JSON.stringify(v)}`);
    return v;
  }

  positiveInt(field: string, fallback?: number): number {
    const v = this.int(field, fallback);
    if (v <= 0) this.fail(field, `must be positive, got ${v}`);
    return v;
  }

  num(field: string, fallback?: number): number {
    const v = this.config[field];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      this.fail(field, 'is missing');
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(field, `must be a finite number, got ${JSON.stringify(v)}`);
    return v;
  }

  optionalNum(field: string): number | null {
    return this.has(field) ? this.num(field) : null;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.config[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') this.fail(field, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  intList(field: string): number[] {
    const v = this.config[field];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x))) this.fail(field, 'must be a list of integers');
    return v as number[];
  }

  /**
   * rope_theta lives at the top level (transformers 4.x) or inside rope_parameters (5.x). Rope types other
   * than `allowed` are refused; an adapter that allows more reads their parameters with ropeScaling().
   */
  ropeTheta(fallback: number, allowed: readonly string[] = ['default']): number {
    const params = this.config.rope_parameters as Record<string, unknown> | undefined;
    const scaling = (this.config.rope_scaling ?? null) as Record<string, unknown> | null;
    for (const s of [scaling, params]) {
      const type = s ? (s.rope_type ?? s.type) : undefined;
      if (type !== undefined && !allowed.includes(String(type))) {
        const supported = allowed.length === 1 ? 'only the default RoPE' : `supported here: ${allowed.join(', ')}`;
        this.fail(s === scaling ? 'rope_scaling' : 'rope_parameters', `uses rope type '${String(type)}', which Routescope does not support for this architecture (${supported})`);
      }
    }
    if (params && typeof params.rope_theta === 'number') return params.rope_theta;
    return this.num('rope_theta', fallback);
  }

  /** The rope scaling object (rope_scaling, else rope_parameters) with its type, or null for the default RoPE. */
  ropeScaling(): { field: string; type: string; params: ConfigReader } | null {
    for (const field of ['rope_scaling', 'rope_parameters']) {
      const s = this.config[field];
      if (s === undefined || s === null) continue;
      if (typeof s !== 'object' || Array.isArray(s)) this.fail(field, 'must be an object');
      const o = s as Record<string, unknown>;
      const type = String(o.rope_type ?? o.type ?? 'default');
      if (type !== 'default') return { field, type, params: new ConfigReader(o, `${this.file} (${field})`) };
    }
    return null;
  }

  numList(field: string, length: number): number[] {
    const v = this.config[field];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) this.fail(field, 'must be a list of finite numbers');
    if (v.length !== length) this.fail(field, `has ${v.length} values, expected ${length} (head dimension / 2)`);
    return v as number[];
  }

  /** Throws the reader's standard error for a field (for checks an adapter makes itself). */
  refuse(field: string, what: string): never {
    this.fail(field, what);
  }

  activation(): void {
    const act = this.config.hidden_act ?? 'silu';
    if (act !== 'silu' && act !== 'swish') this.fail('hidden_act', `is '${String(act)}'; only SiLU-gated MLPs are supported`);
  }
}

export class WeightLookup {
  constructor(readonly weights: WeightStore) {}

  has(name: string): boolean {
    return this.weights.has(name);
  }

  private fileOf(name: string): string {
    try {
      return this.weights.info(name).file;
    } catch {
      return 'the model weights';
    }
  }

  /** The tensor, whole, checked against the expected shape. */
  tensor(name: string, shape: number[]): TensorSlice {
    if (!this.weights.has(name)) {
      throw new ModelFolderError(`weight '${name}' is missing from the model's safetensors files`, { tensor: name });
    }
    const info = this.weights.info(name);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new ModelFolderError(
        `${this.fileOf(name)}: tensor '${name}' has shape [${info.shape.join(', ')}], expected [${shape.join(', ')}] from config.json` +
          (info.pending ? ` (it ${info.pending})` : ''),
        { file: info.file, tensor: name },
      );
    }
    if (!['F32', 'F16', 'BF16'].includes(info.dtype)) {
      throw new ModelFolderError(`${info.file}: tensor '${name}' has dtype ${info.dtype}; the engine runs F32, F16 and BF16 weights`, {
        file: info.file,
        tensor: name,
      });
    }
    return { tensor: name, offsetElements: 0, shape };
  }

  shapeOf(name: string): number[] {
    return this.weights.info(name).shape;
  }

  /** An nn.Linear `<prefix>.weight` [out, in] with its bias if the checkpoint has one. */
  linear(prefix: string, out: number, inp: number, bias: 'auto' | 'none' = 'auto'): LinearSpec {
    const spec: LinearSpec = { weight: this.tensor(`${prefix}.weight`, [out, inp]), layout: 'out_in' };
    if (bias === 'auto' && this.has(`${prefix}.bias`)) spec.bias = this.tensor(`${prefix}.bias`, [out]);
    return spec;
  }

  mlp(prefix: string, hidden: number, inter: number, names: [string, string, string] = ['gate_proj', 'up_proj', 'down_proj']): GatedMlpSpec {
    return {
      kind: 'split',
      gate: this.linear(`${prefix}.${names[0]}`, inter, hidden, 'none'),
      up: this.linear(`${prefix}.${names[1]}`, inter, hidden, 'none'),
      down: this.linear(`${prefix}.${names[2]}`, hidden, inter, 'none'),
    };
  }

  private first(names: string[]): string | undefined {
    return names.find((n) => this.has(n));
  }

  /**
   * The experts of one MoE block. Accepts per-expert tensors (`<prefix>.<e>.<gate>.weight`...) and the stacked
   * layouts: `gate_up_proj` [E, 2I, H] (transformers 5, gate rows first) or [E, H, 2I], `down_proj` [E, H, I]
   * or [E, I, H], and separate stacked `gate_proj`/`up_proj` [E, I, H]. Each expert becomes a slice of the
   * stacked tensor, so nothing is copied.
   */
  experts(prefix: string, numExperts: number, hidden: number, inter: number, names: [string, string, string] = ['gate_proj', 'up_proj', 'down_proj']): GatedMlpSpec[] {
    const gateUp = this.first([`${prefix}.gate_up_proj`, `${prefix}.gate_up_proj.weight`]);
    const stackedGate = this.first([`${prefix}.gate_proj`, `${prefix}.gate_proj.weight`]);
    if (gateUp || stackedGate) {
      const down = this.first([`${prefix}.down_proj`, `${prefix}.down_proj.weight`]);
      if (!down) throw new ModelFolderError(`weight '${prefix}.down_proj' is missing (the checkpoint stores stacked experts)`, { tensor: `${prefix}.down_proj` });
      const downSlices = this.stackedLinear(down, numExperts, hidden, inter);
      if (gateUp) {
        const shape = this.shapeOf(gateUp);
        const e = shape[0];
        if (shape.length === 3 && e === numExperts && shape[1] === 2 * inter && shape[2] === hidden) {
          return Array.from({ length: numExperts }, (_, i) => ({
            kind: 'split' as const,
            gate: { layout: 'out_in' as const, weight: { tensor: gateUp, offsetElements: i * 2 * inter * hidden, shape: [inter, hidden] } },
            up: { layout: 'out_in' as const, weight: { tensor: gateUp, offsetElements: i * 2 * inter * hidden + inter * hidden, shape: [inter, hidden] } },
            down: downSlices[i]!,
          }));
        }
        if (shape.length === 3 && e === numExperts && shape[1] === hidden && shape[2] === 2 * inter) {
          return Array.from({ length: numExperts }, (_, i) => ({
            kind: 'fused' as const,
            intermediate: inter,
            gateUp: { layout: 'in_out' as const, weight: { tensor: gateUp, offsetElements: i * 2 * inter * hidden, shape: [hidden, 2 * inter] } },
            down: downSlices[i]!,
          }));
        }
        this.tensor(gateUp, [numExperts, 2 * inter, hidden]); // throws with the shape message
      }
      const up = this.first([`${prefix}.up_proj`, `${prefix}.up_proj.weight`]);
      if (!up) throw new ModelFolderError(`weight '${prefix}.up_proj' is missing (the checkpoint stores stacked experts)`, { tensor: `${prefix}.up_proj` });
      const gates = this.stackedLinear(stackedGate!, numExperts, inter, hidden);
      const ups = this.stackedLinear(up, numExperts, inter, hidden);
      return Array.from({ length: numExperts }, (_, i) => ({ kind: 'split' as const, gate: gates[i]!, up: ups[i]!, down: downSlices[i]! }));
    }
    return Array.from({ length: numExperts }, (_, i) => this.mlp(`${prefix}.${i}`, hidden, inter, names));
  }

  /** Per-expert slices of a stacked [E, out, in] (or [E, in, out]) tensor. */
  stackedLinear(name: string, numExperts: number, out: number, inp: number): LinearSpec[] {
    const shape = this.shapeOf(name);
    let layout: 'out_in' | 'in_out';
    if (shape.length === 3 && shape[0] === numExperts && shape[1] === out && shape[2] === inp) layout = 'out_in';
    else if (shape.length === 3 && shape[0] === numExperts && shape[1] === inp && shape[2] === out) layout = 'in_out';
    else {
      this.tensor(name, [numExperts, out, inp]);
      throw new Error('unreachable');
    }
    this.tensor(name, shape); // dtype check
    return Array.from({ length: numExperts }, (_, i) => ({
      layout,
      weight: { tensor: name, offsetElements: i * out * inp, shape: layout === 'out_in' ? [out, inp] : [inp, out] },
    }));
  }
}
