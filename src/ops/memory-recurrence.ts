// The associative-memory recurrence of src/layers/linear-memory.ts (the "memory" of the
// nested-learning models; not a backend's memory): what its ops (Ops.memoryForward /
// memoryBackward in ./types.ts) compute, one step at a time (memoryWrite, memoryRead: a forward
// call is T of these steps per sequence), the layout and size of their saved state, and their
// argument checks. The step is here, in the contract, because two places run it: the reference
// backend over whole sequences (src/backends/reference/memory-recurrence.ts), and the memory-lm
// sampler one token at a time (src/models/memory-lm.ts), so there is one copy of the maths.
// Checks allocate nothing unless they fail (they run on every call).
import type { FloatArray, MemoryShape, Tensor } from './types.js';
import { checkCount, checkNeed, spanOf } from './checks.js';

/** Sequence slots of `saved`: B per memory, MemoryShape.heads memories. */
export function memorySlots(s: MemoryShape): number {
  return s.B * (s.heads ?? 1);
}

/** States stored per sequence: the zero start and one per commit, ⌊T/C⌋ + 1. */
export function memoryStates(s: MemoryShape): number {
  return Math.floor(s.T / s.period) + 1;
}

/**
 * Where the state read at step t (the one after ⌊t/C⌋ commits) of sequence slot b (h·B + b for
 * memory h of MemoryShape.heads) starts in `saved`: R is stored time-reversed within a sequence
 * (see Ops.memoryForward).
 */
export function memoryStateOffset(s: MemoryShape, b: number, t: number): number {
  const n = memoryStates(s);
  return (b * n + n - 1 - Math.floor(t / s.period)) * s.dk * s.dv;
}

/** Elements of the Adam blocks m, u, A of `saved` (each; 0 for gd and momentum). */
export function memoryAdamBlock(s: MemoryShape): number {
  return s.optimizer === 'adam' ? memorySlots(s) * s.T * s.dk * s.dv : 0;
}

/** Where the Adam blocks of `saved` start: after R. */
export function memoryAdamOffset(s: MemoryShape): number {
  return memorySlots(s) * memoryStates(s) * s.dk * s.dv;
}

/** Where the working area of `saved` starts: after R and the three Adam blocks. */
export function memoryWorkOffset(s: MemoryShape): number {
  return memoryAdamOffset(s) + 3 * memoryAdamBlock(s);
}

/**
 * Elements of the working area at the end of `saved`: what one thread running the recurrence
 * needs besides R and the Adam blocks (a backend that splits a call over threads gives each of
 * the others an area of this size of its own).
 */
export function memoryWorkSize(dk: number, dv: number): number {
  return 5 * dk * dv + 2 * dv + 2 * dk; // + the step's normalised k̂ and q̂ (MemoryShape.normalize)
}

/** Elements between rows of k, q, dk, dq (the first) and of v, dv (the second): MemoryShape.xStride or packed. */
export function memoryKeyStride(s: MemoryShape): number { return s.xStride ?? s.dk; }
export function memoryValueStride(s: MemoryShape): number { return s.xStride ?? s.dv; }
/** Elements between rows of y and dy: MemoryShape.yStride or dv. */
export function memoryOutStride(s: MemoryShape): number { return s.yStride ?? s.dv; }

/** Where memory h + 1's k, q (first), v (second), y (third) start relative to memory h's (MemoryShape.heads). */
export function memoryKeyHeadStride(s: MemoryShape): number { return s.xHeadStride ?? s.B * s.T * memoryKeyStride(s); }
export function memoryValueHeadStride(s: MemoryShape): number {
  return s.vHeadStride ?? s.xHeadStride ?? s.B * s.T * memoryValueStride(s);
}
export function memoryOutHeadStride(s: MemoryShape): number { return s.yHeadStride ?? s.B * s.T * memoryOutStride(s); }

/** The normalisation floor of MemoryShape.normalize (linear-memory.ts's l2Normalize uses the same). */
export const MEMORY_NORM_FLOOR = 1e-12;

/**
 * k̂ = x / max(‖x‖, floor) of the n floats at x[xo…] into out[0…n); returns the norm used. In
 * float64 whatever x's type (the reference's and the sampler's normalisation).
 */
export function memoryNormalizeRow(x: ArrayLike<number>, xo: number, out: Float64Array, n: number): number {
  let s = 0;
  for (let j = 0; j < n; j++) s += x[xo + j] * x[xo + j];
  const nrm = Math.max(Math.sqrt(s), MEMORY_NORM_FLOOR);
  for (let j = 0; j < n; j++) out[j] = x[xo + j] / nrm;
  return nrm;
}

/** Backward of memoryNormalizeRow in place: g[go…] ← (g − x̂ (x̂·g)) / nrm, given x̂ and nrm. */
export function memoryNormalizeRowBackward(xh: Float64Array, nrm: number, g: { [i: number]: number }, go: number, n: number): void {
  let dot = 0;
  for (let j = 0; j < n; j++) dot += xh[j] * g[go + j];
  for (let j = 0; j < n; j++) g[go + j] = (g[go + j] - xh[j] * dot) / nrm;
}

/** Elements the `saved` tensor of memoryForward must hold at least (layout: Ops.memoryForward). */
export function memorySavedSize(s: MemoryShape): number {
  return memoryWorkOffset(s) + memoryWorkSize(s.dk, s.dv);
}

// ---- one step -------------------------------------------------------------------------------------

/** The inner hyper-parameters a step needs (a MemoryShape has them all). */
export type MemoryRuleParams = Pick<MemoryShape, 'dk' | 'dv' | 'rule' | 'optimizer' | 'eta' | 'beta' | 'beta1' | 'beta2' | 'eps' | 'period'>;

/**
 * One sequence's running state: the committed memory M, the accumulated inner gradient A, the
 * momentum S, Adam's m and u (all [dv·dk]), e [dv], the step count t and the number of commits.
 * The backward pass reuses the same shapes for the adjoints dM, dA, dS, dm, du, e and de.
 */
export class MemoryState {
  readonly M: Float64Array;
  readonly A: Float64Array;
  readonly Sm: Float64Array;
  readonly m: Float64Array;
  readonly u: Float64Array;
  readonly e: Float64Array;
  readonly de: Float64Array;
  t = 0;
  commits = 0;

  constructor(readonly dk: number, readonly dv: number) {
    const S = dk * dv;
    this.M = new Float64Array(S); this.A = new Float64Array(S); this.Sm = new Float64Array(S);
    this.m = new Float64Array(S); this.u = new Float64Array(S);
    this.e = new Float64Array(dv); this.de = new Float64Array(dv);
  }

  /** Back to M = 0, t = 0 (a new sequence). */
  reset(): void {
    this.M.fill(0); this.A.fill(0); this.Sm.fill(0); this.m.fill(0); this.u.fill(0);
    this.t = 0; this.commits = 0;
  }
}

/**
 * The write of one step (t ← t + 1): A += G_t at the committed state M (key k at ko, value v at
 * vo), then, when t % C = 0, the inner optimiser's commit of A (and A ← 0). At a commit with Adam
 * and `saved` given, stores m, u and A (before its reset) at saved[mo…], saved[uo…], saved[ao…].
 */
export function memoryWrite(p: MemoryRuleParams, st: MemoryState, k: ArrayLike<number>, ko: number,
  v: ArrayLike<number>, vo: number, saved: FloatArray | null = null, mo = 0, uo = 0, ao = 0): void {
  const { dk, dv, eta } = p, S = dk * dv, { M, A, e } = st;
  if (p.rule === 'delta') {
    for (let i = 0; i < dv; i++) {
      let s = -v[vo + i];
      for (let j = 0; j < dk; j++) s += M[i * dk + j] * k[ko + j];
      e[i] = s;
    }
  } else {
    for (let i = 0; i < dv; i++) e[i] = -v[vo + i];
  }
  for (let i = 0; i < dv; i++) for (let j = 0; j < dk; j++) A[i * dk + j] += e[i] * k[ko + j];
  st.t++;
  if (st.t % p.period !== 0) return;
  st.commits++;
  if (p.optimizer === 'gd') {
    for (let x = 0; x < S; x++) M[x] -= eta * A[x];
  } else if (p.optimizer === 'momentum') {
    const Sm = st.Sm;
    for (let x = 0; x < S; x++) { Sm[x] = p.beta * Sm[x] - eta * A[x]; M[x] += Sm[x]; }
  } else {
    const { beta1: b1, beta2: b2, eps } = p, { m, u } = st;
    const c1 = 1 / (1 - b1 ** st.commits), c2 = 1 / (1 - b2 ** st.commits);
    for (let x = 0; x < S; x++) {
      m[x] = b1 * m[x] + (1 - b1) * A[x];
      u[x] = b2 * u[x] + (1 - b2) * A[x] * A[x];
      M[x] -= eta * c1 * m[x] / Math.sqrt(c2 * u[x] + eps);
    }
    if (saved !== null) {
      for (let x = 0; x < S; x++) { saved[mo + x] = m[x]; saved[uo + x] = u[x]; saved[ao + x] = A[x]; }
    }
  }
  A.fill(0);
}

/** The read y = M q (q at qo; y[yo … yo + dv) overwritten, or added to with `accumulate`). */
export function memoryRead(st: MemoryState, q: ArrayLike<number>, qo: number, y: { [i: number]: number }, yo: number,
  accumulate = false): void {
  const { dk, dv, M } = st;
  for (let i = 0; i < dv; i++) {
    let s = 0;
    for (let j = 0; j < dk; j++) s += M[i * dk + j] * q[qo + j];
    y[yo + i] = accumulate ? y[yo + i] + s : s;
  }
}

// ---- argument checks -------------------------------------------------------------------------------

function checkShape(op: string, s: MemoryShape): void {
  checkCount(op, 'B', s.B); checkCount(op, 'T', s.T); checkCount(op, 'dk', s.dk); checkCount(op, 'dv', s.dv);
  if (s.rule !== 'delta' && s.rule !== 'hebbian') throw new RangeError(`${op}: rule must be delta or hebbian, got '${s.rule as string}'`);
  if (s.optimizer !== 'gd' && s.optimizer !== 'momentum' && s.optimizer !== 'adam') {
    throw new RangeError(`${op}: optimizer must be gd, momentum or adam, got '${s.optimizer as string}'`);
  }
  if (!Number.isInteger(s.period) || s.period < 1) throw new RangeError(`${op}: period must be an integer ≥ 1, got ${s.period}`);
  if (!Number.isFinite(s.eta) || !Number.isFinite(s.beta) || !Number.isFinite(s.beta1) || !Number.isFinite(s.beta2) ||
    !Number.isFinite(s.eps)) {
    throw new RangeError(`${op}: eta, beta, beta1, beta2 and eps must be finite`);
  }
  // Adam divides by 1 − β1ⁿ and takes √(… + ε): outside these ranges that is a division by zero or a NaN.
  if (s.optimizer === 'adam' && !(s.beta1 >= 0 && s.beta1 < 1 && s.beta2 >= 0 && s.beta2 < 1 && s.eps > 0)) {
    throw new RangeError(`${op}: adam needs 0 ≤ beta1, beta2 < 1 and eps > 0, got ${s.beta1}, ${s.beta2}, ${s.eps}`);
  }
  if (s.xStride !== undefined && (!Number.isInteger(s.xStride) || s.xStride < Math.max(s.dk, s.dv))) {
    throw new RangeError(`${op}: xStride must be an integer ≥ max(dk, dv) = ${Math.max(s.dk, s.dv)}, got ${s.xStride}`);
  }
  if (s.yStride !== undefined && (!Number.isInteger(s.yStride) || s.yStride < s.dv)) {
    throw new RangeError(`${op}: yStride must be an integer ≥ dv = ${s.dv}, got ${s.yStride}`);
  }
  if (s.heads !== undefined && (!Number.isInteger(s.heads) || s.heads < 1)) throw new RangeError(`${op}: heads must be an integer ≥ 1, got ${s.heads}`);
  if (s.xHeadStride !== undefined) checkCount(op, 'xHeadStride', s.xHeadStride);
  if (s.vHeadStride !== undefined) checkCount(op, 'vHeadStride', s.vHeadStride);
  if (s.yHeadStride !== undefined) checkCount(op, 'yHeadStride', s.yHeadStride);
}

/** Elements a tensor of `heads` memories' rows spans: the last memory's rows after heads − 1 head strides. */
function headsSpan(s: MemoryShape, headStride: number, rows: number): number {
  return ((s.heads ?? 1) - 1) * headStride + rows;
}

function checkInputs(op: string, s: MemoryShape, k: Tensor, v: Tensor, q: Tensor, saved: Tensor): void {
  checkShape(op, s);
  const n = s.B * s.T, ks = memoryKeyStride(s), vs = memoryValueStride(s);
  const kw = s.xStride === undefined ? 'B·T·dk' : 'B·T rows of dk, xStride apart';
  const vw = s.xStride === undefined ? 'B·T·dv' : 'B·T rows of dv, xStride apart';
  const kh = memoryKeyHeadStride(s), vh = memoryValueHeadStride(s);
  checkNeed(op, 'k', k, headsSpan(s, kh, spanOf(n, ks, s.dk)), kw);
  checkNeed(op, 'q', q, headsSpan(s, kh, spanOf(n, ks, s.dk)), kw);
  checkNeed(op, 'v', v, headsSpan(s, vh, spanOf(n, vs, s.dv)), vw);
  checkNeed(op, 'saved', saved, memorySavedSize(s), 'memorySavedSize');
}

export function checkMemoryForwardArgs(s: MemoryShape, k: Tensor, v: Tensor, q: Tensor, y: Tensor, saved: Tensor): void {
  checkInputs('memoryForward', s, k, v, q, saved);
  checkNeed('memoryForward', 'y', y, headsSpan(s, memoryOutHeadStride(s), spanOf(s.B * s.T, memoryOutStride(s), s.dv)), outWhat(s));
}

export function checkMemoryBackwardArgs(s: MemoryShape, k: Tensor, v: Tensor, q: Tensor, saved: Tensor, dy: Tensor,
  dk: Tensor, dv: Tensor, dq: Tensor): void {
  const op = 'memoryBackward', n = s.B * s.T, ks = memoryKeyStride(s), vs = memoryValueStride(s);
  checkInputs(op, s, k, v, q, saved);
  const kw = s.xStride === undefined ? 'B·T·dk' : 'B·T rows of dk, xStride apart';
  const vw = s.xStride === undefined ? 'B·T·dv' : 'B·T rows of dv, xStride apart';
  const kh = memoryKeyHeadStride(s), vh = memoryValueHeadStride(s);
  checkNeed(op, 'dy', dy, headsSpan(s, memoryOutHeadStride(s), spanOf(n, memoryOutStride(s), s.dv)), outWhat(s));
  checkNeed(op, 'dk', dk, headsSpan(s, kh, spanOf(n, ks, s.dk)), kw);
  checkNeed(op, 'dq', dq, headsSpan(s, kh, spanOf(n, ks, s.dk)), kw);
  checkNeed(op, 'dv', dv, headsSpan(s, vh, spanOf(n, vs, s.dv)), vw);
}

function outWhat(s: MemoryShape): string {
  return s.yStride === undefined ? 'B·T·dv' : 'B·T rows of dv, yStride apart';
}
