/**
 * A small imperative builder for ONNX graphs: every call appends a node and returns the name(s) of its
 * output(s), so graph code reads like the forward pass it encodes. Constants are deduplicated.
 */
import {
  DataType,
  encodeModel,
  type AttributeValue,
  type Dim,
  type GraphProto,
  type NodeProto,
  type TensorProto,
  type ValueInfo,
} from './model.js';

export type Attr = number | string | number[] | { floats: number[] } | { float: number } | TensorProto | { graph: GraphProto };

function toAttribute(v: Attr): AttributeValue {
  if (typeof v === 'number') return { type: 'int', value: v };
  if (typeof v === 'string') return { type: 'string', value: v };
  if (Array.isArray(v)) return { type: 'ints', value: v };
  if ('floats' in v) return { type: 'floats', value: v.floats };
  if ('float' in v) return { type: 'float', value: v.float };
  if ('graph' in v) return { type: 'graph', value: v.graph };
  return { type: 'tensor', value: v };
}

export const OPSET = 17;
export const MS_DOMAIN = 'com.microsoft';

export class OnnxGraph {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  private counter = 0;
  private constCache = new Map<string, string>();
  private usedNames = new Set<string>();
  /** Prefix for generated names, so a node's name says which layer it belongs to. */
  scope = '';

  private fresh(hint: string): string {
    let name: string;
    do name = `${this.scope}${hint}_${this.counter++}`;
    while (this.usedNames.has(name));
    this.usedNames.add(name);
    return name;
  }

  input(name: string, elemType: DataType, shape: Dim[]): string {
    this.usedNames.add(name);
    this.inputs.push({ name, elemType, shape });
    return name;
  }

  /** Declares a graph output; an Identity node gives it the public name. */
  output(value: string, name: string, elemType: DataType, shape: Dim[]): void {
    this.usedNames.add(name);
    this.nodes.push({ opType: 'Identity', name: `out_${name}`, inputs: [value], outputs: [name], attributes: {} });
    this.outputs.push({ name, elemType, shape });
  }

  /** Appends a node with several outputs. */
  opN(opType: string, inputs: string[], outputs: number, attrs: Record<string, Attr> = {}, domain?: string): string[] {
    const outs = Array.from({ length: outputs }, () => this.fresh(opType));
    const attributes: Record<string, AttributeValue> = {};
    for (const [k, v] of Object.entries(attrs)) attributes[k] = toAttribute(v);
    this.nodes.push({ opType, domain, name: `${outs[0]}_node`, inputs, outputs: outs, attributes });
    return outs;
  }

  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, domain?: string): string {
    return this.opN(opType, inputs, 1, attrs, domain)[0]!;
  }

  /**
   * A subgraph (an If branch) made of the nodes `build` appends; they may read any value of the enclosing
   * graph (outer scope). Constants created meanwhile stay initializers of the main graph, which is allowed.
   */
  subgraph(name: string, output: { elemType: DataType; shape: Dim[] }, build: () => string): GraphProto {
    const start = this.nodes.length;
    const value = build();
    const outName = this.fresh(`${name}_out`);
    this.nodes.push({ opType: 'Identity', name: `${outName}_node`, inputs: [value], outputs: [outName], attributes: {} });
    const nodes = this.nodes.splice(start);
    return { name, nodes, initializers: [], inputs: [], outputs: [{ name: outName, ...output }] };
  }

  initializer(t: TensorProto): string {
    this.usedNames.add(t.name);
    this.initializers.push(t);
    return t.name;
  }

  private constant(key: string, make: () => TensorProto): string {
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const t = make();
    this.initializer(t);
    this.constCache.set(key, t.name);
    return t.name;
  }

  /** int64 constant; `dims` omitted means a 1-D tensor, [] a scalar. */
  int64(values: number[], dims: number[] = [values.length]): string {
    return this.constant(`i64:${dims.join('x')}:${values.join(',')}`, () => {
      const data = new BigInt64Array(values.map((v) => BigInt(v)));
      return {
        name: this.fresh('const_i64'),
        dataType: DataType.INT64,
        dims,
        payload: { kind: 'raw', bytes: new Uint8Array(data.buffer) },
      };
    });
  }

  float(values: number[] | Float32Array, dims: number[] = [values.length]): string {
    const arr = Float32Array.from(values);
    return this.constant(`f32:${dims.join('x')}:${Array.from(arr).join(',')}`, () => ({
      name: this.fresh('const_f32'),
      dataType: DataType.FLOAT,
      dims,
      payload: { kind: 'raw', bytes: new Uint8Array(arr.buffer) },
    }));
  }

  scalarF(v: number): string {
    return this.float([v], []);
  }

  scalarI(v: number): string {
    return this.int64([v], []);
  }

  // Frequently used ops, named after the ONNX operators.
  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.op('Sub', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }
  div(a: string, b: string): string {
    return this.op('Div', [a, b]);
  }
  reshape(x: string, shape: string): string {
    return this.op('Reshape', [x, shape]);
  }
  transpose(x: string, perm: number[]): string {
    return this.op('Transpose', [x], { perm });
  }
  unsqueeze(x: string, axes: number[]): string {
    return this.op('Unsqueeze', [x, this.int64(axes)]);
  }
  squeeze(x: string, axes: number[]): string {
    return this.op('Squeeze', [x, this.int64(axes)]);
  }
  concat(xs: string[], axis: number): string {
    return this.op('Concat', xs, { axis });
  }
  cast(x: string, to: DataType): string {
    return this.op('Cast', [x], { to });
  }
  where(cond: string, a: string, b: string): string {
    return this.op('Where', [cond, a, b]);
  }
  reduceMean(x: string, axes: number[], keepdims = 1): string {
    return this.op('ReduceMean', [x], { axes, keepdims });
  }
  reduceSum(x: string, axes: number[], keepdims = 1): string {
    return this.op('ReduceSum', [x, this.int64(axes)], { keepdims });
  }
  /** Gemm with transB=1: x [N, in] times an HF Linear weight stored [out, in]. */
  linear(x: string, weight: string, bias?: string): string {
    return this.op('Gemm', bias ? [x, weight, bias] : [x, weight], { transB: 1 });
  }

  encode(name: string, metadata?: Record<string, string>): Uint8Array {
    return encodeModel({
      graph: { name, nodes: this.nodes, initializers: this.initializers, inputs: this.inputs, outputs: this.outputs },
      opsets: [
        { domain: '', version: OPSET },
        { domain: MS_DOMAIN, version: 1 },
      ],
      producerName: 'routescope',
      producerVersion: '0.1.0',
      metadata,
    });
  }
}
