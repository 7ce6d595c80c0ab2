// The argument checks are written once (src/ops/checked.ts) and run by every backend: the same bad
// call fails the same way, with the same message, on the reference, WASM and (emulated) CUDA
// backends, before any memory is touched.
import { beforeAll, describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { createWasmOps } from '../../src/backends/wasm/index.js';
import { CudaOps } from '../../src/backends/cuda/ops.js';
import { installArgumentChecks, OP_NAMES } from '../../src/ops/checked.js';
import type { Activation, Ops } from '../../src/ops/types.js';
import { emulatedAddon } from './cuda-emulated-addon.js';

const NOT_OPS = new Set(['constructor', 'name', 'dtype', 'tensor', 'tensorFrom', 'ints', 'intsFrom', 'mark', 'release', 'packedGemmB',
  'dispose']);

/** Bad calls and the message each must give (the op and operand named, what was expected). */
const BAD: [string, (o: Ops) => unknown, RegExp][] = [
  ['gemm', (o) => o.gemm(false, false, 2, 2, 3, 1, o.tensor(3), o.tensor(6), 0, o.tensor(4)), /^gemm: A holds 3 elements, needs m·k = 2·3 = 6$/],
  ['packGemmB', (o) => o.packGemmB(false, 3, 2, o.tensor(5), o.packedGemmB(3, 2)), /^packGemmB: B holds 5 elements, needs k·n = 3·2 = 6$/],
  ['packGemmB', (o) => o.packGemmB(true, 3, 2, o.tensor(6), o.packedGemmB(2, 3)),
    /^packGemmB: packed holds a k×n = 2×3 operand, the call needs 3×2$/],
  ['gemmPackedB', (o) => o.gemmPackedB(false, 2, 2, 3, 1, o.tensor(6), o.packedGemmB(2, 3), 0, o.tensor(4)),
    /^gemmPackedB: packed holds a k×n = 2×3 operand, the call needs 3×2$/],
  ['gemmPackedB', (o) => o.gemmPackedB(true, 2, 2, 3, 1, o.tensor(6), o.packedGemmB(3, 2), 0, o.tensor(3)),
    /^gemmPackedB: C holds 3 elements, needs m·n = 2·2 = 4$/],
  ['gemmPackedB', (o) => o.gemmPackedB(false, 2, 2, 3, 1, o.tensor(5), o.packedGemmB(3, 2), 0, o.tensor(4)),
    /^gemmPackedB: A holds 5 elements, needs m·k = 2·3 = 6$/],
  ['gemmPackedB', (o) => o.gemmPackedB(false, 1.5, 2, 3, 1, o.tensor(6), o.packedGemmB(3, 2), 0, o.tensor(4)),
    /^gemmPackedB: m must be a non-negative integer, got 1.5$/],
  ['gemmPackedB', (o) => o.gemmPackedB(false, 2, 2, 3, 1, o.tensor(6), o.packedGemmB(3, 2), 0, o.tensor(4)),
    /^gemmPackedB: packed holds no operand yet \(packGemmB first\)$/],
  ['packedGemmB', (o) => o.packedGemmB(-1, 2), /^packedGemmB: k must be a non-negative integer, got -1$/],
  ['add', (o) => o.add(o.tensor(4), o.tensor(3), o.tensor(4)), /^add: b holds 3 elements, a holds 4$/],
  ['activation', (o) => o.activation('swish' as Activation, o.tensor(2), o.tensor(2)), /^unknown activation 'swish'/],
  ['addBias', (o) => o.addBias(o.tensor(6), o.tensor(2), 2, 3), /^addBias: bias holds 2 elements, needs 1×3 = 3$/],
  ['softmax', (o) => o.softmax(o.tensor(6), o.tensor(6), 2.5, 3), /^softmax: rows and cols must be non-negative integers, got 2.5×3$/],
  ['softmaxCrossEntropy', (o) => o.softmaxCrossEntropy(o.tensor(6), o.intsFrom([0, 3]), 2, 3, null, 1), /^softmaxCrossEntropy: target 3 in row 1 is not below 3 classes$/],
  ['embedding', (o) => o.embedding(o.tensor(6), o.intsFrom([2]), o.tensor(3), 1, 3), /^embedding: id 2 at position 0 is outside 0..1$/],
  ['embeddingBackward', (o) => o.embeddingBackward(o.tensor(3), o.intsFrom([-1]), o.tensor(6), 1, 3), /^embeddingBackward: id -1 at position 0 is outside 0..1$/],
  ['adam', (o) => o.adam(o.tensor(4), o.tensor(4), o.tensor(3), o.tensor(4),
    { lr: 1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, decoupled: false, step: 1 }), /^adam: m holds 3 elements, param holds 4$/],
  ['lstmCell', (o) => o.lstmCell(o.tensor(8), o.tensor(2), o.tensor(2), o.tensor(2), o.tensor(1), 1, 2), /^lstmCell: h holds 1 elements, needs 1×2 = 2$/],
  ['gruPaperGates', (o) => o.gruPaperGates(o.tensor(3), o.tensor(4), o.tensor(2), o.tensor(2), 1, 2), /^gruPaperGates: xrz holds 3 elements, needs 1×4 = 4$/],
  ['swiglu', (o) => o.swiglu(o.tensor(7), o.tensor(4), 2, 2), /^swiglu: gu holds 7 elements, needs rows·2F = 8$/],
  ['attention', (o) => o.attention(o.tensor(4), o.tensor(4), o.tensor(4), o.tensor(4), o.tensor(2),
    { B: 1, H: 1, D: 2, Tq: 2, Tk: 2, causal: true, qOffset: 0, qStride: 2, kvStride: 2, oStride: 2, scale: 1, dropout: 1 }),
  /^attention: dropout must be in \[0, 1\), got 1$/],
  ['attentionBackward', (o) => o.attentionBackward(o.tensor(4), o.tensor(4), o.tensor(4), o.tensor(4), o.tensor(2), o.tensor(4),
    o.tensor(4), o.tensor(4), o.tensor(4),
    { B: 1, H: 1, D: 2, Tq: 2, Tk: 2, causal: true, qOffset: 0, qStride: 2, kvStride: 2, oStride: 2, scale: 1, dropout: 0.1, dropoutSeed: -1 }),
  /^attentionBackward: dropoutSeed must be a uint32, got -1$/],
  ['moePlan', (o) => o.moePlan(o.intsFrom([0, 9]), 2, 4, 1, -1, o.ints(2), o.ints(2), o.ints(5), o.ints(4)), /^moePlan: topIdx\[1\] = 9 is outside 0..3$/],
  ['groupedGemm', (o) => o.groupedGemm('nn', 2, o.intsFrom([0, 3, 1]), 1, 1, o.tensor(6), o.tensor(6), 0, o.tensor(6)), /non-decreasing/],
  ['memoryForward', (o) => o.memoryForward(o.tensor(3), o.tensor(3), o.tensor(3), o.tensor(3), o.tensor(1000),
    { B: 1, T: 3, dk: 1, dv: 1, rule: 'delta', optimizer: 'gd', eta: 1, beta: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, period: 0 }),
  /^memoryForward: period must be an integer ≥ 1, got 0$/],
];

describe('argument checks, once for every backend', () => {
  const backends: [string, () => Ops][] = [];
  let wasm: Ops;
  beforeAll(async () => { wasm = await createWasmOps({ threads: 1 }); });
  backends.push(['reference-f64', () => new ReferenceOps('f64')]);
  backends.push(['wasm', () => wasm]);
  backends.push(['cuda (emulated addon)', () => new CudaOps(emulatedAddon(1 << 20), 'Emulated')]);

  for (const [name, make] of backends) {
    it(`${name} refuses each bad call with the shared message`, () => {
      const ops = make();
      const m = ops.mark();
      for (const [op, call, message] of BAD) {
        let thrown: unknown = null;
        try { call(ops); } catch (e) { thrown = e; }
        expect(thrown, `${op} did not throw`).toBeInstanceOf(RangeError);
        expect((thrown as Error).message, op).toMatch(message);
      }
      ops.release(m);
      if (name.startsWith('cuda')) ops.dispose();
    });
  }

  it('OP_NAMES is exactly the op methods of a backend (what the CUDA profiler times)', () => {
    const methods = Object.getOwnPropertyNames(ReferenceOps.prototype).filter((n) => !NOT_OPS.has(n));
    expect([...methods].sort()).toEqual([...OP_NAMES].sort());
    const cuda = Object.getOwnPropertyNames(CudaOps.prototype).filter((n) => (OP_NAMES as readonly string[]).includes(n));
    expect(cuda.sort()).toEqual([...OP_NAMES].sort());
  });

  it('refuses a packed operand from another backend', async () => {
    const ref = new ReferenceOps('f32'), cuda = new CudaOps(emulatedAddon(1 << 20), 'Emulated');
    try {
      const cases: [Ops, Ops, RegExp][] = [[ref, wasm, /another backend/], [wasm, ref, /another backend/], [cuda, ref, /another backend/]];
      for (const [o, maker, message] of cases) {
        const P = maker.packedGemmB(3, 2);
        maker.packGemmB(false, 3, 2, maker.tensor(6), P);
        expect(() => o.packGemmB(false, 3, 2, o.tensor(6), P)).toThrow(message);
        expect(() => o.gemmPackedB(false, 1, 2, 3, 1, o.tensor(3), P, 0, o.tensor(2))).toThrow(message);
      }
    } finally {
      cuda.dispose();
    }
  });

  it('refuses a second install, and a backend that lacks an op', () => {
    expect(() => installArgumentChecks(ReferenceOps.prototype)).toThrow(/already checks/);
    class Partial { gemm(): void {} }
    expect(() => installArgumentChecks(Partial.prototype as unknown as Ops)).toThrow(/has no method packGemmB/);
  });
});
