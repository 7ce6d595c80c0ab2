// The ONNX writer (src/interop/onnx-graph.ts on src/interop/protobuf.ts) against the official
// schema: onnx.proto compiled for protobufjs (the `onnx-proto` package, a dev dependency). Its
// decoder must read back every field we wrote, and re-encoding what it read must give our bytes
// exactly: a wrong field number or wire type would be dropped as unknown, or change the bytes.
// (tests/interop/onnx.test.ts runs the exported models themselves in onnxruntime-web.)
import { describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { OnnxGraph, ONNX_IR_VERSION, ONNX_OPSET } from '../../src/interop/onnx-graph.js';
import { ProtoWriter } from '../../src/interop/protobuf.js';

const { onnx } = onnxProto;

function sampleGraph(): Uint8Array {
  const g = new OnnxGraph('sample');
  const x = g.input('ids', 'int64', ['B', 'T']);
  const W = g.weight('embed.table', [3, 2], [1, 2, 3, 4, 5, 6.5]);
  const e = g.op('Gather', [W, x], { axis: 0 });
  const shape = g.ints([-1, 2], [2], 'shape');
  const r = g.op('Reshape', [e, shape]);
  const s = g.op('Mul', [r, g.scalar(0.5)]);
  const n = g.op('LayerNormalization', [s, g.weight('ln.g', [2], [1, 1])], { axis: -1, epsilon: { f: 1e-5 } });
  const t = g.op('Transpose', [n], { perm: [1, 0] });
  const c = g.op('Celu', [t], { alpha: 1.5 });
  const k = g.op('Constant', [], { value_floats: { floats: [0.25, -2] }, note: 'ünïcode' });
  const [top, idx] = g.opN('TopK', [c, k], 2, { largest: 1 });
  g.output(top, 'float', [2, 'B'], 'logits');
  g.output(idx, 'int64', [2, 'B'], 'indices');
  return g.encode({ producerVersion: '0.1.0', metadata: { 'handgrad.kind': 'lstm', 'a b': '{"x":1}' }, docString: 'a test graph' });
}

describe('the ONNX writer', () => {
  const bytes = sampleGraph();
  const model = onnx.ModelProto.decode(bytes);

  it('round-trips through the official schema to the same bytes', () => {
    expect(onnx.ModelProto.verify(model)).toBeNull();
    expect(Buffer.from(onnx.ModelProto.encode(model).finish()).equals(Buffer.from(bytes))).toBe(true);
  });

  it('writes every field where the schema expects it', () => {
    const m = onnx.ModelProto.toObject(model, { longs: Number, bytes: Array, defaults: false }) as Record<string, any>;
    expect(m.irVersion).toBe(ONNX_IR_VERSION);
    expect(m.producerName).toBe('handgrad');
    expect(m.producerVersion).toBe('0.1.0');
    expect(m.docString).toBe('a test graph');
    expect(m.opsetImport).toEqual([{ domain: '', version: ONNX_OPSET }]);
    expect(m.metadataProps).toEqual([{ key: 'handgrad.kind', value: 'lstm' }, { key: 'a b', value: '{"x":1}' }]);
    const g = m.graph;
    expect(g.name).toBe('sample');
    expect(g.input).toEqual([{ name: 'ids', type: { tensorType: { elemType: 7, shape: { dim: [{ dimParam: 'B' }, { dimParam: 'T' }] } } } }]);
    expect(g.output.map((o: any) => [o.name, o.type.tensorType.elemType, o.type.tensorType.shape.dim])).toEqual([
      ['logits', 1, [{ dimValue: 2 }, { dimParam: 'B' }]],
      ['indices', 7, [{ dimValue: 2 }, { dimParam: 'B' }]],
    ]);
    const table = g.initializer.find((t: any) => t.name === 'embed.table');
    expect(table.dims).toEqual([3, 2]);
    expect(table.dataType).toBe(1);
    expect([...new Float32Array(Uint8Array.from(table.rawData).buffer)]).toEqual([1, 2, 3, 4, 5, 6.5]);
    const shape = g.initializer.find((t: any) => t.name.startsWith('shape'));
    expect(shape.dataType).toBe(7);
    expect([...new BigInt64Array(Uint8Array.from(shape.rawData).buffer)]).toEqual([-1n, 2n]);
    const scalar = g.initializer.find((t: any) => t.name.startsWith('const'));
    expect(scalar.dims).toBeUndefined(); // a scalar: no dims at all
    const node = (op: string) => g.node.find((n: any) => n.opType === op);
    expect(node('Gather').attribute).toEqual([{ name: 'axis', type: 2, i: 0 }]);
    expect(node('LayerNormalization').attribute).toEqual([{ name: 'axis', type: 2, i: -1 }, { name: 'epsilon', type: 1, f: Math.fround(1e-5) }]);
    expect(node('Transpose').attribute).toEqual([{ name: 'perm', type: 7, ints: [1, 0] }]);
    expect(node('Celu').attribute).toEqual([{ name: 'alpha', type: 1, f: 1.5 }]);
    expect(node('Constant').attribute).toEqual([
      { name: 'value_floats', type: 6, floats: [0.25, -2] },
      { name: 'note', type: 3, s: [...new TextEncoder().encode('ünïcode')] },
    ]);
    expect(node('TopK').output).toHaveLength(2);
    expect(g.node.filter((n: any) => n.opType === 'Identity').map((n: any) => n.output)).toEqual([['logits'], ['indices']]);
  });
});

describe('ProtoWriter', () => {
  it('writes varints as protobuf does, negative int64 in ten bytes', () => {
    const bytes = (v: number | bigint) => [...new ProtoWriter().varint(1, v).finish()];
    expect(bytes(0)).toEqual([8, 0]);
    expect(bytes(150)).toEqual([8, 0x96, 0x01]);
    expect(bytes(-1)).toEqual([8, 255, 255, 255, 255, 255, 255, 255, 255, 255, 1]);
    expect(bytes(2n ** 40n)).toEqual([8, 128, 128, 128, 128, 128, 32]);
  });

  it('grows past its first buffer', () => {
    const big = new Uint8Array(100_000).map((_, i) => i & 0xff);
    const out = new ProtoWriter().bytes(9, big).finish();
    expect(out.length).toBe(1 + 3 + big.length);
    expect(out.subarray(4)).toEqual(big);
  });
});
