// The memory heads of one memory-lm block (src/models/memory-lm.ts) run as one layer: H continuum
// memories (continuum-memory.ts) of L levels each (linear-memory.ts), all reading the same input
// x [n, C] and writing side by side into y [n, H·d]. The same maths as running each head's
// ContinuumMemory and interleaving its output (the gradient checks of memory-lm check this path),
// and the same parameters: the levels' own Wk, Wv, Wq (names, shapes, initialisation, checkpoints).
//
// Why: run one by one, every level makes three projections [n, C]·[C, d] (d = 14 in memory-lm:
// 3·H·L = 36 GEMMs of 14 columns per block, each far too thin to run the GEMM kernel at speed, and
// as many again for each backward product), normalises keys and queries in host loops, and each
// head's output is copied into the block's row by another. Here instead:
//
//   Wp = [W_1 | W_2 | … | W_G]      [C, Σ widths]: every level's Wk, Wv, Wq side by side, packed
//                                   from the parameters at each forward (C·Σ widths floats: small)
//   P  = x · Wp                     ONE GEMM: every key, value and query of every level
//   level l:      ONE recurrence call for level l of every head (MemoryShape.heads = H: the
//                 levels of one index share their shape and inner hyper-parameters, and the call's
//                 H·B sequences are what the WASM backend's threads share out). Each memory reads
//                 its k, v, q columns of P in place (xStride, xHeadStride), normalises k and q inside
//                 the op (normalize), and, with mix 'sum', adds its read-out straight into its
//                 head's columns of y (yStride = H·d, yHeadStride = d; level 0 overwrites, the
//                 others accumulate). With mix 'learned' each level call writes a buffer of its own
//                 and y_j = Σ_l α_jl y_jl is a host loop (dα needs the levels' outputs).
// Backward: each level call's backward reads its dy from y's columns and writes dk, dv, dq into
// its columns of dP; then
//   dWp = xᵀ · dP                   one GEMM, unpacked into (added to) the levels' gradients
//   dx  = dP · Wpᵀ                  one GEMM (overwrites, or accumulates into dx)
import type { MemoryShape, Ops, Tensor } from '../ops/types.js';
import type { Param } from './param.js';
import type { ContinuumMemory } from './continuum-memory.js';
import type { LinearMemory } from './linear-memory.js';
import { RowBuffer } from './buffer.js';
import { spanOf } from '../ops/checks.js';
import { memorySavedSize } from '../ops/memory-recurrence.js';

/** Where one level's projections sit in the packed matrix: its k, v, q column offsets. */
interface LevelSlot { level: LinearMemory; head: number; l: number; k: number; v: number; q: number }

export class MemoryHeads {
  /** Columns of the packed projection (H·L·(2·dk + dv)). */
  readonly width: number;
  /** Output columns, H·dv. */
  readonly outDim: number;
  readonly dk: number;
  readonly dv: number;
  private readonly slots: LevelSlot[];
  /** Per level index l: the one call's shape (B, T set per forward) and its saved states (grow-only). */
  private readonly shapes: MemoryShape[];
  private readonly saved: (Tensor | null)[];
  private readonly learned: boolean;
  private readonly Wp: Tensor;
  private readonly dWp: Tensor;
  private readonly P: RowBuffer;
  private readonly dP: RowBuffer;
  /** mix 'learned': per level index, every head's output [H, n, dv] (forward), then its incoming gradient (backward). */
  private readonly ys: RowBuffer[];

  constructor(private readonly ops: Ops, readonly heads: ContinuumMemory[], readonly inDim: number) {
    if (heads.length === 0) throw new RangeError('memory heads: at least one head');
    const first = heads[0].levels, L = first.length, H = heads.length;
    this.dk = first[0].dk; this.dv = first[0].dv;
    const w = 2 * this.dk + this.dv; // one level's k, v, q columns
    this.slots = [];
    heads.forEach((h, j) => {
      if (h.inDim !== inDim || h.levels.length !== L) throw new RangeError('memory heads: every head must have the same input width and levels');
      h.levels.forEach((level, l) => {
        const a = level.core.shape, b = first[l].core.shape;
        if (level.dk !== this.dk || level.dv !== this.dv || level.normalize !== first[l].normalize || a.rule !== b.rule ||
          a.optimizer !== b.optimizer || a.eta !== b.eta || a.beta !== b.beta || a.beta1 !== b.beta1 || a.beta2 !== b.beta2 ||
          a.eps !== b.eps || a.period !== b.period) {
          throw new RangeError(`memory heads: level ${l} must have the same shape and inner hyper-parameters in every head`);
        }
        const o = (j * L + l) * w;
        this.slots.push({ level, head: j, l, k: o, v: o + this.dk, q: o + this.dk + this.dv });
      });
    });
    this.learned = heads[0].alpha !== null;
    if (heads.some((h) => (h.alpha !== null) !== this.learned)) throw new RangeError('memory heads: mix must be the same for every head');
    this.width = H * L * w;
    this.outDim = H * this.dv;
    this.shapes = first.map((level) => {
      const c = level.core.shape;
      return { B: 0, T: 0, dk: this.dk, dv: this.dv, rule: c.rule, optimizer: c.optimizer, eta: c.eta, beta: c.beta,
        beta1: c.beta1, beta2: c.beta2, eps: c.eps, period: c.period, normalize: level.normalize, heads: H,
        xStride: this.width, xHeadStride: L * w };
    });
    this.saved = first.map(() => null);
    this.Wp = ops.tensor(inDim * this.width);
    this.dWp = ops.tensor(inDim * this.width);
    this.P = new RowBuffer(ops, this.width);
    this.dP = new RowBuffer(ops, this.width);
    this.ys = this.learned ? first.map(() => new RowBuffer(ops, H * this.dv)) : [];
  }

  get params(): Param[] {
    return this.heads.flatMap((h) => h.params);
  }

  /** Level l's k, v, q (or dk, dv, dq) of every head: views of P (dP) from head 0's columns on. */
  private columns(M: Tensor, l: number, n: number): [Tensor, Tensor, Tensor] {
    const s = this.slots[l], W = this.width, H = this.heads.length, kh = this.shapes[l].xHeadStride!;
    const span = (w: number) => (H - 1) * kh + spanOf(n, W, w);
    return [M.view(s.k, span(this.dk)), M.view(s.v, span(this.dv)), M.view(s.q, span(this.dk))];
  }

  /** Sets level l's shape for this call: B, T, and where y / dy lie. */
  private shapeFor(l: number, B: number, T: number, accumulate: boolean): MemoryShape {
    const s = this.shapes[l], n = B * T;
    s.B = B; s.T = T;
    if (this.learned) { s.yStride = this.dv; s.yHeadStride = n * this.dv; s.accumulate = false; } // [H, n, dv]
    else { s.yStride = this.outDim; s.yHeadStride = this.dv; s.accumulate = accumulate; } // y's own columns
    return s;
  }

  /** The y (or dy) level l's call writes (reads): y itself from head 0's columns on, or level l's buffer. */
  private outFor(l: number, y: Tensor, n: number): Tensor {
    if (this.learned) return this.ys[l].rows(n);
    return y.view(0, spanOf(n, this.outDim, this.outDim));
  }

  /** x [n, inDim] → y [n, H·dv] (overwrites; head j in columns j·dv …). n = B·T, batch-major. */
  forward(x: Tensor, y: Tensor, B: number, T: number): void {
    const n = B * T, L = this.shapes.length;
    this.pack();
    const P = this.P.rows(n);
    this.ops.gemm(false, false, n, this.width, this.inDim, 1, x, this.Wp, 0, P);
    for (let l = 0; l < L; l++) {
      const s = this.shapeFor(l, B, T, l > 0), need = memorySavedSize(s);
      let saved = this.saved[l];
      if (saved === null || saved.size < need) saved = this.saved[l] = this.ops.tensor(need);
      const [K, V, Q] = this.columns(P, l, n);
      this.ops.memoryForward(K, V, Q, this.outFor(l, y, n), saved, s);
    }
    if (this.learned) this.mixLearned(y, n);
  }

  /**
   * Given dy [n, H·dv]: accumulates every level's projection gradients (and dα); writes dx, or
   * adds to it with accumulateDx. Uses the last forward.
   */
  backward(x: Tensor, dy: Tensor, dx: Tensor, B: number, T: number, accumulateDx = false): void {
    const n = B * T, L = this.shapes.length;
    const P = this.P.rows(n), dP = this.dP.rows(n);
    if (this.learned) this.mixLearnedBackward(dy, n);
    for (let l = 0; l < L; l++) {
      const saved = this.saved[l];
      if (saved === null) throw new Error('memory heads: backward before forward');
      const s = this.shapeFor(l, B, T, false);
      const [K, V, Q] = this.columns(P, l, n), [dK, dV, dQ] = this.columns(dP, l, n);
      this.ops.memoryBackward(K, V, Q, saved, this.outFor(l, dy, n), dK, dV, dQ, s);
    }
    this.ops.gemm(true, false, this.inDim, this.width, n, 1, x, dP, 0, this.dWp);
    this.unpackGrads();
    this.ops.gemm(false, true, n, this.inDim, this.width, 1, dP, this.Wp, accumulateDx ? 1 : 0, dx);
  }

  /** Wp ← the levels' Wk, Wv, Wq side by side (each [inDim, width] row-major, as Linear stores W). */
  private pack(): void {
    const wp = this.Wp.data, W = this.width, I = this.inDim;
    for (const s of this.slots) {
      const { level } = s;
      copyColumns(level.Wk.W.value.data, level.dk, wp, W, s.k, I);
      copyColumns(level.Wv.W.value.data, level.dv, wp, W, s.v, I);
      copyColumns(level.Wq.W.value.data, level.dk, wp, W, s.q, I);
    }
  }

  /** The levels' gradients += their columns of dWp (parameter gradients accumulate: src/ops/types.ts). */
  private unpackGrads(): void {
    const g = this.dWp.data, W = this.width, I = this.inDim;
    for (const s of this.slots) {
      const { level } = s;
      addColumns(g, W, s.k, level.Wk.W.grad.data, level.dk, I);
      addColumns(g, W, s.v, level.Wv.W.grad.data, level.dv, I);
      addColumns(g, W, s.q, level.Wq.W.grad.data, level.dk, I);
    }
  }

  /** mix 'learned': y[:, j·dv …] = Σ_l α_jl y_jl for every head j (y_jl: rows j·n … of level l's buffer). */
  private mixLearned(y: Tensor, n: number): void {
    const yd = y.data, dv = this.dv, C = this.outDim;
    this.heads.forEach((h, j) => {
      const alpha = h.alpha!.value.data;
      for (let r = 0; r < n; r++) for (let i = 0; i < dv; i++) yd[r * C + j * dv + i] = 0;
      this.ys.forEach((buf, l) => {
        const a = alpha[l], yl = buf.rows(n).data, o = j * n * dv;
        for (let r = 0; r < n; r++) for (let i = 0; i < dv; i++) yd[r * C + j * dv + i] += a * yl[o + r * dv + i];
      });
    });
  }

  /** Backward of mixLearned: dα_jl += ⟨y_jl, dy_j⟩, and level l's buffer ← α_jl dy_j (its incoming gradient). */
  private mixLearnedBackward(dy: Tensor, n: number): void {
    const g = dy.data, dv = this.dv, C = this.outDim;
    this.heads.forEach((h, j) => {
      this.ys.forEach((buf, l) => {
        const a = h.alpha!.value.data[l], b = buf.rows(n).data, o = j * n * dv;
        let dot = 0;
        for (let r = 0; r < n; r++) {
          for (let i = 0; i < dv; i++) {
            const gi = g[r * C + j * dv + i];
            dot += b[o + r * dv + i] * gi;
            b[o + r * dv + i] = a * gi;
          }
        }
        h.alpha!.grad.data[l] += dot;
      });
    });
  }
}

/** dst[r·dstStride + off + c] = src[r·cols + c] for r < rows, c < cols. */
function copyColumns(src: ArrayLike<number>, cols: number, dst: { [i: number]: number }, dstStride: number, off: number, rows: number): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[r * dstStride + off + c] = src[r * cols + c];
}

/** dst[r·cols + c] += src[r·srcStride + off + c] for r < rows, c < cols. */
function addColumns(src: ArrayLike<number>, srcStride: number, off: number, dst: { [i: number]: number }, cols: number, rows: number): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[r * cols + c] += src[r * srcStride + off + c];
}
