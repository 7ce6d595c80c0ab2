// A small builder for ONNX graphs, on top of the official ONNX protobuf schema (the `onnx-proto`
// package: onnx.proto compiled for protobufjs). Model exporters (onnx.ts) say what they compute
// as a list of standard ops; this file turns that into a ModelProto and its bytes.
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
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

const { onnx } = onnxProto;

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;

export type OnnxElem = 'float' | 'int64' | 'bool';
const ELEM: Record<OnnxElem, number> = {
  float: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** An attribute value: a number is an INT unless it has a fraction (use { f } to force a FLOAT). */
export type OnnxAttr = number | { f: number } | number[] | { floats: number[] } | string;

/** A dimension: a fixed size, or a symbolic name shared by the values that have it ('B', 'T'). */
export type OnnxDim = number | string;

export class OnnxGraph {
  private readonly nodes: OnnxTypes.INodeProto[] = [];
  private readonly initializers: OnnxTypes.ITensorProto[] = [];
  private readonly inputs: OnnxTypes.IValueInfoProto[] = [];
  private readonly outputs: OnnxTypes.IValueInfoProto[] = [];
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
    const model = onnx.ModelProto.create({
      irVersion: ONNX_IR_VERSION,
      producerName: 'handgrad',
      producerVersion: opts.producerVersion ?? '',
      docString: opts.docString ?? '',
      opsetImport: [{ domain: '', version: ONNX_OPSET }],
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, elem: OnnxElem, dims: OnnxDim[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: ELEM[elem], shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

function attribute(name: string, v: OnnxAttr): OnnxTypes.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    return Number.isInteger(v) ? { name, type: T.INT, i: v } : { name, type: T.FLOAT, f: v };
  }
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('floats' in v) return { name, type: T.FLOATS, floats: v.floats };
  return { name, type: T.FLOAT, f: v.f };
}
