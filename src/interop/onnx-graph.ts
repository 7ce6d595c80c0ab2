// A small builder for ONNX graphs. Model exporters (onnx.ts) say what they compute as a list of
// standard ops; this file turns that into a ModelProto and its bytes, written field by field with
// the numbers of onnx.proto (ONNX 1.10) through ./protobuf.ts. The tests decode them with the
// official schema (the `onnx-proto` package, a dev dependency) and load them in onnxruntime-web.
//
//   const g = new OnnxGraph('lstm');
//   const ids = g.input('ids', 'int64', ['B', 'T']);
//   const W = g.weight('head.W', [H, V], data);          // float32 initializer
//   const y = g.op('MatMul', [x, W]);                    // returns the output's (fresh) name
//   g.output(y, 'float', ['B', 'T', V], 'logits');        // renames the value to 'logits'
//   const bytes = g.encode({ metadata: { … } });
//
// Names: g.op() invents unique value names (`MatMul_12`); weights keep the names given (ours, so
// a graph viewer shows `block0.attn.qkv.W`). Opset 17 (LayerNormalization is there), IR version 8.
import { ProtoWriter } from './protobuf.js';

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;

export type OnnxElem = 'float' | 'int64' | 'bool';
/** TensorProto.DataType. */
const ELEM: Record<OnnxElem, number> = { float: 1, int64: 7, bool: 9 };
/** AttributeProto.AttributeType. */
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

// The messages as this builder fills them (the subset of onnx.proto it writes).
interface NodeProto { opType: string; input: string[]; output: string[]; name: string; attribute?: AttributeProto[] }
interface TensorProto { name: string; dims: number[]; dataType: number; rawData: Uint8Array }
interface ValueInfoProto { name: string; elemType: number; dims: OnnxDim[] }
interface AttributeProto { name: string; type: number; f?: number; i?: number; s?: Uint8Array; floats?: number[]; ints?: number[] }

/** An attribute value: a number is an INT unless it has a fraction (use { f } to force a FLOAT). */
export type OnnxAttr = number | { f: number } | number[] | { floats: number[] } | string;

/** A dimension: a fixed size, or a symbolic name shared by the values that have it ('B', 'T'). */
export type OnnxDim = number | string;

export class OnnxGraph {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(readonly name: string) {}

  private fresh(base: string): string {
    let n: string;
    do n = `${base}_${this.counter++}`; while (this.names.has(n));
    this.names.add(n);
    return n;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`onnx graph ${this.name}: the name '${name}' is used twice`);
    this.names.add(name);
    return name;
  }

  /** A graph input. */
  input(name: string, elem: OnnxElem, dims: OnnxDim[]): string {
    this.inputs.push(valueInfo(this.claim(name), elem, dims));
    return name;
  }

  /** Marks `value` as a graph output under `name` (an Identity node renames it). */
  output(value: string, elem: OnnxElem, dims: OnnxDim[], name: string): string {
    this.nodes.push({ opType: 'Identity', input: [value], output: [this.claim(name)], name: `out_${name}` });
    this.outputs.push(valueInfo(name, elem, dims));
    return name;
  }

  /** A float32 initializer (values converted from whatever precision they are in). */
  weight(name: string, dims: readonly number[], values: ArrayLike<number>): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (values.length !== size) throw new Error(`onnx graph ${this.name}: '${name}' has ${values.length} values for shape ${dims.join('×')}`);
    const f32 = Float32Array.from(values);
    this.initializers.push({
      name: this.claim(name), dims: [...dims], dataType: ELEM.float,
      rawData: new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength),
    });
    return name;
  }

  /** An int64 constant (shapes, axes, indices). */
  ints(values: readonly number[], dims: readonly number[] = [values.length], base = 'const'): string {
    const name = this.fresh(base);
    const i64 = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims: [...dims], dataType: ELEM.int64, rawData: new Uint8Array(i64.buffer) });
    return name;
  }

  /** A float32 scalar constant. */
  scalar(value: number, base = 'const'): string {
    const name = this.fresh(base);
    this.initializers.push({ name, dims: [], dataType: ELEM.float, rawData: new Uint8Array(Float32Array.of(value).buffer) });
    return name;
  }

  /** One node with one output; returns the output's name. */
  op(opType: string, inputs: string[], attrs: Record<string, OnnxAttr> = {}): string {
    return this.opN(opType, inputs, 1, attrs)[0];
  }

  /** One node with `outputs` outputs ('' inputs are ONNX's "not given"). */
  opN(opType: string, inputs: string[], outputs: number, attrs: Record<string, OnnxAttr> = {}): string[] {
    const out = Array.from({ length: outputs }, () => this.fresh(opType));
    this.nodes.push({
      opType, input: inputs, output: out, name: this.fresh(`n_${opType}`),
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  /** The ModelProto's bytes. `metadata` goes into metadata_props (strings). */
  encode(opts: { producerVersion?: string; metadata?: Record<string, string>; docString?: string } = {}): Uint8Array {
    // ModelProto: ir_version 1, producer_name 2, producer_version 3, doc_string 6, graph 7,
    // opset_import 8, metadata_props 14 (in field order, as protobuf encoders write them).
    const w = new ProtoWriter()
      .varint(1, ONNX_IR_VERSION)
      .string(2, 'handgrad')
      .string(3, opts.producerVersion ?? '')
      .string(6, opts.docString ?? '')
      .message(7, (g) => this.writeGraph(g))
      .message(8, (o) => o.string(1, '').varint(2, ONNX_OPSET)); // OperatorSetIdProto: domain 1, version 2
    for (const [key, value] of Object.entries(opts.metadata ?? {})) w.message(14, (e) => e.string(1, key).string(2, value));
    return w.finish();
  }

  /** GraphProto: node 1, name 2, initializer 5, input 11, output 12. */
  private writeGraph(g: ProtoWriter): void {
    for (const n of this.nodes) g.message(1, (w) => writeNode(w, n));
    g.string(2, this.name);
    for (const t of this.initializers) g.message(5, (w) => writeTensor(w, t));
    for (const v of this.inputs) g.message(11, (w) => writeValueInfo(w, v));
    for (const v of this.outputs) g.message(12, (w) => writeValueInfo(w, v));
  }
}

function valueInfo(name: string, elem: OnnxElem, dims: OnnxDim[]): ValueInfoProto {
  return { name, elemType: ELEM[elem], dims };
}

/** NodeProto: input 1, output 2, name 3, op_type 4, attribute 5. */
function writeNode(w: ProtoWriter, n: NodeProto): void {
  for (const i of n.input) w.string(1, i);
  for (const o of n.output) w.string(2, o);
  w.string(3, n.name).string(4, n.opType);
  for (const a of n.attribute ?? []) w.message(5, (aw) => writeAttribute(aw, a));
}

/** TensorProto: dims 1 (packed), data_type 2, name 8, raw_data 9 (little-endian values). */
function writeTensor(w: ProtoWriter, t: TensorProto): void {
  w.packedVarints(1, t.dims).varint(2, t.dataType).string(8, t.name).bytes(9, t.rawData);
}

/**
 * ValueInfoProto: name 1, type 2 → TypeProto: tensor_type 1 → elem_type 1, shape 2 →
 * TensorShapeProto: dim 1 → Dimension: dim_value 1 or dim_param 2.
 */
function writeValueInfo(w: ProtoWriter, v: ValueInfoProto): void {
  w.string(1, v.name).message(2, (type) => type.message(1, (tensor) => tensor
    .varint(1, v.elemType)
    .message(2, (shape) => {
      for (const d of v.dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.varint(1, d) : dim.string(2, d)));
    })));
}

/** AttributeProto: name 1, f 2, i 3, s 4, floats 7 (packed), ints 8 (packed), type 20. */
function writeAttribute(w: ProtoWriter, a: AttributeProto): void {
  w.string(1, a.name);
  if (a.f !== undefined) w.float(2, a.f);
  if (a.i !== undefined) w.varint(3, a.i);
  if (a.s !== undefined) w.bytes(4, a.s);
  if (a.floats) w.packedFloats(7, a.floats);
  if (a.ints) w.packedVarints(8, a.ints);
  w.varint(20, a.type);
}

function attribute(name: string, v: OnnxAttr): AttributeProto {
  const T = ATTR;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    return Number.isInteger(v) ? { name, type: T.INT, i: v } : { name, type: T.FLOAT, f: v };
  }
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('floats' in v) return { name, type: T.FLOATS, floats: v.floats };
  return { name, type: T.FLOAT, f: v.f };
}
