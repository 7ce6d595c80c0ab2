// bf16 copies of device tensors for the CUDA GEMMs (HANDGRAD_CUDA_BF16_WEIGHTS=1).
//
// Every GEMM rounds its operands to bf16 (native/gemm.cu), so a tile staged from an fp32 operand
// moves twice the bytes the tensor cores use. The kernels can read a bf16 copy instead (half the
// bytes, staged with cp.async): the same products, bit for bit, as long as the copy holds exactly
// bf16(x) of the operand's CURRENT values. Two producers write copies as a side effect of work they
// do anyway, so a copy costs 2 bytes of writes per element and no extra launch:
//   * adam writes the bf16 rounding of each weight it updates (the weights are B of x·W, dy·Wᵀ and
//     of the MoE experts' grouped GEMMs);
//   * the MoE gather (ops.embedding into the dispatched rows) writes its rows, when its output
//     storage was earlier read as A of a grouped GEMM without a copy ("wanted": learned on the first
//     step, so no layer has to say which buffers are dispatched rows).
// Validity is by version: the backend bumps a storage's version on every op that writes it and on
// every upload of host writes; a copy records the version it was made at and covers one element
// range. A GEMM passes a copy only while the storage's version still matches and the operand lies in
// the range, so any other write (ops.scale at init, a checkpoint load, an in-place op) silently
// falls back to the fp32 operand: never a stale value.
// Memory: the copies come from the device pool (bytes in use and peak count them; ~2 bytes per
// parameter, 222 MB for the 111M-parameter standard MoE). A copy allocated inside a mark() scope is
// forgotten at its release(), like every other allocation of that scope.

/** What a copy needs to know of a backend storage (src/backends/cuda/ops.ts: Storage). */
export interface CopyStorage {
  readonly ptr: number;
  readonly size: number;
  /** Bumped by every op that writes the storage and every upload of host writes. */
  version: number;
}
/** A tensor or view of a storage (ops.ts: CudaTensor). */
export interface CopyView {
  readonly s: CopyStorage;
  readonly offset: number;
  readonly size: number;
}

interface Bf16Copy {
  /** Device address of element 0 of the storage's copy (2 bytes per element). */
  readonly ptr: number;
  /** The pool's allocation count before this copy was allocated (for release()). */
  readonly mark: number;
  /** [lo, hi): the elements the copy holds, valid while the storage's version equals `version`. */
  lo: number;
  hi: number;
  version: number;
}

export interface CopyAllocator {
  alloc(bytes: number): number;
  mark(): number;
}

export class Bf16Copies {
  private readonly copies = new Map<CopyStorage, Bf16Copy>();
  private readonly wanted = new WeakSet<CopyStorage>();

  constructor(private readonly pool: CopyAllocator) {}

  /**
   * The address a producer writes t's copy to, the copy valid from the storage's current version on:
   * call it AFTER the op has marked t written (its version bumped) and launch the op with it.
   */
  writing(t: CopyView): number {
    const s = t.s;
    let c = this.copies.get(s);
    if (c === undefined) {
      const mark = this.pool.mark();
      c = { ptr: this.pool.alloc(s.size * 2), mark, lo: 0, hi: 0, version: -1 };
      this.copies.set(s, c);
    }
    c.lo = t.offset;
    c.hi = t.offset + t.size;
    c.version = s.version;
    return c.ptr + t.offset * 2;
  }

  /** As writing(), but only for a storage a GEMM wanted a copy of (the MoE gather's output); else 0. */
  writingIfWanted(t: CopyView): number {
    return this.wanted.has(t.s) ? this.writing(t) : 0;
  }

  /** The address of t's valid copy (its first element), or 0 when there is none. */
  of(t: CopyView): number {
    const c = this.copies.get(t.s);
    if (c === undefined || c.version !== t.s.version || t.offset < c.lo || t.offset + t.size > c.hi) return 0;
    return c.ptr + t.offset * 2;
  }

  /** Like of(), and remembers that a copy of t's storage would have been read (see writingIfWanted). */
  ofOrWant(t: CopyView): number {
    const p = this.of(t);
    if (p === 0) this.wanted.add(t.s);
    return p;
  }

  /** The pool freed every allocation from `mark` on: forget the copies among them. */
  release(mark: number): void {
    for (const [s, c] of this.copies) if (c.mark >= mark) this.copies.delete(s);
  }

  /** Copies currently held (valid or not), for tests. */
  get count(): number {
    return this.copies.size;
  }
}
