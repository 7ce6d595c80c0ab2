// The conformance table: every op of the interface run on a backend under test and on the float64
// reference backend with the same random inputs, on ragged shapes, for EVERY backend: WASM
// (tests/backends/conformance.test.ts, on each kernel path, and again with V8 revectorization off),
// CUDA on a GPU (tests/backends/cuda.test.ts, scripts/gpu-check.ts: plain tsx, for the GPU machine,
// which has Node but no dev dependencies) and CUDA over the emulated addon
// (tests/backends/cuda-emulated.test.ts). A new op gets its case here, once.
//
// Each case reports the normwise relative error ‖a−b‖/‖b‖ and the worst elementwise one
// |a−b| / (|b| + max(0.1·rms(b), 1e-6)) (the floor keeps elements near zero from dominating) over all
// its outputs and shapes, against a tolerance: ~1e-5 for fp32 ops, and for the matrix products
// (gemm, groupedGemm, attention) the backend's: ~1e-2 for CUDA's bf16 tensor cores, fp32 otherwise.
// Integer outputs (routing, plans) must match exactly.
//
// With `guard`, every tensor on the backend under test is a view into a buffer whose other cells
// hold a sentinel (1–3 elements in for 'misaligned', so misaligned starts are always exercised; at
// the start for 'after'), checked after each case: a kernel that writes past its view fails.
import type { AttentionShape, IntTensor, MemoryOptimizer, MemoryRule, MemoryShape, Ops, Tensor } from '../ops/types.js';
import { ACTIVATIONS } from '../ops/types.js';
import { memoryAdamOffset, memorySavedSize } from '../ops/memory-recurrence.js';
import { Rng } from '../util/rng.js';

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

/** Shapes some backends' kernels do not take (a case skips them there; see ConformanceOptions.lacks). */
export type Feature =
  /** Zero-sized dimensions (n = 0, rows = 0). */
  | 'empty'
  /** Attention heads wider than 128 (the CUDA kernels' limit). */
  | 'wideHeads'
  /** Causal attention rows that see no key (a negative qOffset). */
  | 'keylessRows'
  /** Attention rows padded to strides that are no multiple of 4 elements. */
  | 'oddStrides'
  /** Dropout on the attention probabilities (AttentionShape.dropout > 0). */
  | 'attentionDropout';

export interface ConformanceCase {
  name: string;
  /** Normwise tolerance ('products': the backend's product tolerance); the elementwise one is elemTol (default 10·tol). */
  tol: number | 'products';
  elemTol?: number | 'products';
  run(h: Pair): void;
}

export interface ConformanceOptions {
  /** Only the cases whose name contains this, or for which it answers true. */
  filter?: string | ((name: string) => boolean);
  onResult?: (r: CaseResult) => void;
  /** Skip shapes above 40k elements (for the CUDA glue on the emulated addon, where the reference is the bottleneck). */
  quick?: boolean;
  /** The precision of the matrix products: 'bf16' (CUDA tensor cores) or 'fp32' (default). */
  products?: 'bf16' | 'fp32';
  /** Shapes the backend's kernels do not take: skipped (CUDA: all of them). */
  lacks?: readonly Feature[];
  /** Sentinel-guarded views for the tensors under test (default 'none'). */
  guard?: 'misaligned' | 'after' | 'none';
}

/** The options for a CUDA backend (real or emulated): bf16 products, none of the extra shapes. */
export const CUDA_CONFORMANCE: ConformanceOptions = { products: 'bf16', lacks: ['empty', 'wideHeads', 'keylessRows', 'oddStrides'], guard: 'after' };

interface P<T> { g: T; r: T }
type Side = <T>(p: P<T>) => T;

/** The value every guard cell holds (exactly representable in f32), and its integer twin. */
const SENTINEL = 777.25, INT_SENTINEL = -777_777;
/** Guard cells after a view: as wide as the widest store a kernel might spill (8 f32 lanes, less the last). */
const PAD_AFTER = 7;

/** Paired tensors on the backend under test (g) and the reference (r), and the error tally. */
export class Pair {
  norm = 0;
  elem = 0;
  where = '';
  /** Label of the current shape, for the report. */
  shape = '';
  private readonly guards: { buf: { data: ArrayLike<number> }; lo: number; hi: number; sentinel: number; label: string }[] = [];
  private guardCount = 0;
  constructor(readonly ops: Ops, readonly ref: Ops, readonly rng: Rng, readonly opts: ConformanceOptions = {}) {}
  /** In quick mode, shapes above 40k elements are skipped. */
  skip(elements: number): boolean { return (this.opts.quick ?? false) && elements > 40_000; }
  /** Whether the backend under test lacks a feature a shape needs (the shape is then skipped). */
  lacks(f: Feature): boolean { return this.opts.lacks?.includes(f) ?? false; }

  /** A tensor on the backend under test, guarded as the options say. */
  private make<T extends Tensor | IntTensor>(n: number, ints: boolean, values: ArrayLike<number> | null): T {
    const o = this.ops, guard = this.opts.guard ?? 'none';
    if (guard === 'none') {
      if (ints) return (values ? o.intsFrom(values) : o.ints(n)) as T;
      return (values ? o.tensorFrom(values) : o.tensor(n)) as T;
    }
    const lo = guard === 'misaligned' ? 1 + (this.guardCount++ % 3) : 0;
    const sentinel = ints ? INT_SENTINEL : SENTINEL;
    const buf = ints ? o.ints(lo + n + PAD_AFTER) : o.tensor(lo + n + PAD_AFTER);
    const d = buf.data;
    d.fill(sentinel);
    if (values) d.set(values, lo); else d.fill(0, lo, lo + n);
    this.guards.push({ buf, lo, hi: lo + n, sentinel, label: `${this.shape ? `${this.shape}: ` : ''}tensor of ${n}` });
    return buf.view(lo, n) as T;
  }
  /** The first guard cell that no longer holds its sentinel, or null. */
  checkGuards(): string | null {
    for (const g of this.guards) {
      const d = g.buf.data;
      for (let i = 0; i < d.length; i++) {
        if ((i < g.lo || i >= g.hi) && d[i] !== g.sentinel) {
          return `${g.label}: element ${i - g.lo} outside the view was overwritten with ${d[i]}`;
        }
      }
    }
    return null;
  }

  /** Values are rounded to f32 first, so both backends see exactly the same inputs. */
  from(values: ArrayLike<number>): P<Tensor> {
    const v = Float32Array.from(values);
    return { g: this.make<Tensor>(v.length, false, v), r: this.ref.tensorFrom(v) };
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
  zeros(n: number): P<Tensor> { return { g: this.make<Tensor>(n, false, null), r: this.ref.tensor(n) }; }
  ints(values: ArrayLike<number>): P<IntTensor> { return { g: this.make<IntTensor>(values.length, true, values), r: this.ref.intsFrom(values) }; }
  intZeros(n: number): P<IntTensor> { return { g: this.make<IntTensor>(n, true, null), r: this.ref.ints(n) }; }
  view<T extends Tensor | IntTensor>(p: P<T>, offset: number, size: number): P<T> {
    return { g: p.g.view(offset, size) as T, r: p.r.view(offset, size) as T };
  }
  /** Runs fn on both backends; returns [under test, reference]. */
  both<R>(fn: (o: Ops, t: Side) => R): [R, R] {
    return [fn(this.ops, (p) => p.g), fn(this.ref, (p) => p.r)];
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
/**
 * Ragged row×col shapes for the row-wise ops: 1…513 rows, 1…4096 columns, odd widths around the
 * SIMD widths (3, 5, 17, 129), and an empty matrix.
 */
const ROW_SHAPES: [number, number][] = [[1, 1], [1, 4096], [7, 5], [33, 64], [513, 1], [513, 64], [65, 4096], [7, 1000],
  [3, 5], [17, 129], [4, 8], [2, 3], [6, 16], [0, 5]];
/** Element counts for the maps: scalar tails, odd sizes, a big one, none. */
const SIZES = [1, 3, 5, 7, 17, 33, 129, 1000, 4096, 513 * 64 + 3, 0];

const FP32 = 1e-5;
/** The matrix products' tolerances by precision: normwise, elementwise. */
const PRODUCTS = { bf16: [1e-2, 0.3], fp32: [2e-5, 2e-3] } as const;

function forShapes(h: Pair, shapes: [number, number][], fn: (rows: number, cols: number) => void): void {
  for (const [rows, cols] of shapes) {
    if (h.skip(rows * cols) || (rows * cols === 0 && h.lacks('empty'))) continue;
    h.shape = `${rows}×${cols}`;
    fn(rows, cols);
  }
}
function forSizes(h: Pair, fn: (n: number, unaligned: boolean) => void): void {
  for (const n of SIZES) {
    if (h.skip(n) || (n === 0 && h.lacks('empty'))) continue;
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
  const add = (name: string, tol: number | 'products', run: (h: Pair) => void, elemTol?: number | 'products') =>
    cases.push({ name, tol, run, elemTol });

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
  add('mul (overwrite, accumulate, aliasing)', FP32, (h) => forSizes(h, (n, u) => {
    const a = randMaybeView(h, n, u), b = h.rand(n), c = h.rand(n);
    h.both((o, t) => o.mul(t(a), t(b), t(c), true)); h.compare('out += a⊙b', c);
    h.both((o, t) => o.mul(t(a), t(b), t(c))); h.compare('out = a⊙b', c);
    h.both((o, t) => o.mul(t(a), t(b), t(a))); h.compare('out aliasing a', a);
  }));
  for (const kind of ACTIVATIONS) {
    add(`activation ${kind}`, FP32, (h) => forSizes(h, (n, u) => {
      const x = randMaybeView(h, n, u, -6, 6), y = h.zeros(n);
      h.both((o, t) => { o.activation(kind, t(x), t(y)); o.activation(kind, t(x), t(x)); });
      h.compare('y', y); h.compare('y aliasing x', x);
    }));
    add(`activationBackward ${kind}`, FP32, (h) => forSizes(h, (n, u) => {
      const x = randMaybeView(h, n, u, -6, 6), y = h.zeros(n), dy = h.rand(n), dx = h.rand(n);
      // y = f(x) computed by the reference, so both backends differentiate from the same y.
      h.ref.activation(kind, x.r, y.r);
      const yy = h.from(y.r.data);
      h.both((o, t) => o.activationBackward(kind, t(x), t(yy), t(dy), t(dx), true)); h.compare('dx += …', dx);
      h.both((o, t) => o.activationBackward(kind, t(x), t(yy), t(dy), t(dx))); h.compare('dx', dx);
      h.both((o, t) => o.activationBackward(kind, t(x), t(yy), t(dy), t(dy))); h.compare('dx aliasing dy', dy);
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
    const x = h.randn(R * C, 3), y = h.zeros(R * C);
    h.both((o, t) => { o.logSoftmax(t(x), t(y), R, C); o.logSoftmax(t(x), t(x), R, C); });
    h.compare('y', y); h.compare('y aliasing x', x);
  }));
  add('softmaxBackward', FP32, (h) => forShapes(h, ROW_SHAPES, (R, C) => {
    const x = h.randn(R * C, 2), y0 = h.zeros(R * C);
    h.ref.softmax(x.r, y0.r, R, C);
    const y = h.from(y0.r.data), dy = h.rand(R * C), dx = h.zeros(R * C);
    h.both((o, t) => { o.softmaxBackward(t(y), t(dy), t(dx), R, C); o.softmaxBackward(t(y), t(dy), t(dy), R, C); });
    h.compare('dx', dx); h.compare('dx aliasing dy', dy);
  }, ), 1e-4);
  add('logSoftmaxBackward', FP32, (h) => forShapes(h, ROW_SHAPES, (R, C) => {
    const x = h.randn(R * C, 2), y0 = h.zeros(R * C);
    h.ref.logSoftmax(x.r, y0.r, R, C);
    const y = h.from(y0.r.data), dy = h.rand(R * C), dx = h.zeros(R * C);
    h.both((o, t) => { o.logSoftmaxBackward(t(y), t(dy), t(dx), R, C); o.logSoftmaxBackward(t(y), t(dy), t(dy), R, C); });
    h.compare('dx', dx); h.compare('dx aliasing dy', dy);
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
  const EMB: [number, number][] = [[1, 1], [7, 5], [513, 64], [33, 4096], [4, 3], [9, 4], [5, 17], [3, 129], [0, 5]];
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
    for (const n of [1, 3, 5, 7, 8, 9, 17, 129, 1000, 4097, 4099, 1_000_003, 0]) {
      if (h.skip(n) || (n === 0 && h.lacks('empty'))) continue;
      h.shape = `n=${n}`;
      const x = h.rand(n); const [a, b] = h.both((o, t) => o.sumSquares(t(x))); h.compareNum('Σx²', a, b);
    }
  });
  add('sumSquaresMany (one synchronisation over many tensors)', FP32, (h) => {
    const xs = [1, 33, 4097, 100_003].filter((n) => !h.skip(n)).map((n) => h.rand(n));
    h.shape = `${xs.length} tensors`;
    const [a, b] = h.both((o, t) => o.sumSquaresMany(xs.map((x) => t(x))));
    h.compareNum('Σ Σx²', a, b);
  });
  for (const decoupled of [false, true]) {
    add(decoupled ? 'adam (AdamW, decoupled decay)' : 'adam (L2 decay)', FP32, (h) => forSizes(h, (n, u) => {
      const w = randMaybeView(h, n, u), g = h.rand(n), m = h.rand(n, -0.1, 0.1), v = h.rand(n, 0, 0.01);
      for (const [step, weightDecay] of [[1, 0.1], [2, 0], [7, 0.1]]) {
        h.both((o, t) => o.adam(t(w), t(g), t(m), t(v), { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay, decoupled, step }));
      }
      h.compare('param', w); h.compare('m', m); h.compare('v', v);
    }));
  }

  // gemm: all four transpose combinations, alpha/beta, beta 0 over NaN
  const GEMM: [number, number, number][] = [[1, 1, 1], [7, 5, 33], [33, 64, 513], [513, 96, 64], [130, 257, 200]];
  for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
    add(`gemm ${ta ? 't' : 'n'}${tb ? 't' : 'n'} (alpha, beta 0 over NaN, beta 1, beta 0.5)`, 'products', (h) => {
      for (const [m, n, k] of GEMM) {
        if (h.skip(m * n * k / 8)) continue;
        h.shape = `${m}×${n}×${k}`;
        const A = h.rand(m * k), B = h.rand(k * n);
        const C = h.from(new Float32Array(m * n).fill(NaN));
        h.both((o, t) => o.gemm(ta, tb, m, n, k, 0.5, t(A), t(B), 0, t(C))); h.compare('C (beta 0)', C);
        h.both((o, t) => o.gemm(ta, tb, m, n, k, 1, t(A), t(B), 1, t(C))); h.compare('C (beta 1)', C);
        h.both((o, t) => o.gemm(ta, tb, m, n, k, -2, t(A), t(B), 0.5, t(C))); h.compare('C (alpha -2, beta 0.5)', C);
      }
    }, 'products');
  }

  // packGemmB + gemmPackedB: a B packed once for many products. Rows 1–5 (the WASM kernels' few-row
  // path below 4, tiles of 4 rows, a ragged fifth), a recurrent step's 32; n and k around the tile
  // widths (8, 16) and the k block (256); the packed operand reused for several A's, and packed
  // again after B changed.
  const PACKED: [number, number, number][] = [[1, 1, 1], [1, 100, 400], [1, 400, 100], [2, 37, 19], [3, 33, 257], [4, 16, 256],
    [5, 17, 255], [32, 64, 33], [7, 130, 257], [32, 1024, 256], [32, 256, 1024], [64, 257, 513]];
  for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
    add(`packGemmB + gemmPackedB ${ta ? 't' : 'n'}${tb ? 't' : 'n'} (reused, repacked after B changed; alpha, beta)`, 'products', (h) => {
      for (const [m, n, k] of PACKED) {
        if (h.skip(m * n * k / 8)) continue;
        h.shape = `${m}×${n}×${k}`;
        const B = h.rand(k * n), B2 = h.rand(k * n), A = h.rand(m * k), A2 = h.rand(m * k);
        const C = h.from(new Float32Array(m * n).fill(NaN));
        const [pg, pr] = h.both((o) => o.packedGemmB(k, n));
        const P = { g: pg, r: pr };
        h.both((o, t) => o.packGemmB(tb, k, n, t(B), t(P)));
        h.both((o, t) => o.gemmPackedB(ta, m, n, k, 0.5, t(A), t(P), 0, t(C))); h.compare('C (beta 0 over NaN)', C);
        h.both((o, t) => o.gemmPackedB(ta, m, n, k, 1, t(A2), t(P), 1, t(C))); h.compare('C (another A, beta 1)', C);
        h.both((o, t) => o.gemmPackedB(ta, m, n, k, -2, t(A), t(P), 0.5, t(C))); h.compare('C (alpha -2, beta 0.5)', C);
        h.both((o, t) => o.gemmPackedB(ta, m, n, k, 0, t(A), t(P), 0.25, t(C))); h.compare('C (alpha 0, beta 0.25)', C);
        h.both((o, t) => { o.copy(t(B2), t(B)); o.packGemmB(tb, k, n, t(B), t(P)); });
        h.both((o, t) => o.gemmPackedB(ta, m, n, k, 1, t(A2), t(P), 0, t(C))); h.compare('C (repacked from another B)', C);
      }
    }, 'products');
  }

  // groupedGemm: the three modes, with empty groups and rows outside every group
  const GROUPS = [[5, 0, 33, 7], [0, 1, 0, 130, 0, 2], [64], [0, 5, 0, 17, 1, 0]];
  for (const mode of ['nn', 'nt', 'tn'] as const) {
    add(`groupedGemm ${mode} (empty groups)`, 'products', (h) => {
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
    }, 'products');
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
    add(`groupedGemm ${mode} decode (maxRows ≤ 16, G = 8)`, 'products', (h) => {
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
    }, 'products');
  }

  // attention: fused QKV (stride 3C), separate q/k/v, rows padded to odd strides; causal and not,
  // Tq < Tk with a KV-cache offset, T = 1, head widths from 1 to 260, row and key-block tails.
  interface AttnCfg {
    B: number; H: number; D: number; Tq: number; Tk: number; causal: boolean; qOffset: number; layout: 'fused' | 'separate' | 'padded';
    /** Dropout on P (with dropoutSeed = seed); absent: none. */
    dropout?: number; seed?: number;
  }
  const ATTN: AttnCfg[] = [
    { B: 2, H: 3, D: 32, Tq: 33, Tk: 33, causal: true, qOffset: 0, layout: 'fused' },
    { B: 1, H: 2, D: 64, Tq: 257, Tk: 257, causal: true, qOffset: 0, layout: 'fused' },
    { B: 2, H: 2, D: 64, Tq: 7, Tk: 65, causal: false, qOffset: 0, layout: 'separate' },
    { B: 1, H: 4, D: 64, Tq: 5, Tk: 70, causal: true, qOffset: 65, layout: 'separate' },
    { B: 3, H: 1, D: 16, Tq: 1, Tk: 1, causal: true, qOffset: 0, layout: 'fused' },
    { B: 2, H: 2, D: 8, Tq: 1, Tk: 1, causal: true, qOffset: 0, layout: 'padded' },
    { B: 2, H: 3, D: 5, Tq: 17, Tk: 17, causal: true, qOffset: 0, layout: 'padded' },
    { B: 2, H: 3, D: 5, Tq: 17, Tk: 17, causal: true, qOffset: 0, layout: 'fused' },
    { B: 1, H: 2, D: 1, Tq: 6, Tk: 9, causal: false, qOffset: 0, layout: 'padded' },
    { B: 1, H: 2, D: 32, Tq: 70, Tk: 70, causal: true, qOffset: 0, layout: 'fused' },
    { B: 2, H: 1, D: 33, Tq: 40, Tk: 131, causal: false, qOffset: 0, layout: 'padded' },
    { B: 1, H: 3, D: 7, Tq: 1, Tk: 23, causal: true, qOffset: 22, layout: 'padded' },
    { B: 1, H: 2, D: 16, Tq: 5, Tk: 100, causal: true, qOffset: 95, layout: 'padded' },
    { B: 1, H: 1, D: 260, Tq: 5, Tk: 7, causal: true, qOffset: 2, layout: 'padded' },
    { B: 2, H: 2, D: 12, Tq: 40, Tk: 43, causal: true, qOffset: 3, layout: 'padded' },
    { B: 1, H: 1, D: 4, Tq: 6, Tk: 6, causal: true, qOffset: -2, layout: 'padded' },
  ];
  // Dropout on P (p = 0.3): the mask is a hash of (seed, b·H + h, i, j), so every backend must drop
  // exactly the reference's entries, across row blocks, key blocks, both WASM paths (D 260: the
  // general one), batch items split over threads (B > 1) and KV-cache offsets.
  const ATTN_DROP: AttnCfg[] = [
    { B: 2, H: 3, D: 32, Tq: 33, Tk: 33, causal: true, qOffset: 0, layout: 'fused', dropout: 0.3, seed: 12345 },
    { B: 3, H: 2, D: 5, Tq: 17, Tk: 17, causal: true, qOffset: 0, layout: 'padded', dropout: 0.3, seed: 0xdeadbeef },
    { B: 2, H: 2, D: 64, Tq: 7, Tk: 65, causal: false, qOffset: 0, layout: 'separate', dropout: 0.3, seed: 7 },
    { B: 1, H: 4, D: 16, Tq: 5, Tk: 70, causal: true, qOffset: 65, layout: 'separate', dropout: 0.3, seed: 99 },
    { B: 2, H: 1, D: 33, Tq: 40, Tk: 131, causal: false, qOffset: 0, layout: 'padded', dropout: 0.3, seed: 1 },
    { B: 1, H: 1, D: 260, Tq: 5, Tk: 7, causal: true, qOffset: 2, layout: 'padded', dropout: 0.3, seed: 4242 },
    { B: 2, H: 2, D: 12, Tq: 40, Tk: 43, causal: true, qOffset: 3, layout: 'padded', dropout: 0.3, seed: 0xffffffff },
  ];
  /** Whether the backend takes this shape, and (skip() aside) whether to run it. */
  const attnRuns = (h: Pair, c: AttnCfg) => !h.skip(c.B * c.H * c.Tq * c.Tk) && !(c.D > 128 && h.lacks('wideHeads')) &&
    !(c.causal && c.qOffset < 0 && h.lacks('keylessRows')) && !(c.layout === 'padded' && h.lacks('oddStrides')) &&
    !(c.dropout && h.lacks('attentionDropout'));
  const attnLayout = (h: Pair, c: AttnCfg) => {
    const C = c.H * c.D, fused = c.layout === 'fused', pad = c.layout === 'padded';
    h.shape = `B${c.B} H${c.H} D${c.D} Tq${c.Tq} Tk${c.Tk} ${c.causal ? `causal+${c.qOffset}` : 'full'} ${c.layout}` +
      (c.dropout ? ` dropout ${c.dropout} seed ${c.seed}` : '');
    // Padded rows (stride > H·D): the cells between rows must come back untouched.
    const qStride = fused ? 3 * C : pad ? C + 3 : C, kvStride = fused ? 3 * C : pad ? C + 1 : C, oStride = pad ? C + 2 : C;
    const s: AttentionShape = { B: c.B, H: c.H, D: c.D, Tq: c.Tq, Tk: c.Tk, causal: c.causal, qOffset: c.qOffset,
      scale: 1 / Math.sqrt(c.D), qStride, kvStride, oStride };
    if (c.dropout) { s.dropout = c.dropout; s.dropoutSeed = c.seed; }
    const split = (buf: P<Tensor>, rows: number) => [0, 1, 2].map((j) => h.view(buf, j * C, rows * 3 * C - j * C));
    let q: P<Tensor>, k: P<Tensor>, v: P<Tensor>;
    if (fused) {
      [q, k, v] = split(h.randn(c.B * c.Tq * 3 * C), c.B * c.Tq);
    } else {
      q = h.randn(c.B * c.Tq * qStride); k = h.randn(c.B * c.Tk * kvStride); v = h.randn(c.B * c.Tk * kvStride);
    }
    const grads = (): P<Tensor>[] => (fused ? split(h.rand(c.B * c.Tq * 3 * C), c.B * c.Tq)
      : [h.rand(c.B * c.Tq * qStride), h.rand(c.B * c.Tk * kvStride), h.rand(c.B * c.Tk * kvStride)]);
    return { s, q, k, v, C, oRows: c.B * c.Tq * oStride, grads };
  };
  // Out, dq, dk and dv start from random values: whole buffers are compared, so cells outside the
  // head blocks (other columns of a fused buffer, padding between rows) must come back untouched.
  const attnForward = (cases: AttnCfg[]) => (h: Pair) => {
    for (const c of cases) {
      if (!attnRuns(h, c)) continue;
      const { s, q, k, v, oRows } = attnLayout(h, c);
      const out = h.rand(oRows), lse = h.zeros(c.B * c.H * c.Tq);
      h.both((o, t) => o.attention(t(q), t(k), t(v), t(out), t(lse), s));
      h.compare('out', out); h.compare('lse', lse);
    }
  };
  const attnBackward = (cases: AttnCfg[]) => (h: Pair) => {
    for (const c of cases) {
      if (!attnRuns(h, c)) continue;
      const { s, q, k, v, oRows, grads } = attnLayout(h, c);
      // out and lse from the reference, so both backward passes start from the same forward.
      const out0 = h.zeros(oRows), lse0 = h.zeros(c.B * c.H * c.Tq);
      h.ref.attention(q.r, k.r, v.r, out0.r, lse0.r, s);
      const out = h.from(out0.r.data), lse = h.from(lse0.r.data), dout = h.randn(oRows);
      const [dq, dk, dv] = grads();
      h.both((o, t) => o.attentionBackward(t(q), t(k), t(v), t(out), t(lse), t(dout), t(dq), t(dk), t(dv), s));
      h.compare('dq', dq); h.compare('dk', dk); h.compare('dv', dv);
    }
  };
  add('attention forward', 'products', attnForward(ATTN), 'products');
  // Elementwise 1.0, not the products' 0.3: dS = P ⊙ (dP − rowsum(dO ⊙ O)) cancels, so single elements of
  // dq/dk from bf16 operands can be far off relative to their own size (H100, tensor-core path:
  // worst 0.55 at a normwise 5e-3). The normwise bound is the judge here.
  add('attentionBackward', 'products', attnBackward(ATTN), 1.0);
  add('attention forward (dropout on P)', 'products', attnForward(ATTN_DROP), 'products');
  add('attentionBackward (dropout on P)', 'products', attnBackward(ATTN_DROP), 1.0);

  // recurrent cells: every ragged B, H in {1, 3, 5, 15, 17, 129} (odd widths around the SIMD widths:
  // the WASM kernels run 8 units, then 4, then a partial vector; 15 takes all three)
  const CELL_DIMS = [1, 3, 5, 15, 17, 129];
  const CELLS: [number, number][] = CELL_DIMS.flatMap((B) => CELL_DIMS.map((H) => [B, H] as [number, number]));
  add('lstmCell', FP32, (h) => forShapes(h, CELLS, (B, H) => {
    const gates = h.rand(B * 4 * H, -4, 4), cPrev = h.rand(B * H, -3, 3), c = h.rand(B * H), tanhC = h.rand(B * H), hh = h.rand(B * H);
    h.both((o, t) => o.lstmCell(t(gates), t(cPrev), t(c), t(tanhC), t(hh), B, H));
    h.compare('activated gates', gates); h.compare('c', c); h.compare('tanhC', tanhC); h.compare('h', hh);
  }));
  add('lstmCellBackward', FP32, (h) => forShapes(h, CELLS, (B, H) => {
    // Activated gates, c and tanhC from the reference forward: a consistent state on both sides.
    const g0 = h.ref.tensorFrom(h.rand(B * 4 * H, -4, 4).r.data), cp = h.rand(B * H, -3, 3), c0 = h.ref.tensor(B * H);
    const tc0 = h.ref.tensor(B * H), h0 = h.ref.tensor(B * H);
    h.ref.lstmCell(g0, cp.r, c0, tc0, h0, B, H);
    const gates = h.from(g0.data), tanhC = h.from(tc0.data), dh = h.rand(B * H), dc = h.rand(B * H), dgates = h.rand(B * 4 * H);
    h.both((o, t) => o.lstmCellBackward(t(gates), t(cp), t(tanhC), t(dh), t(dc), t(dgates), B, H));
    h.compare('dcPrev', dc); h.compare('dgates', dgates);
  }));
  add('gruCell (PyTorch convention)', FP32, (h) => forShapes(h, CELLS, (B, H) => {
    const xp = h.rand(B * 3 * H, -3, 3), hp = h.rand(B * 3 * H, -3, 3), hPrev = h.rand(B * H), hh = h.rand(B * H);
    h.both((o, t) => o.gruCell(t(xp), t(hp), t(hPrev), t(hh), B, H));
    h.compare('activated gates', xp); h.compare('h', hh);
  }));
  add('gruCellBackward (accumulates dhPrev)', FP32, (h) => forShapes(h, CELLS, (B, H) => {
    const x0 = h.ref.tensorFrom(h.rand(B * 3 * H, -3, 3).r.data), hp = h.rand(B * 3 * H, -3, 3), hPrev = h.rand(B * H);
    h.ref.gruCell(x0, hp.r, hPrev.r, h.ref.tensor(B * H), B, H);
    const gates = h.from(x0.data), dh = h.rand(B * H), dxp = h.rand(B * 3 * H), dhp = h.rand(B * 3 * H), dhPrev = h.rand(B * H);
    h.both((o, t) => o.gruCellBackward(t(gates), t(hp), t(hPrev), t(dh), t(dxp), t(dhp), t(dhPrev), B, H));
    h.compare('dxp', dxp); h.compare('dhp', dhp); h.compare('dhPrev', dhPrev);
  }));
  add('gruPaperGates and gruPaperOutput (paper convention)', FP32, (h) => forShapes(h, CELLS, (B, H) => {
    const xrz = h.rand(B * 2 * H, -3, 3), hrz = h.rand(B * 2 * H, -3, 3), hPrev = h.rand(B * H), rh = h.rand(B * H);
    h.both((o, t) => o.gruPaperGates(t(xrz), t(hrz), t(hPrev), t(rh), B, H));
    h.compare('activated r, z', xrz); h.compare('r⊙hPrev', rh);
    const rz = h.from(xrz.r.data), xn = h.rand(B * H, -3, 3), hh = h.rand(B * H);
    h.both((o, t) => o.gruPaperOutput(t(rz), t(xn), t(hPrev), t(hh), B, H));
    h.compare('n', xn); h.compare('h', hh);
  }));
  add('gruPaperOutputBackward and gruPaperGatesBackward (accumulate dhPrev)', FP32, (h) => forShapes(h, CELLS, (B, H) => {
    const rz = h.rand(B * 2 * H, 0.02, 0.98), n = h.rand(B * H, -0.99, 0.99), hPrev = h.rand(B * H), dh = h.rand(B * H);
    const drz = h.rand(B * 2 * H), dn = h.rand(B * H), dhPrev = h.rand(B * H);
    h.both((o, t) => o.gruPaperOutputBackward(t(rz), t(n), t(hPrev), t(dh), t(drz), t(dn), t(dhPrev), B, H));
    h.compare('drz (z block)', drz); h.compare('dn', dn); h.compare('dhPrev', dhPrev);
    const drh = h.rand(B * H);
    h.both((o, t) => o.gruPaperGatesBackward(t(rz), t(hPrev), t(drh), t(drz), t(dhPrev), B, H));
    h.compare('drz (r block)', drz); h.compare('dhPrev', dhPrev);
  }));

  // the associative-memory recurrence: every rule × inner optimiser, periods 1 and 4, T = 11 (not a
  // multiple of the period: a partial chunk is never committed), ragged widths. Unit keys and
  // queries (the layer's `normalize`), η small enough to keep every rule bounded over T steps.
  // (13, 14, 16: the WASM kernel's register paths for 12 < dk ≤ 16)
  const MEM: [number, number][] = [[1, 1], [3, 5], [5, 3], [17, 14], [14, 17], [13, 2], [16, 7]];
  for (const rule of ['delta', 'hebbian'] as MemoryRule[]) {
    for (const optimizer of ['gd', 'momentum', 'adam'] as MemoryOptimizer[]) {
      add(`memoryForward and memoryBackward ${rule} ${optimizer}`, 1e-4, (h) => {
        for (const period of [1, 4]) {
          for (const [dk, dv] of MEM) {
            const eta = optimizer === 'adam' ? 0.05 : rule === 'delta' ? 0.6 : 0.3;
            const s: MemoryShape = { B: 2, T: 11, dk, dv, rule, optimizer, eta, beta: 0.7, beta1: 0.8, beta2: 0.9, eps: 1e-3, period };
            h.shape = `dk ${dk} dv ${dv} period ${period}`;
            const n = s.B * s.T;
            const unit = (): P<Tensor> => {
              const a = new Float64Array(n * dk);
              for (let i = 0; i < a.length; i++) a[i] = h.rng.normal(0, 1);
              for (let r = 0; r < n; r++) {
                let ss = 0;
                for (let j = 0; j < dk; j++) ss += a[r * dk + j] ** 2;
                for (let j = 0; j < dk; j++) a[r * dk + j] /= Math.sqrt(ss);
              }
              return h.from(a);
            };
            const k = unit(), q = unit(), v = h.randn(n * dv), dy = h.randn(n * dv);
            // Outputs start from garbage: they are overwritten.
            const y = h.rand(n * dv), saved = h.rand(memorySavedSize(s));
            const dk_ = h.rand(n * dk), dv_ = h.rand(n * dv), dq = h.rand(n * dk);
            h.both((o, t) => o.memoryForward(t(k), t(v), t(q), t(y), t(saved), s));
            h.compare('y', y);
            // The committed states R (the Adam blocks hold unspecified rows, the working area too).
            h.compare('saved states R', h.view(saved, 0, memoryAdamOffset(s)));
            h.both((o, t) => o.memoryBackward(t(k), t(v), t(q), t(saved), t(dy), t(dk_), t(dv_), t(dq), s));
            h.compare('dk', dk_); h.compare('dv', dv_); h.compare('dq', dq);
          }
        }
      });
    }
  }

  // The same op on rows inside wider matrices, as memory-lm's heads run it (src/layers/memory-heads.ts):
  // H = 2 memories in one call (heads), their k, v, q interleaved columns of one matrix P (xStride,
  // xHeadStride, with a column of padding before and after), y every yStride in a wider output it
  // ADDS to (accumulate; garbage there first), raw (not unit) keys and queries normalised inside
  // the op (normalize), dk, dv, dq into the columns of dP. The whole of y and dP is compared: a
  // kernel that writes outside its columns fails too. Then H = 3 memories with packed rows one
  // after the other (the head strides' defaults), y overwritten.
  for (const rule of ['delta', 'hebbian'] as MemoryRule[]) {
    for (const optimizer of ['gd', 'momentum', 'adam'] as MemoryOptimizer[]) {
      add(`memoryForward and memoryBackward heads, strided rows, normalize, accumulate: ${rule} ${optimizer}`, 1e-4, (h) => {
        for (const [period, B, T] of [[1, 2, 11], [4, 3, 9], [3, 1, 7]]) {
          for (const [dk, dv] of MEM) {
            const eta = optimizer === 'adam' ? 0.05 : rule === 'delta' ? 0.6 : 0.3;
            const H = 2, w = 2 * dk + dv, W = H * w + 2, ys = H * dv + 3, n = B * T;
            const s: MemoryShape = { B, T, dk, dv, rule, optimizer, eta, beta: 0.7, beta1: 0.8, beta2: 0.9, eps: 1e-3, period,
              heads: H, xStride: W, xHeadStride: w, yStride: ys, yHeadStride: dv, normalize: true, accumulate: true };
            h.shape = `B ${B} T ${T} dk ${dk} dv ${dv} period ${period}`;
            const span = (c: number, hs: number, stride: number) => (H - 1) * hs + (n - 1) * stride + c;
            const P = h.randn(n * W, 2), dP = h.rand(n * W), Y = h.rand(n * ys), dY = h.randn(n * ys);
            const saved = h.rand(memorySavedSize(s));
            const K = h.view(P, 1, span(dk, w, W)), V = h.view(P, 1 + dk, span(dv, w, W)), Q = h.view(P, 1 + dk + dv, span(dk, w, W));
            const dK = h.view(dP, 1, span(dk, w, W)), dV = h.view(dP, 1 + dk, span(dv, w, W)), dQ = h.view(dP, 1 + dk + dv, span(dk, w, W));
            const y = h.view(Y, 2, span(dv, dv, ys)), dy = h.view(dY, 2, span(dv, dv, ys));
            h.both((o, t) => o.memoryForward(t(K), t(V), t(Q), t(y), t(saved), s));
            h.compare('Y (y added into every yStride-th row)', Y);
            h.compare('saved states R', h.view(saved, 0, memoryAdamOffset(s)));
            h.both((o, t) => o.memoryBackward(t(K), t(V), t(Q), t(saved), t(dy), t(dK), t(dV), t(dQ), s));
            h.compare('dP (dk, dv, dq in their columns, the rest untouched)', dP);
            // Three memories, each's rows packed, one after the other.
            const s3: MemoryShape = { B, T, dk, dv, rule, optimizer, eta, beta: 0.7, beta1: 0.8, beta2: 0.9, eps: 1e-3, period, heads: 3 };
            // keys and queries of norm about 1, so that η keeps every rule bounded unnormalised
            const k3 = h.randn(3 * n * dk, 1 / Math.sqrt(dk)), v3 = h.randn(3 * n * dv), q3 = h.randn(3 * n * dk, 1 / Math.sqrt(dk));
            const dy3 = h.randn(3 * n * dv);
            const y3 = h.rand(3 * n * dv), saved3 = h.rand(memorySavedSize(s3));
            const dk3 = h.rand(3 * n * dk), dv3 = h.rand(3 * n * dv), dq3 = h.rand(3 * n * dk);
            h.both((o, t) => o.memoryForward(t(k3), t(v3), t(q3), t(y3), t(saved3), s3));
            h.compare('y of 3 packed memories', y3);
            h.compare('saved states R of 3 memories', h.view(saved3, 0, memoryAdamOffset(s3)));
            h.both((o, t) => o.memoryBackward(t(k3), t(v3), t(q3), t(saved3), t(dy3), t(dk3), t(dv3), t(dq3), s3));
            h.compare('dk of 3', dk3); h.compare('dv of 3', dv3); h.compare('dq of 3', dq3);
          }
        }
      });
    }
  }

  // SwiGLU
  const SWI: [number, number][] = [[1, 1], [7, 5], [513, 64], [33, 1024], [3, 5], [7, 17], [4, 64], [2, 130]];
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
  const ROUTE: [number, number][] = [[1, 2], [7, 8], [513, 8], [64, 64], [9, 4], [33, 8], [17, 5]];
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
  const COMB: [number, number][] = [[1, 1], [7, 5], [513, 64], [33, 512], [9, 11], [17, 11]];
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

/** Runs the cases (all, or those `opts.filter` picks) on `ops` against `ref`; one result each. */
export function runConformance(ops: Ops, ref: Ops, opts: ConformanceOptions = {}): CaseResult[] {
  const results: CaseResult[] = [];
  const filter = opts.filter;
  const wanted = typeof filter === 'function' ? filter : (name: string) => !filter || name.includes(filter);
  const [prodTol, prodElem] = PRODUCTS[opts.products ?? 'fp32'];
  for (const c of conformanceCases()) {
    if (!wanted(c.name)) continue;
    const h = new Pair(ops, ref, new Rng(0x5eed + results.length), opts);
    const tol = c.tol === 'products' ? prodTol : c.tol;
    const elemTol = c.elemTol === 'products' ? prodElem : c.elemTol ?? 10 * tol;
    const t0 = performance.now();
    const mg = ops.mark(), mr = ref.mark();
    let r: CaseResult;
    try {
      c.run(h);
      const overrun = h.checkGuards();
      const pass = overrun === null && h.norm <= tol && h.elem <= elemTol;
      r = { name: c.name, normwise: h.norm, elementwise: h.elem, tol, elemTol, pass, detail: overrun ?? h.where, ms: 0 };
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0];
      r = { name: c.name, normwise: NaN, elementwise: NaN, tol, elemTol, pass: false, detail: `threw${h.shape ? ` @ ${h.shape}` : ''}: ${msg}`, ms: 0 };
    } finally {
      ops.release(mg);
      ref.release(mr);
    }
    r.ms = performance.now() - t0;
    results.push(r);
    opts.onResult?.(r);
  }
  return results;
}

export function formatResult(r: CaseResult): string {
  const e = (x: number) => (Number.isNaN(x) ? '    -   ' : x.toExponential(2).padStart(8));
  return `${r.pass ? 'PASS' : 'FAIL'}  ${r.name.padEnd(58)} norm ${e(r.normwise)} elem ${e(r.elementwise)}  tol ${r.tol.toExponential(0)}/${r.elemTol.toExponential(0)}  ${r.ms.toFixed(0).padStart(5)} ms  ${r.detail}`;
}
