/**
 * ONNX message types (the subset the engine emits) and their serialisation to a ModelProto byte buffer.
 * Field numbers follow onnx/onnx.proto3 (IR version 8).
 */
import { ProtoWriter } from './protobuf.js';

export enum DataType {
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  INT32 = 6,
  INT64 = 7,
  BOOL = 9,
  FLOAT16 = 10,
  DOUBLE = 11,
  BFLOAT16 = 16,
}

/** Where an initializer's bytes live: inside the model (small constants) or in a file beside it. */
export type TensorPayload =
  | { kind: 'raw'; bytes: Uint8Array }
  | { kind: 'external'; location: string; offset: number; length: number };

export interface TensorProto {
  name: string;
  dataType: DataType;
  dims: number[];
  payload: TensorPayload;
}

export type AttributeValue =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: TensorProto }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'graph'; value: GraphProto };

export interface NodeProto {
  opType: string;
  domain?: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, AttributeValue>;
}

/** A dimension is a fixed size or a symbolic name (batch, sequence...). */
export type Dim = number | string;

export interface ValueInfo {
  name: string;
  elemType: DataType;
  shape: Dim[];
}

export interface GraphProto {
  name: string;
  nodes: NodeProto[];
  initializers: TensorProto[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

export interface ModelProto {
  graph: GraphProto;
  opsets: { domain: string; version: number }[];
  producerName: string;
  producerVersion: string;
  metadata?: Record<string, string>;
}

const ATTR_TYPE = { float: 1, int: 2, string: 3, tensor: 4, graph: 5, floats: 6, ints: 7 } as const;

function writeTensor(w: ProtoWriter, t: TensorProto): void {
  w.packedInts(1, t.dims);
  w.int(2, t.dataType);
  w.string(8, t.name);
  if (t.payload.kind === 'raw') {
    w.bytes(9, t.payload.bytes);
  } else {
    const entries: [string, string][] = [
      ['location', t.payload.location],
      ['offset', String(t.payload.offset)],
      ['length', String(t.payload.length)],
    ];
    for (const [key, value] of entries) w.message(13, (e) => e.string(1, key).string(2, value));
    w.int(14, 1);
  }
}

function writeAttribute(w: ProtoWriter, name: string, a: AttributeValue): void {
  w.string(1, name);
  switch (a.type) {
    case 'float':
      w.float(2, a.value);
      break;
    case 'int':
      w.int(3, a.value);
      break;
    case 'string':
      w.string(4, a.value);
      break;
    case 'tensor':
      w.message(5, (t) => writeTensor(t, a.value));
      break;
    case 'graph':
      w.message(6, (g) => writeGraph(g, a.value));
      break;
    case 'floats':
      w.packedFloats(7, a.value);
      break;
    case 'ints':
      w.packedInts(8, a.value);
      break;
  }
  w.int(20, ATTR_TYPE[a.type]);
}

function writeNode(w: ProtoWriter, n: NodeProto): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const [name, a] of Object.entries(n.attributes)) w.message(5, (m) => writeAttribute(m, name, a));
  if (n.domain) w.string(7, n.domain);
}

function writeValueInfo(w: ProtoWriter, v: ValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, v.elemType);
      tensor.message(2, (shape) => {
        for (const d of v.shape) {
          shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        }
      });
    }),
  );
}

/** A GraphProto: the model's main graph, or a subgraph attribute (If branches). */
function writeGraph(g: ProtoWriter, graph: GraphProto): void {
  for (const n of graph.nodes) g.message(1, (m) => writeNode(m, n));
  g.string(2, graph.name);
  for (const t of graph.initializers) g.message(5, (m) => writeTensor(m, t));
  for (const v of graph.inputs) g.message(11, (m) => writeValueInfo(m, v));
  for (const v of graph.outputs) g.message(12, (m) => writeValueInfo(m, v));
}

export function encodeModel(model: ModelProto): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, 8); // IR version 8 (opset 17 era)
  w.string(2, model.producerName);
  w.string(3, model.producerVersion);
  w.message(7, (g) => writeGraph(g, model.graph));
  for (const o of model.opsets) w.message(8, (m) => m.string(1, o.domain).int(2, o.version));
  for (const [key, value] of Object.entries(model.metadata ?? {})) {
    w.message(14, (m) => m.string(1, key).string(2, value));
  }
  return w.finish();
}
