// GPU conformance cases: every op the (MoE) transformer uses, run on a backend under test (the
// CUDA backend) and on the float64 reference backend with the same random inputs, on ragged
// shapes. Each case reports the normwise relative error ‖a−b‖/‖b‖ and the worst elementwise one
// |a−b| / (|b| + max(0.1·rms(b), 1e-6)) (the floor keeps elements near zero from dominating) over all its
// outputs and shapes, against a tolerance: ~1e-2 normwise for the bf16 tensor-core products
// (gemm, groupedGemm, attention), ~1e-5 for fp32 ops. Integer outputs (routing, plans) must match
// exactly. Used by tests/backends/cuda.test.ts (vitest) and scripts/gpu-check.ts (plain tsx, for
// the GPU machine, which has Node but no dev dependencies).
import type { IntTensor, Ops, Tensor } from '../../ops/types.js';
import { ACTIVATIONS } from '../../ops/types.js';
import { Rng } from '../../util/rng.js';

export interface CaseResult {
  name: string;
  /** Worst normwise relative error over the case's outputs and shapes. */
  normwise: number;
  /** Worst elementwise relative error (floored at 0.1·rms of the reference). */
  elementwise: number;
  tol: number;
  elemTol: number;
  pass: boolean;
  /** Where the worst error was (output and shape), or the exception message. */
  detail: string;
  ms: number;
}

export interface ConformanceCase {
  name: string;
  /** Normwise tolerance; the elementwise one is elemTol (default 10·tol). */
  tol: number;
  elemTol?: number;
  run(h: Pair): void;
}

interface P<T> { g: T; r: T }
type Side = <T>(p: P<T>) => T;

/** Paired tensors on the backend under test (g) and the reference (r), and the error tally. */
export class Pair {
  norm = 0;
  elem = 0;
  where = '';
  /** Label of the current shape, for the report. */
  shape = '';
  constructor(readonly gpu: Ops, readonly ref: Ops, readonly rng: Rng, readonly quick = false) {}
  /** In quick mode (CPU tests of the glue), shapes above 40k elements are skipped. */
  skip(elements: number): boolean { return this.quick && elements > 40_000; }

  /** Values are rounded to f32 first, so both backends see exactly the same inputs. */
  from(values: ArrayLike<number>): P<Tensor> {
    const v = Float32Array.from(values);
    return { g: this.gpu.tensorFrom(v), r: this.ref.tensorFrom(v) };
  }
  rand(n: number, lo = -1, hi = 1): P<Tensor> {
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = this.rng.uniform(lo, hi);
    return this.from(v);
  }
  randn(n: number, std = 1): P<Tensor> {
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = this.rng.normal(0, std);
    return this.from(v);
  }
  zeros(n: number): P<Tensor> { return { g: this.gpu.tensor(n), r: this.ref.tensor(n) }; }
  ints(values: ArrayLike<number>): P<IntTensor> { return { g: this.gpu.intsFrom(values), r: this.ref.intsFrom(values) }; }
  intZeros(n: number): P<IntTensor> { return { g: this.gpu.ints(n), r: this.ref.ints(n) }; }
  view<T extends Tensor | IntTensor>(p: P<T>, offset: number, size: number): P<T> {
    return { g: p.g.view(offset, size) as T, r: p.r.view(offset, size) as T };
  }
  /** Runs fn on both backends; returns [under test, reference]. */
  both<R>(fn: (o: Ops, t: Side) => R): [R, R] {
    return [fn(this.gpu, (p) => p.g), fn(this.ref, (p) => p.r)];
  }

  compare(label: string, p: P<Tensor>): void { this.compareArrays(label, p.g.data, p.r.data); }
  compareNum(label: string, a: number, b: number): void { this.compareArrays(label, [a], [b]); }
  compareArrays(label: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
    let num = 0, den = 0, bad = false;
    for (let i = 0; i < b.length; i++) {
      if (a[i] === b[i]) { den += Number.isFinite(b[i]) ? b[i] * b[i] : 0; continue; }
      const d = a[i] - b[i];
      if (!Number.isFinite(d)) bad = true;
      num += d * d;
      den += b[i] * b[i];
    }
    const rms = Math.sqrt(den / Math.max(1, b.length));
    // The absolute part of the floor matters only for an all-zero reference (e.g. the gradient of
    // a one-class softmax), where float32 rounding leaves ~1e-11 instead of 0.
    const floor = Math.max(0.1 * rms, 1e-6);
    let elem = 0;
    for (let i = 0; i < b.length; i++) {
      if (a[i] === b[i]) continue;
      const e = Math.abs(a[i] - b[i]) / (Math.abs(b[i]) + floor);
      if (!(e <= elem)) elem = Number.isNaN(e) ? Infinity : e;
    }
    const norm = bad ? Infinity : den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
    this.note(label, norm, elem);
  }
  /** Integer outputs must match exactly: the error is the fraction of mismatches. */
  compareInts(label: string, p: P<IntTensor>): void {
    const a = p.g.data, b = p.r.data;
    let miss = 0, first = -1;
    for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) { miss++; if (first < 0) first = i; }
    const e = miss / Math.max(1, b.length);
    this.note(first < 0 ? label : `${label}[${first}] = ${a[first]}, expected ${b[first]}`, e, e);
  }
  private note(label: string, norm: number, elem: number): void {
    const tag = this.shape ? `${label} @ ${this.shape}` : label;
    if (norm > this.norm || (Number.isNaN(norm) && !Number.isNaN(this.norm))) { this.norm = norm; this.where = tag; }
    if (elem > this.elem) { this.elem = elem; if (!(norm > 0)) this.where = tag; }
  }
}

// ---- shapes -----------------------------------------------------------------------------------------
/** Ragged row×col shapes for the row-wise ops: 1, 7, 33, 513 rows; 1, 5, 64, 4096 columns. */
const ROW_SHAPES: [number, number][] = [[1, 1], [1, 4096], [7, 5], [33, 64], [513, 1], [513, 64], [65, 4096], [7, 1000]];
/** Element counts for the maps: scalar tails, an odd size, a big one. */
const SIZES = [1, 7, 33, 4096, 513 * 64 + 3];

const FP32 = 1e-5, BF16 = 1e-2, BF16_ELEM = 0.3;

function forShapes(h: Pair, shapes: [number, number][], fn: (rows: number, cols: number) => void): void {
  for (const [rows, cols] of shapes) {
    if (h.skip(rows * cols)) continue;
    h.shape = `${rows}×${cols}`;
    fn(rows, cols);
  }
}
function forSizes(h: Pair, fn: (n: number, unaligned: boolean) => void): void {
  for (const n of SIZES) {
    if (h.skip(n)) continue;
    h.shape = `n=${n}`;
    fn(n, false);
  }
  // A view at an odd offset: misaligned for float4, so the scalar path and view pointers are exercised.
  h.shape = 'n=1000 at offset 1';
  fn(1000, true);
}
/** A tensor of n elements, or an n-element view at offset 1 of a bigger one. */
function randMaybeView(h: Pair, n: number, unaligned: boolean, lo = -1, hi = 1): P<Tensor> {
  return unaligned ? h.view(h.rand(n + 1, lo, hi), 1, n) : h.rand(n, lo, hi);
}

// ---- the cases ----------------------------------------------------------------------------------------
export function conformanceCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const add = (name: string, tol: number, run: (h: Pair) => void, elemTol?: number) => cases.push({ name, tol, run, elemTol });

  // storage and the host-mirror protocol
  add('storage: tensorFrom/.data/views/mark-release', 0, (h) => {
    const a = h.rand(100);
    // Write through .data of a view, run an op, read back through .data of the base.
    h.both((o, t) => { const v = t(a).view(10, 20); v.data[3] = 42; o.scale(v, 2); });
    h.compare('after view write + scale', a);
    // Released memory comes back zero-filled.
    h.both((o) => { const m = o.mark(); const x = o.tensor(64); o.fill(x, 7); o.release(m); });
    const z = h.zeros(64);
    h.compare('fresh tensor after release', z);
    const ints = h.ints([3, -1, 7, 0]);
    h.both((_o, t) => { t(ints).data[1] = 5; });
    h.compareInts('ints .data write', ints);
  });

  // elementwise maps
  add('fill', FP32, (h) => forSizes(h, (n, u) => {
    const x = randMaybeView(h, n, u); h.both((o, t) => o.fill(t(x), -0.375)); h.compare('x', x);
  }));
  add('copy', FP32, (h) => forSizes(h, (n, u) => {
    const x = randMaybeView(h, n, u), y = h.zeros(n); h.both((o, t) => o.copy(t(x), t(y))); h.compare('dst', y);
  }));
  add('scale', FP32, (h) => forSizes(h, (n, u) => {
    const x = randMaybeView(h, n, u); h.both((o, t) => o.scale(t(x), 1.7)); h.compare('x', x);
  }));
  add('axpy', FP32, (h) => forSizes(h, (n, u) => {
    const x = randMaybeView(h, n, u), y = h.rand(n); h.both((o, t) => o.axpy(-0.3, t(x), t(y))); h.compare('y', y);
  }));
  add('add', FP32, (h) => forSizes(h, (n, u) => {
    const a = randMaybeView(h, n, u), b = h.rand(n), c = h.zeros(n);
    h.both((o, t) => { o.add(t(a), t(b), t(c)); o.add(t(a), t(b), t(a)); });
    h.compare('out', c); h.compare('out aliasing a', a);
  }));
  add('mul (overwrite, accumulate)', FP32, (h) => forSizes(h, (n, u) => {
    const a = randMaybeView(h, n, u), b = h.rand(n), c = h.rand(n);
    h.both((o, t) => o.mul(t(a), t(b), t(c), true)); h.compare('out += a⊙b', c);
    h.both((o, t) => o.mul(t(a), t(b), t(c))); h.compare('out = a⊙b', c);
  }));
  for (const kind of ACTIVATIONS) {
    add(`activation ${kind}`, FP32, (h) => forSizes(h, (n, u) => {
      const x = randMaybeView(h, n, u, -6, 6), y = h.zeros(n);
      h.both((o, t) => o.activation(kind, t(x), t(y))); h.compare('y', y);
    }));
    add(`activationBackward ${kind}`, FP32, (h) => forSizes(h, (n, u) => {
      const x = randMaybeView(h, n, u, -6, 6), y = h.zeros(n), dy = h.rand(n), dx = h.rand(n);
      // y = f(x) computed by the reference, so both backends differentiate from the same y.
      h.ref.activation(kind, x.r, y.r);
      const yy = h.from(y.r.data);
      h.both((o, t) => o.activationBackward(kind, t(x), t(yy), t(dy), t(dx), true)); h.compare('dx += …', dx);
      h.both((o, t) => o.activationBackward(kind, t(x), t(yy), t(dy), t(dx))); h.compare('dx', dx);
    }));
  }

  // row-wise
  add('addBias', FP32, (h) => forShapes(h, ROW_SHAPES, (R, C) => {
    const y = h.rand(R * C), b = h.rand(C); h.both((o, t) => o.addBias(t(y), t(b), R, C)); h.compare('y', y);
  }));
  add('sumRows (accumulates)', FP32, (h) => forShapes(h, [...ROW_SHAPES, [4099, 33]], (R, C) => {
    const x = h.rand(R * C), out = h.rand(C); h.both((o, t) => o.sumRows(t(x), t(out), R, C)); h.compare('out', out);
  }));
  add('sumCols', FP32, (h) => forShapes(h, ROW_SHAPES, (R, C) => {
    const x = h.rand(R * C), out = h.rand(R); h.both((o, t) => o.sumCols(t(x), t(out), R, C)); h.compare('out', out);
  }));
  add('softmax', FP32, (h) => forShapes(h, ROW_SHAPES, (R, C) => {
    const x = h.randn(R * C, 3), y = h.zeros(R * C);
    h.both((o, t) => { o.softmax(t(x), t(y), R, C); o.softmax(t(x), t(x), R, C); });
    h.compare('y', y); h.compare('y aliasing x', x);
  }));
  add('logSoftmax', FP32, (h) => forShapes(h, ROW_SHAPES, (R, C) => {
    const x = h.randn(R * C, 3), y = h.zeros(R * C); h.both((o, t) => o.logSoftmax(t(x), t(y), R, C)); h.compare('y', y);
  }));
  add('softmaxBackward', FP32, (h) => forShapes(h, ROW_SHAPES, (R, C) => {
    const x = h.randn(R * C, 2), y0 = h.zeros(R * C);
    h.ref.softmax(x.r, y0.r, R, C);
    const y = h.from(y0.r.data), dy = h.rand(R * C), dx = h.zeros(R * C);
    h.both((o, t) => o.softmaxBackward(t(y), t(dy), t(dx), R, C)); h.compare('dx', dx);
  }, ), 1e-4);
  add('logSoftmaxBackward', FP32, (h) => forShapes(h, ROW_SHAPES, (R, C) => {
    const x = h.randn(R * C, 2), y0 = h.zeros(R * C);
    h.ref.logSoftmax(x.r, y0.r, R, C);
    const y = h.from(y0.r.data), dy = h.rand(R * C), dx = h.zeros(R * C);
    h.both((o, t) => o.logSoftmaxBackward(t(y), t(dy), t(dx), R, C)); h.compare('dx', dx);
  }), 1e-4);
  add('softmaxCrossEntropy (padded rows, aliasing, no dlogits)', FP32, (h) => forShapes(h, ROW_SHAPES, (R, C) => {
    const x = h.randn(R * C, 3), d = h.rand(R * C);
    const tg = h.ints(Array.from({ length: R }, (_, r) => (r % 5 === 3 ? -1 : h.rng.int(0, C))));
    const [lg, lr] = h.both((o, t) => o.softmaxCrossEntropy(t(x), t(tg), R, C, t(d), 1 / R));
    h.compareNum('loss', lg, lr); h.compare('dlogits', d);
    const [ng, nr] = h.both((o, t) => o.softmaxCrossEntropy(t(x), t(tg), R, C, null, 1));
    h.compareNum('loss without dlogits', ng, nr);
    h.both((o, t) => o.softmaxCrossEntropy(t(x), t(tg), R, C, t(x), 0.5)); h.compare('dlogits aliasing logits', x);
  }));
  add('layerNorm', FP32, (h) => forShapes(h, ROW_SHAPES, (R, C) => {
    const x = h.randn(R * C, 2), g = h.rand(C, 0.5, 1.5), b = h.rand(C), y = h.zeros(R * C), mu = h.zeros(R), rs = h.zeros(R);
    h.both((o, t) => o.layerNorm(t(x), t(g), t(b), t(y), t(mu), t(rs), R, C, 1e-5));
    h.compare('y', y); h.compare('mean', mu); h.compare('rstd', rs);
  }), 1e-4);
  add('layerNormBackward (accumulates dx, dgamma, dbeta)', FP32, (h) => forShapes(h, [...ROW_SHAPES, [2049, 512]], (R, C) => {
    const x = h.randn(R * C, 2), g = h.rand(C, 0.5, 1.5), b = h.rand(C), y = h.zeros(R * C), mu0 = h.zeros(R), rs0 = h.zeros(R);
    h.ref.layerNorm(x.r, g.r, b.r, y.r, mu0.r, rs0.r, R, C, 1e-5);
    const mu = h.from(mu0.r.data), rs = h.from(rs0.r.data);
    const dy = h.rand(R * C), dx = h.rand(R * C), dg = h.rand(C), db = h.rand(C);
    h.both((o, t) => o.layerNormBackward(t(x), t(g), t(mu), t(rs), t(dy), t(dx), t(dg), t(db), R, C));
    // Over ONE column LayerNorm is constant (y ≡ β), so the exact dx is 0 and what both sides hold
    // is rounding noise times rstd = 1/√eps ≈ 316: nothing to compare (seen on the H100: f32 noise
    // 1.4e-4 "relative" to f64 noise). dgamma and dbeta are still compared.
    if (C > 1) h.compare('dx', dx);
    h.compare('dgamma', dg); h.compare('dbeta', db);
  }), 1e-4);

  // embeddings
  const EMB: [number, number][] = [[1, 1], [7, 5], [513, 64], [33, 4096]];
  add('embedding', FP32, (h) => forShapes(h, EMB, (n, dim) => {
    const V = 50, table = h.rand(V * dim), out = h.zeros(n * dim);
    const ids = h.ints(Array.from({ length: n }, () => h.rng.int(0, V)));
    h.both((o, t) => o.embedding(t(table), t(ids), t(out), n, dim)); h.compare('out', out);
  }));
  add('embeddingBackward (repeated ids sum)', FP32, (h) => forShapes(h, EMB, (n, dim) => {
    const V = 50, dt = h.rand(V * dim), dout = h.rand(n * dim);
    const ids = h.ints(Array.from({ length: n }, () => h.rng.int(0, 6)));
    h.both((o, t) => o.embeddingBackward(t(dout), t(ids), t(dt), n, dim)); h.compare('dtable', dt);
  }));

  // optimisation
  add('sumSquares', FP32, (h) => {
    for (const n of [1, 7, 4097, 1_000_003]) {
      if (h.skip(n)) continue;
      h.shape = `n=${n}`;
      const x = h.rand(n); const [a, b] = h.both((o, t) => o.sumSquares(t(x))); h.compareNum('Σx²', a, b);
    }
  });
  add('sumSquaresMany (one synchronisation over many tensors)', FP32, (h) => {
    const xs = [1, 33, 4097, 100_003].filter((n) => !h.skip(n)).map((n) => h.rand(n));
    h.shape = `${xs.length} tensors`;
    // The reference has no sumSquaresMany: the sum of its sumSquares is the specification.
    const [a, b] = h.both((o, t) => (o.sumSquaresMany ? o.sumSquaresMany(xs.map((x) => t(x))) : xs.reduce((s, x) => s + o.sumSquares(t(x)), 0)));
    h.compareNum('Σ Σx²', a, b);
  });
  for (const decoupled of [false, true]) {
    add(decoupled ? 'adam (AdamW, decoupled decay)' : 'adam (L2 decay)', FP32, (h) => forSizes(h, (n, u) => {
      const w = randMaybeView(h, n, u), g = h.rand(n), m = h.rand(n, -0.1, 0.1), v = h.rand(n, 0, 0.01);
      for (const step of [1, 7]) {
        h.both((o, t) => o.adam(t(w), t(g), t(m), t(v), { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, decoupled, step }));
      }
      h.compare('param', w); h.compare('m', m); h.compare('v', v);
    }));
  }

  // gemm: all four transpose combinations, alpha/beta, beta 0 over NaN
  const GEMM: [number, number, number][] = [[1, 1, 1], [7, 5, 33], [33, 64, 513], [513, 96, 64], [130, 257, 200]];
  for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
    add(`gemm ${ta ? 't' : 'n'}${tb ? 't' : 'n'} (alpha, beta 0 over NaN, beta 1, beta 0.5)`, BF16, (h) => {
      for (const [m, n, k] of GEMM) {
        if (h.skip(m * n * k / 8)) continue;
        h.shape = `${m}×${n}×${k}`;
        const A = h.rand(m * k), B = h.rand(k * n);
        const C = h.from(new Float32Array(m * n).fill(NaN));
        h.both((o, t) => o.gemm(ta, tb, m, n, k, 0.5, t(A), t(B), 0, t(C))); h.compare('C (beta 0)', C);
        h.both((o, t) => o.gemm(ta, tb, m, n, k, 1, t(A), t(B), 1, t(C))); h.compare('C (beta 1)', C);
        h.both((o, t) => o.gemm(ta, tb, m, n, k, -2, t(A), t(B), 0.5, t(C))); h.compare('C (alpha -2, beta 0.5)', C);
      }
    }, BF16_ELEM);
  }

  // groupedGemm: the three modes, with empty groups and rows outside every group
  const GROUPS = [[5, 0, 33, 7], [0, 1, 0, 130, 0, 2], [64]];
  for (const mode of ['nn', 'nt', 'tn'] as const) {
    add(`groupedGemm ${mode} (empty groups)`, BF16, (h) => {
      for (const sizes of GROUPS) {
        for (const [n, k] of [[64, 96], [5, 33]]) {
          h.shape = `groups [${sizes.join(',')}], n=${n}, k=${k}`;
          const G = sizes.length, offs = [0];
          for (const s of sizes) offs.push(offs[offs.length - 1] + s);
          const rows = offs[G] + 3;  // three rows past the last group: must stay untouched
          const off = h.ints(offs), A = h.rand(rows * k);
          if (mode === 'tn') {
            const B = h.rand(rows * n), C = h.rand(G * k * n);
            h.both((o, t) => o.groupedGemm('tn', G, t(off), n, k, t(A), t(B), 1, t(C))); h.compare('C += AᵀB per group', C);
          } else {
            const B = h.rand(G * k * n), C = h.rand(rows * n);
            h.both((o, t) => o.groupedGemm(mode, G, t(off), n, k, t(A), t(B), 0, t(C))); h.compare('C (beta 0)', C);
            h.both((o, t) => o.groupedGemm(mode, G, t(off), n, k, t(A), t(B), 1, t(C))); h.compare('C (beta 1)', C);
          }
        }
      }
    }, BF16_ELEM);
  }

  // groupedGemm while decoding: A and C hold at most 16 rows (maxRows, from their sizes), which
  // takes the CUDA-core small-row path. Top-2 of one token over G = 8 experts (maxRows 2), top-1
  // (maxRows 1, and 2 with a spare row), and a few tokens (12 rows, 3 spare); the MoE decode
  // shapes (W13: k 512, n 2048; W2: k 1024, n 512) and a ragged one. Rows outside every group
  // must come back untouched (C is random, so a write there shows).
  const DECODE: [number[], number][] = [
    [[0, 1, 0, 0, 0, 1, 0, 0], 2], [[0, 0, 1, 0, 0, 0, 0, 0], 1], [[0, 0, 1, 0, 0, 0, 0, 0], 2], [[3, 0, 0, 2, 0, 0, 0, 4], 12],
  ];
  for (const mode of ['nn', 'nt'] as const) {
    add(`groupedGemm ${mode} decode (maxRows ≤ 16, G = 8)`, BF16, (h) => {
      for (const [sizes, rows] of DECODE) {
        for (const [n, k] of [[2048, 512], [512, 1024], [37, 29]]) {
          const G = sizes.length;
          // The 8M-float weights only with the first (top-2) pattern: drawing them dominates the case.
          if (h.skip(G * k * n) || (n > 37 && sizes !== DECODE[0][0])) continue;
          h.shape = `groups [${sizes.join(',')}] in ${rows} rows, n=${n}, k=${k}`;
          const offs = [0];
          for (const s of sizes) offs.push(offs[offs.length - 1] + s);
          const off = h.ints(offs), A = h.rand(rows * k), B = h.rand(G * k * n), C = h.rand(rows * n);
          h.both((o, t) => o.groupedGemm(mode, G, t(off), n, k, t(A), t(B), 0, t(C))); h.compare('C (beta 0)', C);
          h.both((o, t) => o.groupedGemm(mode, G, t(off), n, k, t(A), t(B), 1, t(C))); h.compare('C (beta 1)', C);
        }
      }
    }, BF16_ELEM);
  }

  // attention: fused QKV (stride 3C), causal and not, Tq < Tk with a KV-cache offset
  interface AttnCfg { B: number; H: number; D: number; Tq: number; Tk: number; causal: boolean; qOffset: number; fused: boolean }
  const ATTN: AttnCfg[] = [
    { B: 2, H: 3, D: 32, Tq: 33, Tk: 33, causal: true, qOffset: 0, fused: true },
    { B: 1, H: 2, D: 64, Tq: 257, Tk: 257, causal: true, qOffset: 0, fused: true },
    { B: 2, H: 2, D: 64, Tq: 7, Tk: 65, causal: false, qOffset: 0, fused: false },
    { B: 1, H: 4, D: 64, Tq: 5, Tk: 70, causal: true, qOffset: 65, fused: false },
    { B: 3, H: 1, D: 16, Tq: 1, Tk: 1, causal: true, qOffset: 0, fused: true },
  ];
  const attnLayout = (h: Pair, c: AttnCfg) => {
    const C = c.H * c.D;
    h.shape = `B${c.B} H${c.H} D${c.D} Tq${c.Tq} Tk${c.Tk} ${c.causal ? `causal+${c.qOffset}` : 'full'}${c.fused ? ' fused 3C' : ''}`;
    const s = { B: c.B, H: c.H, D: c.D, Tq: c.Tq, Tk: c.Tk, causal: c.causal, qOffset: c.qOffset, scale: 1 / Math.sqrt(c.D),
      qStride: c.fused ? 3 * C : C, kvStride: c.fused ? 3 * C : C, oStride: C };
    const split = (buf: P<Tensor>, rows: number) => [0, 1, 2].map((j) => h.view(buf, j * C, rows * 3 * C - j * C));
    let q: P<Tensor>, k: P<Tensor>, v: P<Tensor>;
    if (c.fused) {
      [q, k, v] = split(h.randn(c.B * c.Tq * 3 * C), c.B * c.Tq);
    } else {
      q = h.randn(c.B * c.Tq * C); k = h.randn(c.B * c.Tk * C); v = h.randn(c.B * c.Tk * C);
    }
    return { s, q, k, v, C, split };
  };
  add('attention forward', BF16, (h) => {
    for (const c of ATTN) {
      if (h.skip(c.B * c.H * c.Tq * c.Tk)) continue;
      const { s, q, k, v, C } = attnLayout(h, c);
      const out = h.rand(c.B * c.Tq * C), lse = h.zeros(c.B * c.H * c.Tq);
      h.both((o, t) => o.attention(t(q), t(k), t(v), t(out), t(lse), s));
      h.compare('out', out); h.compare('lse', lse);
    }
  }, BF16_ELEM);
  add('attention backward', BF16, (h) => {
    for (const c of ATTN) {
      if (h.skip(c.B * c.H * c.Tq * c.Tk)) continue;
      const { s, q, k, v, C, split } = attnLayout(h, c);
      // out and lse from the reference, so both backward passes start from the same forward.
      const out0 = h.zeros(c.B * c.Tq * C), lse0 = h.zeros(c.B * c.H * c.Tq);
      h.ref.attention(q.r, k.r, v.r, out0.r, lse0.r, s);
      const out = h.from(out0.r.data), lse = h.from(lse0.r.data), dout = h.randn(c.B * c.Tq * C);
      let dq: P<Tensor>, dk: P<Tensor>, dv: P<Tensor>;
      if (c.fused) [dq, dk, dv] = split(h.rand(c.B * c.Tq * 3 * C), c.B * c.Tq);
      else { dq = h.rand(c.B * c.Tq * C); dk = h.rand(c.B * c.Tk * C); dv = h.rand(c.B * c.Tk * C); }
      h.both((o, t) => o.attentionBackward(t(q), t(k), t(v), t(out), t(lse), t(dout), t(dq), t(dk), t(dv), s));
      h.compare('dq', dq); h.compare('dk', dk); h.compare('dv', dv);
    }
    // Elementwise 1.0, not BF16_ELEM: dS = P ⊙ (dP − rowsum(dO ⊙ O)) cancels, so single elements of
    // dq/dk from bf16 operands can be far off relative to their own size (H100, tensor-core path:
    // worst 0.55 at a normwise 5e-3). The normwise bound is the judge here.
  }, 1.0);

  // SwiGLU
  const SWI: [number, number][] = [[1, 1], [7, 5], [513, 64], [33, 1024]];
  add('swiglu', FP32, (h) => forShapes(h, SWI, (R, F) => {
    const gu = h.randn(R * 2 * F, 2), out = h.rand(R * F); h.both((o, t) => o.swiglu(t(gu), t(out), R, F)); h.compare('out', out);
  }));
  add('swigluBackward', FP32, (h) => forShapes(h, SWI, (R, F) => {
    const gu = h.randn(R * 2 * F, 2), d = h.rand(R * F), dgu = h.rand(R * 2 * F);
    h.both((o, t) => o.swigluBackward(t(gu), t(d), t(dgu), R, F)); h.compare('dgu', dgu);
  }));

  // MoE routing. Logits on a 1/16 grid: ties are exact (testing the lower-index-first rule)
  // or at least 1/16 apart, so fp32 and f64 pick the same experts.
  const gridLogits = (h: Pair, n: number, E: number) =>
    Array.from({ length: n * E }, () => Math.round(h.rng.normal(0, 1.5) * 16) / 16);
  const ROUTE: [number, number][] = [[1, 2], [7, 8], [513, 8], [64, 64]];
  for (const k of [1, 2]) {
    for (const renorm of [false, true]) {
      add(`moeRoute k=${k}${renorm ? ' renormalized' : ''}`, FP32, (h) => forShapes(h, ROUTE, (n, E) => {
        const logits = h.from(gridLogits(h, n, E)), probs = h.zeros(n * E), lse = h.zeros(n);
        const idx = h.intZeros(n * k), gate = h.zeros(n * k);
        h.both((o, t) => o.moeRoute(t(logits), t(probs), t(lse), t(idx), t(gate), n, E, k, renorm));
        h.compareInts('topIdx', idx); h.compare('probs', probs); h.compare('lse', lse); h.compare('topGate', gate);
      }));
    }
  }
  /** Random distinct top-k expert choices per token (k = 1 or 2). */
  const randomTopIdx = (h: Pair, n: number, E: number, k: number) => {
    const out: number[] = [];
    for (let t = 0; t < n; t++) {
      const a = h.rng.int(0, E); out.push(a);
      if (k === 2) { let b = h.rng.int(0, E - 1); if (b >= a) b++; out.push(b); }
    }
    return out;
  };
  const PLAN: [number, number][] = [[1, 2], [7, 8], [513, 8], [100, 64]];
  add('moePlan (dropless and capacity-limited)', 0, (h) => {
    for (const [n, E] of PLAN) {
      for (const k of [1, 2]) {
        for (const cap of [-1, 0, Math.max(1, Math.floor((n * k) / E / 2)), n * k]) {
          h.shape = `n${n} E${E} k${k} capacity ${cap}`;
          const idx = h.ints(randomTopIdx(h, n, E, k));
          const slot = h.intZeros(n * k), rowToken = h.intZeros(n * k), off = h.intZeros(E + 1), routed = h.intZeros(E);
          h.both((o, t) => o.moePlan(t(idx), n, E, k, cap, t(slot), t(rowToken), t(off), t(routed)));
          h.compareInts('slot', slot); h.compareInts('rowToken', rowToken); h.compareInts('offsets', off); h.compareInts('routed', routed);
        }
      }
    }
  });
  /** A plan made by the reference, uploaded to both sides (slots include dropped ones, −1). */
  const plan = (h: Pair, n: number, E: number, k: number) => {
    const idx = h.ref.intsFrom(randomTopIdx(h, n, E, k));
    const slot = h.ref.ints(n * k), rt = h.ref.ints(n * k), off = h.ref.ints(E + 1), routed = h.ref.ints(E);
    h.ref.moePlan(idx, n, E, k, Math.max(1, Math.floor((n * k) / E * 0.8)), slot, rt, off, routed);
    return { idx: h.ints(idx.data), slot: h.ints(slot.data) };
  };
  const COMB: [number, number][] = [[1, 1], [7, 5], [513, 64], [33, 512]];
  for (const k of [1, 2]) {
    add(`moeCombine k=${k}`, FP32, (h) => forShapes(h, COMB, (n, C) => {
      const { slot } = plan(h, n, 4, k);
      const yd = h.rand(n * k * C), gate = h.rand(n * k, 0, 1), y = h.rand(n * C);
      h.both((o, t) => o.moeCombine(t(yd), t(slot), t(gate), t(y), n, k, C)); h.compare('y', y);
    }));
    add(`moeCombineBackward k=${k}`, FP32, (h) => forShapes(h, COMB, (n, C) => {
      const { slot } = plan(h, n, 4, k);
      const yd = h.rand(n * k * C), gate = h.rand(n * k, 0, 1), dy = h.rand(n * C), dyd = h.rand(n * k * C), dgate = h.rand(n * k);
      h.both((o, t) => o.moeCombineBackward(t(yd), t(slot), t(gate), t(dy), t(dyd), t(dgate), n, k, C));
      h.compare('dyd', dyd); h.compare('dgate', dgate);
    }));
    for (const renorm of [false, true]) {
      add(`moeRouteBackward k=${k}${renorm ? ' renormalized' : ''} (balance and z terms)`, FP32, (h) => forShapes(h, ROUTE, (n, E) => {
        // A consistent forward from the reference, then identical inputs on both sides.
        const lg = h.ref.tensorFrom(gridLogits(h, n, E)), pr = h.ref.tensor(n * E), ls = h.ref.tensor(n);
        const ix = h.ref.ints(n * k), gt = h.ref.tensor(n * k);
        h.ref.moeRoute(lg, pr, ls, ix, gt, n, E, k, renorm);
        const probs = h.from(pr.data), lse = h.from(ls.data), idx = h.ints(ix.data), gate = h.from(gt.data);
        const dgate = h.rand(n * k), bal = h.rand(E, 0, 0.1), dl = h.rand(n * E);
        h.both((o, t) => o.moeRouteBackward(t(probs), t(lse), t(idx), t(gate), t(dgate), t(bal), 0.01, t(dl), n, E, k, renorm));
        h.compare('dlogits', dl);
        h.both((o, t) => o.moeRouteBackward(t(probs), t(lse), t(idx), t(gate), t(dgate), null, 0, t(dl), n, E, k, renorm));
        h.compare('dlogits (no aux terms)', dl);
      }));
    }
  }
  // moeAuxLoss on a reference routing and plan (dropless and capacity-limited): the losses,
  // balanceGrad and counts, with running totals on top of preset ones, then without (α = 0).
  const AUX: [number, number][] = [[1, 2], [7, 8], [513, 8], [2048, 64]];
  for (const k of [1, 2]) {
    add(`moeAuxLoss k=${k} (balance, z, counts)`, FP32, (h) => forShapes(h, AUX, (n, E) => {
      for (const cap of [-1, Math.max(1, Math.floor((n * k) / E / 2))]) {
        const lg = h.ref.tensorFrom(gridLogits(h, n, E)), pr = h.ref.tensor(n * E), ls = h.ref.tensor(n);
        const ix = h.ref.ints(n * k), gt = h.ref.tensor(n * k);
        h.ref.moeRoute(lg, pr, ls, ix, gt, n, E, k, k === 2);
        const slot = h.ref.ints(n * k), rt = h.ref.ints(n * k), off = h.ref.ints(E + 1), rd = h.ref.ints(E);
        h.ref.moePlan(ix, n, E, k, cap, slot, rt, off, rd);
        const probs = h.from(pr.data), lse = h.from(ls.data), offsets = h.ints(off.data), routed = h.ints(rd.data);
        const grad = h.rand(E), loss = h.rand(4), counts = h.ints(Array.from({ length: 4 * E }, (_, i) => 3 * i));
        h.both((o, t) => o.moeAuxLoss(t(probs), t(lse), t(offsets), t(routed), n, E, k, 0.01, 0.001, t(grad), t(loss), t(counts), true));
        h.compare('balanceGrad', grad); h.compare('loss', loss); h.compareInts('counts', counts);
        h.both((o, t) => o.moeAuxLoss(t(probs), t(lse), t(offsets), t(routed), n, E, k, 0, 0.5, t(grad), t(loss), t(counts), false));
        h.compare('loss (α = 0, no totals)', loss); h.compareInts('counts (no totals)', counts);
      }
    }));
  }
  return cases;
}

/**
 * Runs the cases (those whose name contains `filter`, or for which it answers true) and returns one result each.
 * quick: skip the big shapes (for CPU tests of the glue, where the reference is the bottleneck).
 */
export function runConformance(gpu: Ops, ref: Ops, filter?: string | ((name: string) => boolean),
  onResult?: (r: CaseResult) => void, quick = false): CaseResult[] {
  const results: CaseResult[] = [];
  const wanted = typeof filter === 'function' ? filter : (name: string) => !filter || name.includes(filter);
  for (const c of conformanceCases()) {
    if (!wanted(c.name)) continue;
    const h = new Pair(gpu, ref, new Rng(0x5eed + results.length), quick);
    const elemTol = c.elemTol ?? 10 * c.tol;
    const t0 = performance.now();
    const mg = gpu.mark(), mr = ref.mark();
    let r: CaseResult;
    try {
      c.run(h);
      const pass = h.norm <= c.tol && h.elem <= elemTol;
      r = { name: c.name, normwise: h.norm, elementwise: h.elem, tol: c.tol, elemTol, pass, detail: h.where, ms: 0 };
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0];
      r = { name: c.name, normwise: NaN, elementwise: NaN, tol: c.tol, elemTol, pass: false, detail: `threw${h.shape ? ` @ ${h.shape}` : ''}: ${msg}`, ms: 0 };
    } finally {
      gpu.release(mg);
      ref.release(mr);
    }
    r.ms = performance.now() - t0;
    results.push(r);
    onResult?.(r);
  }
  return results;
}

export function formatResult(r: CaseResult): string {
  const e = (x: number) => (Number.isNaN(x) ? '    -   ' : x.toExponential(2).padStart(8));
  return `${r.pass ? 'PASS' : 'FAIL'}  ${r.name.padEnd(58)} norm ${e(r.normwise)} elem ${e(r.elementwise)}  tol ${r.tol.toExponential(0)}/${r.elemTol.toExponential(0)}  ${r.ms.toFixed(0).padStart(5)} ms  ${r.detail}`;
}
