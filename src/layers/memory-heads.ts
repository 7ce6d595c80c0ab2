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
//   level (j, l): the recurrence reads its k, v, q columns of P in place (MemoryShape.xStride),
//                 normalises k and q inside the op (MemoryShape.normalize), and, with mix 'sum',
//                 adds its read-out straight into head j's columns of y (yStride = H·d; level 0
//                 overwrites, the others accumulate). With mix 'learned' each level writes its own
//                 buffer and y_j = Σ_l α_l y_l is a host loop (dα needs the levels' outputs).
// Backward: each level's recurrence backward reads its dy from y's columns (yStride) and writes
// dk, dv, dq into its columns of dP; then
//   dWp = xᵀ · dP                   one GEMM, unpacked into (added to) the levels' gradients
//   dx  = dP · Wpᵀ                  one GEMM (overwrites, or accumulates into dx)
import type { Ops, Tensor } from '../ops/types.js';
import type { Param } from './param.js';
import type { ContinuumMemory } from './continuum-memory.js';
import type { LinearMemory } from './linear-memory.js';
import { RowBuffer } from './buffer.js';
import { spanOf } from '../ops/checks.js';

/** Where one level's projections sit in the packed matrix: its k, v, q column offsets. */
interface LevelSlot { level: LinearMemory; head: number; l: number; k: number; v: number; q: number }

export class MemoryHeads {
  /** Columns of the packed projection (Σ over levels of 2·dk + dv). */
  readonly width: number;
  /** Output columns, H·dv. */
  readonly outDim: number;
  private readonly slots: LevelSlot[];
  private readonly learned: boolean;
  private readonly Wp: Tensor;
  private readonly dWp: Tensor;
  private readonly P: RowBuffer;
  private readonly dP: RowBuffer;
  /** mix 'learned': each level's output [n, dv] (forward), then its incoming gradient (backward). */
  private readonly ys: RowBuffer[];

  constructor(private readonly ops: Ops, readonly heads: ContinuumMemory[], readonly inDim: number) {
    if (heads.length === 0) throw new RangeError('memory heads: at least one head');
    const dv = heads[0].dv;
    this.slots = [];
    let w = 0;
    heads.forEach((h, j) => {
      if (h.dv !== dv || h.inDim !== inDim) throw new RangeError('memory heads: every head must have the same dv and input width');
      h.levels.forEach((level, l) => {
        this.slots.push({ level, head: j, l, k: w, v: w + level.dk, q: w + level.dk + level.dv });
        w += 2 * level.dk + level.dv;
      });
    });
    this.learned = heads.some((h) => h.alpha !== null);
    if (this.learned && !heads.every((h) => h.alpha !== null)) throw new RangeError('memory heads: mix must be the same for every head');
    this.width = w;
    this.outDim = heads.length * dv;
    this.Wp = ops.tensor(inDim * w);
    this.dWp = ops.tensor(inDim * w);
    this.P = new RowBuffer(ops, w);
    this.dP = new RowBuffer(ops, w);
    this.ys = this.learned ? this.slots.map(() => new RowBuffer(ops, dv)) : [];
  }

  get params(): Param[] {
    return this.heads.flatMap((h) => h.params);
  }

  /** x [n, inDim] → y [n, H·dv] (overwrites; head j in columns j·dv …). n = B·T, batch-major. */
  forward(x: Tensor, y: Tensor, B: number, T: number): void {
    const n = B * T, W = this.width, dv = this.heads[0].dv, C = this.outDim;
    this.pack();
    const P = this.P.rows(n);
    this.ops.gemm(false, false, n, W, this.inDim, 1, x, this.Wp, 0, P);
    this.slots.forEach((s, i) => {
      const { level, head, l } = s, dk = level.dk;
      const K = P.view(s.k, spanOf(n, W, dk)), V = P.view(s.v, spanOf(n, W, dv)), Q = P.view(s.q, spanOf(n, W, dk));
      if (this.learned) {
        level.core.forward(K, V, Q, this.ys[i].rows(n), B, T, { xStride: W, normalize: level.normalize });
      } else {
        const Y = y.view(head * dv, spanOf(n, C, dv));
        level.core.forward(K, V, Q, Y, B, T, { xStride: W, yStride: C, normalize: level.normalize, accumulate: l > 0 });
      }
    });
    if (this.learned) this.mixLearned(y, n);
  }

  /**
   * Given dy [n, H·dv]: accumulates every level's projection gradients (and dα); writes dx, or
   * adds to it with accumulateDx. Uses the last forward.
   */
  backward(x: Tensor, dy: Tensor, dx: Tensor, B: number, T: number, accumulateDx = false): void {
    const n = B * T, W = this.width, dv = this.heads[0].dv, C = this.outDim;
    const P = this.P.rows(n), dP = this.dP.rows(n);
    if (this.learned) this.mixLearnedBackward(dy, n);
    this.slots.forEach((s, i) => {
      const { level, head } = s, dk = level.dk;
      const K = P.view(s.k, spanOf(n, W, dk)), V = P.view(s.v, spanOf(n, W, dv)), Q = P.view(s.q, spanOf(n, W, dk));
      const dK = dP.view(s.k, spanOf(n, W, dk)), dV = dP.view(s.v, spanOf(n, W, dv)), dQ = dP.view(s.q, spanOf(n, W, dk));
      if (this.learned) {
        level.core.backward(K, V, Q, this.ys[i].rows(n), dK, dV, dQ, { xStride: W, normalize: level.normalize });
      } else {
        const dY = dy.view(head * dv, spanOf(n, C, dv));
        level.core.backward(K, V, Q, dY, dK, dV, dQ, { xStride: W, yStride: C, normalize: level.normalize });
      }
    });
    this.ops.gemm(true, false, this.inDim, W, n, 1, x, dP, 0, this.dWp);
    this.unpackGrads();
    this.ops.gemm(false, true, n, this.inDim, W, 1, dP, this.Wp, accumulateDx ? 1 : 0, dx);
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

  /** mix 'learned': y[:, j·dv …] = Σ_l α_l y_l for every head j. */
  private mixLearned(y: Tensor, n: number): void {
    const yd = y.data, dv = this.heads[0].dv, C = this.outDim;
    this.heads.forEach((h, j) => {
      const alpha = h.alpha!.value.data;
      for (let r = 0; r < n; r++) for (let i = 0; i < dv; i++) yd[r * C + j * dv + i] = 0;
      this.slots.forEach((s, si) => {
        if (s.head !== j) return;
        const a = alpha[s.l], yl = this.ys[si].rows(n).data;
        for (let r = 0; r < n; r++) for (let i = 0; i < dv; i++) yd[r * C + j * dv + i] += a * yl[r * dv + i];
      });
    });
  }

  /** Backward of mixLearned: dα_l += ⟨y_l, dy_j⟩, and each level's buffer ← α_l dy_j (its incoming gradient). */
  private mixLearnedBackward(dy: Tensor, n: number): void {
    const g = dy.data, dv = this.heads[0].dv, C = this.outDim;
    this.slots.forEach((s, si) => {
      const h = this.heads[s.head], a = h.alpha!.value.data[s.l], buf = this.ys[si].rows(n).data, o = s.head * dv;
      let dot = 0;
      for (let r = 0; r < n; r++) {
        for (let i = 0; i < dv; i++) {
          const gi = g[r * C + o + i];
          dot += buf[r * dv + i] * gi;
          buf[r * dv + i] = a * gi;
        }
      }
      h.alpha!.grad.data[s.l] += dot;
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
