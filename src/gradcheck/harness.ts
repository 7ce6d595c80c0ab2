// The gradient-check harness: compares a hand-written backward pass against central differences
// of its own forward pass. Every op, layer and model in handgrad plugs in through `Checkable`.
//
// How to make something checkable (a layer, say):
//   1. Allocate its parameters, an input, and the output once, with random values (seeded Rng).
//   2. `loss()` runs the forward pass from scratch and reduces the output to a scalar with a
//      fixed random projection (`RandomProjection`), so every output element carries weight.
//   3. `backward()` seeds the output gradient with the projection weights and runs the layer's
//      backward pass, which fills (accumulates into) the `grad` tensors listed in params/inputs.
// The harness zeroes every listed grad before calling backward(), so accumulating backward ops
// need no special handling.
//
// Run checks on the float64 reference backend: in float32 a central difference carries ~1e-3
// relative noise and says little about a backward pass's correctness.
import type { Ops, Tensor } from '../ops/types.js';
import { Rng } from '../util/rng.js';

/** A tensor whose gradient is checked: `grad` is the same size as `value`. */
export interface CheckTensor {
  name: string;
  value: Tensor;
  grad: Tensor;
}

export interface Checkable {
  name: string;
  /** Parameters: the backward pass accumulates their gradients. */
  params: CheckTensor[];
  /** Inputs whose gradient (dx) the backward pass produces, checked like parameters. */
  inputs?: CheckTensor[];
  /**
   * The forward pass from the current values, reduced to a scalar. Must be a pure function of the
   * tensors' values (no dropout, no state carried between calls): the harness calls it many times.
   */
  loss(): number;
  /** The backward pass for the most recent loss() call; fills every listed grad. */
  backward(): void;
}

export interface GradCheckOptions {
  /** At most this many entries per tensor are checked, chosen at random (default 64). */
  samples?: number;
  /** Seed for choosing which entries to check (default 0). */
  seed?: number;
  /** Finite-difference step relative to the entry: h = step · max(1, |θ|) (default 1e-5). */
  step?: number;
  /** Pass/fail threshold on the norm-based relative error of every tensor (default 1e-6). */
  tolerance?: number;
  /** Floor of the denominator of the element-wise relative error (default 1e-8). */
  tiny?: number;
}

/** One tensor's comparison; numbers only, so results serialise to JSON. */
export interface TensorCheck {
  name: string;
  /** ‖analytic − numeric‖ / (‖analytic‖ + ‖numeric‖) over the checked entries; 0 when both are 0. */
  relError: number;
  /** max over checked entries of |a − n| / max(|a|, |n|, tiny): finds one bad entry, but noisy. */
  maxElemRelError: number;
  /** How many entries were checked. */
  checked: number;
  /** How many entries the tensor has. */
  size: number;
  /** The entry with the largest element-wise error, to start debugging from. */
  worst: { index: number; analytic: number; numeric: number };
}

export interface GradCheckResult {
  name: string;
  tensors: TensorCheck[];
  /** The largest `relError` over all tensors: the number compared against `tolerance`. */
  maxRelError: number;
  /** Which error decides pass/fail (always the norm-based one; the element-wise one is advisory). */
  criterion: 'relError';
  tolerance: number;
  passed: boolean;
}

export const DEFAULT_TOLERANCE = 1e-6;

export function gradCheck(c: Checkable, opts: GradCheckOptions = {}): GradCheckResult {
  const samples = opts.samples ?? 64;
  const stepRel = opts.step ?? 1e-5;
  const tolerance = opts.tolerance ?? DEFAULT_TOLERANCE;
  const tiny = opts.tiny ?? 1e-8;
  const rng = new Rng(opts.seed ?? 0);
  const tensors = [...c.params, ...(c.inputs ?? [])];
  if (tensors.length === 0) throw new Error(`gradCheck ${c.name}: nothing to check (no params, no inputs)`);
  for (const t of tensors) {
    if (t.grad.size !== t.value.size) {
      throw new RangeError(`gradCheck ${c.name}: ${t.name} has ${t.value.size} values but ${t.grad.size} grads`);
    }
  }

  // Analytic gradients first: zero, forward, backward, then copy out (the perturbed forward
  // passes below may overwrite whatever state backward() left behind).
  for (const t of tensors) t.grad.data.fill(0);
  const loss0 = c.loss();
  if (!Object.is(c.loss(), loss0)) {
    throw new Error(`gradCheck ${c.name}: loss() gave two different values for the same inputs; it must be pure`);
  }
  c.backward();
  const analytic = tensors.map((t) => Float64Array.from(t.grad.data));

  const results = tensors.map((t, ti): TensorCheck => {
    const indices = sampleIndices(t.value.size, samples, rng);
    let diff2 = 0, a2 = 0, n2 = 0, maxElem = 0;
    let worst = { index: -1, analytic: 0, numeric: 0 };
    for (const i of indices) {
      const numeric = centralDifference(c, t.value, i, stepRel);
      const a = analytic[ti][i];
      diff2 += (a - numeric) ** 2;
      a2 += a * a;
      n2 += numeric * numeric;
      const elem = Math.abs(a - numeric) / Math.max(Math.abs(a), Math.abs(numeric), tiny);
      // `!(elem <= maxElem)` also catches NaN, which must surface rather than hide.
      if (worst.index < 0 || !(elem <= maxElem)) {
        maxElem = elem;
        worst = { index: i, analytic: a, numeric };
      }
    }
    const denom = Math.sqrt(a2) + Math.sqrt(n2);
    const relError = denom === 0 ? (diff2 === 0 ? 0 : Infinity) : Math.sqrt(diff2) / denom;
    return { name: t.name, relError, maxElemRelError: maxElem, checked: indices.length, size: t.value.size, worst };
  });

  let maxRelError = 0;
  for (const r of results) if (!(r.relError <= maxRelError)) maxRelError = r.relError; // NaN wins
  return {
    name: c.name,
    tensors: results,
    maxRelError,
    criterion: 'relError',
    tolerance,
    // Written so that a NaN error fails.
    passed: maxRelError <= tolerance,
  };
}

/** (L(θ + h) − L(θ − h)) / 2h for entry i, restoring the entry exactly afterwards. */
function centralDifference(c: Checkable, value: Tensor, i: number, stepRel: number): number {
  // Re-read `.data` each time: a backend's memory may move when a forward pass allocates.
  const saved = value.data[i];
  const h = stepRel * Math.max(1, Math.abs(saved));
  value.data[i] = saved + h;
  const plus = c.loss();
  value.data[i] = saved - h;
  const minus = c.loss();
  value.data[i] = saved;
  // Divide by the step actually taken: (saved + h) − (saved − h) after rounding.
  return (plus - minus) / ((saved + h) - (saved - h));
}

/** All indices when size ≤ n, otherwise n distinct indices at random, in increasing order. */
function sampleIndices(size: number, n: number, rng: Rng): number[] {
  if (size <= n) return Array.from({ length: size }, (_, i) => i);
  const chosen = new Set<number>();
  while (chosen.size < n) chosen.add(rng.int(0, size));
  return [...chosen].sort((a, b) => a - b);
}

// ---- helpers for writing checkables ------------------------------------------------------------

/** A checked tensor with Normal(0, std²) values and a zeroed gradient. */
export function randomCheckTensor(ops: Ops, name: string, size: number, rng: Rng, std = 1): CheckTensor {
  const value = ops.tensor(size);
  rng.fillNormal(value.data, 0, std);
  return { name, value, grad: ops.tensor(size) };
}

/** A checked tensor holding the given values and a zeroed gradient. */
export function checkTensorFrom(ops: Ops, name: string, values: ArrayLike<number>): CheckTensor {
  return { name, value: ops.tensorFrom(values), grad: ops.tensor(values.length) };
}

/**
 * The scalar loss L = Σ w ⊙ out with fixed random w, for checking a layer's output: every output
 * element gets a different weight, so a gradient routed to the wrong element shows up (a plain
 * sum would hide permutations). dL/dout = w.
 */
export class RandomProjection {
  readonly w: Tensor;

  constructor(private readonly ops: Ops, readonly size: number, rng: Rng) {
    this.w = ops.tensor(size);
    rng.fillNormal(this.w.data);
  }

  /** Σ w ⊙ out over the first `size` elements, summed in double precision on the host. */
  loss(out: Tensor): number {
    const o = out.data, w = this.w.data;
    let s = 0;
    for (let i = 0; i < this.size; i++) s += w[i] * o[i];
    return s;
  }

  /** dout = w (overwrites). */
  backward(dout: Tensor): void {
    this.ops.copy(this.w, dout);
  }
}

/**
 * The usual checkable for a layer y = f(x): a random input x [inSize] (N(0, xStd²)) whose gradient
 * is checked beside the parameters, the output y [outSize] reduced by a RandomProjection.
 * `forward(x, y)` and `backward(x, dy, dx)` are the layer's own calls (backward ACCUMULATES the
 * parameter gradients). Draws x, then the projection, from `rng`, after whatever the caller drew.
 */
export function layerCheckable(ops: Ops, rng: Rng, name: string, params: CheckTensor[], inSize: number, outSize: number,
  forward: (x: Tensor, y: Tensor) => void, backward: (x: Tensor, dy: Tensor, dx: Tensor) => void, xStd = 1): Checkable {
  const x = randomCheckTensor(ops, 'x', inSize, rng, xStd);
  const y = ops.tensor(outSize), dy = ops.tensor(outSize);
  const proj = new RandomProjection(ops, outSize, rng);
  return {
    name,
    params,
    inputs: [x],
    loss() { forward(x.value, y); return proj.loss(y); },
    backward() { proj.backward(dy); backward(x.value, dy, x.grad); },
  };
}
