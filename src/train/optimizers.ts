// Optimizers: SGD (plain, momentum, Nesterov) and Adam/AdamW, all on ops tensors so they run on
// whichever backend holds the parameters. Each optimizer allocates its state (momentum buffers,
// Adam moments) once, on the first step, and never allocates inside step() afterwards.
//
// Formulations follow PyTorch, so hyper-parameters carry over:
//   SGD:       g' = g + wd·θ                               θ −= lr·g'
//   momentum:  v = μ·v + g'                                θ −= lr·v
//   Nesterov:  v = μ·v + g'                                θ −= lr·(g' + μ·v)
//   Adam:      g' = g + wd·θ, moments of g', bias-corrected θ −= lr·m̂/(√v̂ + eps)      (ops.adam)
//   AdamW:     moments of g (no decay in them), θ −= lr·wd·θ, then the Adam update      (ops.adam)
// The gradient tensors are never modified (a grad-norm logged after the step stays true).
//
// Row-sparse parameters (embedding tables, whose ParamRef carries `rows`): only the listed rows
// are updated, each exactly as the dense update would update it, and the rest — values AND
// optimizer state — are left untouched, bit for bit. For Adam this is "lazy Adam"
// (torch.optim.SparseAdam): a row's moments decay only on the steps that use the row, while the
// bias correction follows the global step count. Weight decay, when set, also applies to touched
// rows only. The row set is cleared after the step (the next backward pass records it afresh).
import type { AdamParams, OptimizerKind, Ops, Tensor } from '../ops/types.js';
import type { RowSubset } from '../layers/param.js';

/** One parameter tensor and its gradient, as the optimizer sees it. */
export interface ParamRef {
  value: Tensor;
  grad: Tensor;
  /** false exempts this tensor from weight decay (biases, LayerNorm gains); default true. */
  decay?: boolean;
  /** Row-sparse gradient: update only these rows of the [rows, cols] tensor, then clear the set. */
  rows?: RowSubset;
}

// The kinds are part of the ops contract (src/ops/types.ts, beside AdamParams), so that a model
// spec can name its preferred optimizer without importing the training code.
export type { OptimizerKind };
export const OPTIMIZER_KINDS: readonly OptimizerKind[] = ['sgd', 'momentum', 'nesterov', 'adam', 'adamw'];

/** An optimizer's resumable state as plain arrays (JSON-serialisable, for checkpoints). */
export interface OptimizerState {
  kind: OptimizerKind;
  /** Steps taken so far (Adam's bias correction depends on it). */
  step: number;
  /** Per-parameter buffers by role, in the order of the params passed to step(): e.g. velocity, m, v. */
  buffers: Record<string, number[][]>;
}

export interface Optimizer {
  readonly kind: OptimizerKind;
  /** Steps taken so far. */
  readonly steps: number;
  /** One update of every parameter from its gradient; pass the same list, in the same order, each time. */
  step(params: readonly ParamRef[], lr: number): void;
  exportState(): OptimizerState;
  /** Restores exportState()'s output; the next step() checks it against the parameters' sizes. */
  importState(state: OptimizerState): void;
}

export interface OptimizerOptions {
  kind: OptimizerKind;
  /** Momentum μ for 'momentum' and 'nesterov' (default 0.9). */
  momentum?: number;
  /** Weight decay: L2 added to the gradient (sgd, momentum, nesterov, adam), decoupled for adamw (default 0). */
  weightDecay?: number;
  /** Adam/AdamW (defaults 0.9, 0.999, 1e-8). */
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/** Builds an optimizer from a plain options object (what a CLI or a config file produces). */
export function createOptimizer(ops: Ops, opts: OptimizerOptions): Optimizer {
  const wd = opts.weightDecay ?? 0;
  switch (opts.kind) {
    case 'sgd': return new Sgd(ops, { weightDecay: wd });
    case 'momentum': return new Sgd(ops, { momentum: opts.momentum ?? 0.9, weightDecay: wd });
    case 'nesterov': return new Sgd(ops, { momentum: opts.momentum ?? 0.9, nesterov: true, weightDecay: wd });
    case 'adam':
    case 'adamw':
      return new Adam(ops, { decoupled: opts.kind === 'adamw', weightDecay: wd, beta1: opts.beta1, beta2: opts.beta2, eps: opts.eps });
    default:
      throw new RangeError(`unknown optimizer '${(opts as { kind: string }).kind}' (expected ${OPTIMIZER_KINDS.join(', ')})`);
  }
}

// ---- shared state handling -----------------------------------------------------------------------

/** Per-parameter buffers (one list per role), allocated on first use and checked on every step. */
class Buffers {
  /** role → one tensor per parameter. */
  private slots: Map<string, Tensor[]> | null = null;

  constructor(private readonly ops: Ops, private readonly owner: string, private readonly roles: readonly string[]) {}

  /** The buffers for these params, allocating zeroed ones on the first call. */
  get(params: readonly ParamRef[]): Map<string, Tensor[]> {
    if (this.slots === null) {
      this.slots = new Map(this.roles.map((r) => [r, params.map((p) => this.ops.tensor(p.value.size))]));
    }
    const first = this.slots.get(this.roles[0])!;
    if (first.length !== params.length) {
      throw new RangeError(`${this.owner}: state holds ${first.length} parameter tensors, step() was given ${params.length}`);
    }
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      if (first[i].size !== p.value.size || p.grad.size !== p.value.size) {
        throw new RangeError(`${this.owner}: parameter ${i} has ${p.value.size} values and ${p.grad.size} grads, ` +
          `its state ${first[i].size}; pass the same parameters in the same order every step`);
      }
    }
    return this.slots;
  }

  export(): Record<string, number[][]> {
    const out: Record<string, number[][]> = {};
    for (const r of this.roles) out[r] = (this.slots?.get(r) ?? []).map((t) => Array.from(t.data));
    return out;
  }

  import(buffers: Record<string, number[][]>): void {
    const lists = this.roles.map((r) => {
      const b = buffers[r];
      if (!Array.isArray(b)) throw new RangeError(`${this.owner}: state is missing buffers '${r}'`);
      return b;
    });
    if (lists.some((l) => l.length !== lists[0].length)) throw new RangeError(`${this.owner}: state buffers differ in length`);
    // An optimizer that never stepped exports empty lists: restore to "allocate on first step".
    this.slots = lists[0].length === 0 ? null : new Map(this.roles.map((r, i) => [r, lists[i].map((a) => this.ops.tensorFrom(a))]));
  }
}

/**
 * [cols]-element views of single rows, made the first time a row is used and kept (so a sparse
 * step allocates nothing once the rows it touches have been seen).
 */
class RowViews {
  private readonly cache = new Map<Tensor, Tensor[]>();

  row(t: Tensor, r: number, cols: number): Tensor {
    let rows = this.cache.get(t);
    if (rows === undefined) {
      if (t.size % cols !== 0) throw new RangeError(`sparse rows: a tensor of ${t.size} elements has no rows of ${cols}`);
      rows = [];
      this.cache.set(t, rows);
    }
    return (rows[r] ??= t.view(r * cols, cols));
  }
}

function checkImport(kind: OptimizerKind, state: OptimizerState): void {
  if (state.kind !== kind) throw new RangeError(`cannot load ${state.kind} optimizer state into a ${kind} optimizer`);
  if (!Number.isInteger(state.step) || state.step < 0) throw new RangeError(`optimizer state has a bad step count ${state.step}`);
}

// ---- SGD, momentum, Nesterov ---------------------------------------------------------------------

export interface SgdOptions {
  /** μ; 0 (default) is plain SGD with no buffers. */
  momentum?: number;
  /** PyTorch's Nesterov form; needs momentum > 0. */
  nesterov?: boolean;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay?: number;
}

export class Sgd implements Optimizer {
  readonly kind: OptimizerKind;
  private readonly momentum: number;
  private readonly nesterov: boolean;
  private readonly weightDecay: number;
  private readonly buffers: Buffers | null;
  private t = 0;

  constructor(private readonly ops: Ops, opts: SgdOptions = {}) {
    this.momentum = opts.momentum ?? 0;
    this.nesterov = opts.nesterov ?? false;
    this.weightDecay = opts.weightDecay ?? 0;
    if (!(this.momentum >= 0 && this.momentum < 1)) throw new RangeError(`SGD momentum must be in [0, 1), got ${this.momentum}`);
    if (this.nesterov && this.momentum === 0) throw new RangeError('Nesterov momentum needs momentum > 0');
    if (!(this.weightDecay >= 0)) throw new RangeError(`weight decay must be ≥ 0, got ${this.weightDecay}`);
    this.kind = this.momentum === 0 ? 'sgd' : this.nesterov ? 'nesterov' : 'momentum';
    this.buffers = this.momentum === 0 ? null : new Buffers(ops, `${this.kind} optimizer`, ['velocity']);
  }

  get steps(): number { return this.t; }

  step(params: readonly ParamRef[], lr: number): void {
    const velocity = this.buffers?.get(params).get('velocity') ?? null;
    for (let i = 0; i < params.length; i++) {
      const { value: theta, grad: g, rows } = params[i];
      const wd = params[i].decay === false ? 0 : this.weightDecay;
      const v = velocity?.[i] ?? null;
      // Every row touched (a tied embedding gets gradient from the LM head in all rows): the lazy
      // step equals the dense one, which is one kernel instead of one per row (4096 launches on a GPU).
      if (rows && rows.count < theta.size / rows.cols) {
        const { views } = this, cols = rows.cols;
        for (let k = 0; k < rows.count; k++) {
          const r = rows.ids[k];
          this.update(views.row(theta, r, cols), views.row(g, r, cols), v && views.row(v, r, cols), wd, lr);
        }
        rows.clear();
      } else {
        rows?.clear();
        this.update(theta, g, v, wd, lr);
      }
    }
    this.t++;
  }

  private readonly views = new RowViews();

  /** One tensor's (or one row's) update. */
  private update(theta: Tensor, g: Tensor, v: Tensor | null, wd: number, lr: number): void {
    const { ops, momentum: mu } = this;
    if (v === null) {
      // θ −= lr·(g + wd·θ), written as θ·(1 − lr·wd) − lr·g so g stays untouched.
      if (wd !== 0) ops.scale(theta, 1 - lr * wd);
      ops.axpy(-lr, g, theta);
      return;
    }
    // v = μ·v + g + wd·θ (on the first step v = 0, so v = g', as PyTorch initialises it).
    ops.scale(v, mu);
    ops.axpy(1, g, v);
    if (wd !== 0) ops.axpy(wd, theta, v);
    if (this.nesterov) {
      // θ −= lr·(g' + μ·v) = lr·(g + wd·θ) + lr·μ·v; decay first, while θ is still the old θ.
      if (wd !== 0) ops.scale(theta, 1 - lr * wd);
      ops.axpy(-lr, g, theta);
      ops.axpy(-lr * mu, v, theta);
    } else {
      ops.axpy(-lr, v, theta);
    }
  }

  exportState(): OptimizerState {
    return { kind: this.kind, step: this.t, buffers: this.buffers?.export() ?? {} };
  }

  importState(state: OptimizerState): void {
    checkImport(this.kind, state);
    this.buffers?.import(state.buffers);
    this.t = state.step;
  }
}

// ---- Adam, AdamW ---------------------------------------------------------------------------------

export interface AdamOptions {
  /** true: AdamW (decoupled weight decay); false: Adam with L2 in the gradient (default false). */
  decoupled?: boolean;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

export class Adam implements Optimizer {
  readonly kind: OptimizerKind;
  private readonly weightDecay: number;
  private readonly buffers: Buffers;
  /** One hyper-parameter record, updated in place each step (no allocation per step). */
  private readonly p: AdamParams;

  constructor(private readonly ops: Ops, opts: AdamOptions = {}) {
    const decoupled = opts.decoupled ?? false;
    this.kind = decoupled ? 'adamw' : 'adam';
    this.weightDecay = opts.weightDecay ?? 0;
    const beta1 = opts.beta1 ?? 0.9, beta2 = opts.beta2 ?? 0.999, eps = opts.eps ?? 1e-8;
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) throw new RangeError(`Adam betas must be in [0, 1), got ${beta1}, ${beta2}`);
    if (!(eps > 0)) throw new RangeError(`Adam eps must be > 0, got ${eps}`);
    if (!(this.weightDecay >= 0)) throw new RangeError(`weight decay must be ≥ 0, got ${this.weightDecay}`);
    this.p = { lr: 0, beta1, beta2, eps, weightDecay: 0, decoupled, step: 0 };
    this.buffers = new Buffers(ops, `${this.kind} optimizer`, ['m', 'v']);
  }

  get steps(): number { return this.p.step; }

  step(params: readonly ParamRef[], lr: number): void {
    const slots = this.buffers.get(params);
    const m = slots.get('m')!, v = slots.get('v')!;
    this.p.step++; // 1-based, for bias correction
    this.p.lr = lr;
    for (let i = 0; i < params.length; i++) {
      const { value, grad, rows } = params[i];
      this.p.weightDecay = params[i].decay === false ? 0 : this.weightDecay;
      if (rows && rows.count === value.size / rows.cols) {
        // Every row touched (a tied embedding: the LM head gives gradient to all rows): the lazy step
        // IS the dense step, in one kernel instead of one per row (4096 launches on a GPU).
        rows.clear();
        this.ops.adam(value, grad, m[i], v[i], this.p);
      } else if (rows) {
        // Lazy Adam: the touched rows only, each exactly as the dense step would update it.
        const { views } = this, cols = rows.cols;
        for (let k = 0; k < rows.count; k++) {
          const r = rows.ids[k];
          this.ops.adam(views.row(value, r, cols), views.row(grad, r, cols), views.row(m[i], r, cols), views.row(v[i], r, cols), this.p);
        }
        rows.clear();
      } else {
        this.ops.adam(value, grad, m[i], v[i], this.p);
      }
    }
  }

  private readonly views = new RowViews();

  exportState(): OptimizerState {
    return { kind: this.kind, step: this.p.step, buffers: this.buffers.export() };
  }

  importState(state: OptimizerState): void {
    checkImport(this.kind, state);
    this.buffers.import(state.buffers);
    this.p.step = state.step;
  }
}
