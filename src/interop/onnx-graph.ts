// A small builder for ONNX graphs, on top of our subset of the ONNX protobuf schema
// (scripts/proto/onnx_subset.proto, compiled for @bufbuild/protobuf into generated/onnx_subset_pb.ts
// by scripts/generate-onnx-proto.mjs). Model exporters (onnx.ts) say what they compute as a list of
// standard ops; this file turns that into a ModelProto and its bytes.
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
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType as AttrType, ModelProtoSchema, TensorProto_DataType as DataType,
  type AttributeProtoSchema, type NodeProtoSchema, type TensorProtoSchema, type ValueInfoProtoSchema,
} from './generated/onnx_subset_pb.js';

type NodeInit = MessageInitShape<typeof NodeProtoSchema>;
type TensorInit = MessageInitShape<typeof TensorProtoSchema>;
type ValueInfoInit = MessageInitShape<typeof ValueInfoProtoSchema>;
type AttributeInit = MessageInitShape<typeof AttributeProtoSchema>;

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;

export type OnnxElem = 'float' | 'int64' | 'bool';
const ELEM: Record<OnnxElem, DataType> = {
  float: DataType.FLOAT,
  int64: DataType.INT64,
  bool: DataType.BOOL,
};

/** An attribute value: a number is an INT unless it has a fraction (use { f } to force a FLOAT). */
export type OnnxAttr = number | { f: number } | number[] | { floats: number[] } | string;

/** A dimension: a fixed size, or a symbolic name shared by the values that have it ('B', 'T'). */
export type OnnxDim = number | string;

export class OnnxGraph {
  private readonly nodes: NodeInit[] = [];
  private readonly initializers: TensorInit[] = [];
  private readonly inputs: ValueInfoInit[] = [];
  private readonly outputs: ValueInfoInit[] = [];
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
      name: this.claim(name), dims: int64s(dims), dataType: ELEM.float,
      rawData: new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength),
    });
    return name;
  }

  /** An int64 constant (shapes, axes, indices). */
  ints(values: readonly number[], dims: readonly number[] = [values.length], base = 'const'): string {
    const name = this.fresh(base);
    const i64 = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims: int64s(dims), dataType: ELEM.int64, rawData: new Uint8Array(i64.buffer) });
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

  /**
   * The ModelProto's bytes. `metadata` goes into metadata_props (strings). Repeated numbers (dims,
   * ints, floats) are written unpacked, as ONNX declares them (proto2, not packed) and as the
   * official onnx package writes them; every protobuf reader takes either form.
   */
  encode(opts: { producerVersion?: string; metadata?: Record<string, string>; docString?: string } = {}): Uint8Array {
    const model = create(ModelProtoSchema, {
      irVersion: BigInt(ONNX_IR_VERSION),
      producerName: 'handgrad',
      producerVersion: opts.producerVersion ?? '',
      docString: opts.docString ?? '',
      opsetImport: [{ domain: '', version: BigInt(ONNX_OPSET) }],
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs,
      },
    });
    return toBinary(ModelProtoSchema, model);
  }
}

/** int64 fields are bigints in @bufbuild/protobuf. */
const int64s = (values: readonly number[]): bigint[] => values.map((v) => BigInt(v));

function valueInfo(name: string, elem: OnnxElem, dims: OnnxDim[]): ValueInfoInit {
  const dim = dims.map((d) => ({
    value: typeof d === 'number' ? { case: 'dimValue' as const, value: BigInt(d) } : { case: 'dimParam' as const, value: d },
  }));
  return { name, type: { value: { case: 'tensorType', value: { elemType: ELEM[elem], shape: { dim } } } } };
}

function attribute(name: string, v: OnnxAttr): AttributeInit {
  if (typeof v === 'string') return { name, type: AttrType.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    return Number.isInteger(v) ? { name, type: AttrType.INT, i: BigInt(v) } : { name, type: AttrType.FLOAT, f: v };
  }
  if (Array.isArray(v)) return { name, type: AttrType.INTS, ints: int64s(v) };
  if ('floats' in v) return { name, type: AttrType.FLOATS, floats: v.floats };
  return { name, type: AttrType.FLOAT, f: v.f };
}
