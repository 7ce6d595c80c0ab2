// Token embedding: a [V, D] table whose rows are looked up by token id.
//
//   forward:   out[i,:] = table[ids[i],:]            ids: n ints, out: [n, D]     (ops.embedding)
//   backward:  dtable[ids[i],:] += dout[i,:]          a scatter-add; repeated ids sum (ops.embeddingBackward)
//
// Sparse updates. A batch touches only the rows of the tokens it contains (a word-level vocabulary
// of 10 000 sees a few hundred per batch), so the gradient is row-sparse. The backward pass records
// the touched rows in `table.rows` (a TouchedRows set); the optimizer (src/train/optimizers.ts)
// sees `rows` on the parameter and updates ONLY those rows — lazy Adam, as torch.optim.SparseAdam:
// a row's moments and value change only on the steps in which the row is used, so an untouched
// row and its moment buffers stay bit-identical. The optimizer clears the set after each step.
//
// Init: N(0, 1), as torch.nn.Embedding.
import type { IntTensor, Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { makeParam, type Param } from './param.js';

/**
 * The set of rows of a [rows, cols] parameter that received gradient since the set was last
 * cleared: a list (in first-touch order) plus a membership bitmap, so adding is O(1) and nothing
 * is allocated per step.
 */
export class TouchedRows {
  /** ids[0 … count) are the touched rows. */
  readonly ids: Int32Array;
  private n = 0;
  private readonly seen: Uint8Array;

  constructor(readonly rows: number, readonly cols: number) {
    this.ids = new Int32Array(rows);
    this.seen = new Uint8Array(rows);
  }

  get count(): number { return this.n; }

  add(row: number): void {
    if (this.seen[row] === 0) {
      this.seen[row] = 1;
      this.ids[this.n++] = row;
    }
  }

  /** Every row at once (for callers that make a gradient dense). */
  addAll(): void {
    for (let r = 0; r < this.rows; r++) this.add(r);
  }

  clear(): void {
    for (let i = 0; i < this.n; i++) this.seen[this.ids[i]] = 0;
    this.n = 0;
  }
}

export interface EmbeddingOptions {
  /** Standard deviation of the N(0, std²) init (default 1). */
  std?: number;
}

export class Embedding {
  readonly table: Param & { rows: TouchedRows };

  constructor(private readonly ops: Ops, name: string, readonly vocab: number, readonly dim: number, rng: Rng,
    opts: EmbeddingOptions = {}) {
    if (!Number.isInteger(vocab) || vocab < 1 || !Number.isInteger(dim) || dim < 1) {
      throw new RangeError(`embedding: vocab and dim must be integers ≥ 1, got ${vocab} and ${dim}`);
    }
    const p = makeParam(ops, `${name}.table`, [vocab, dim], { kind: 'normal', std: opts.std ?? 1 }, rng);
    this.table = { ...p, rows: new TouchedRows(vocab, dim) };
  }

  get params(): Param[] { return [this.table]; }

  /** ids [n] → out [n, D] (overwrites). */
  forward(ids: IntTensor, out: Tensor, n: number): void {
    this.ops.embedding(this.table.value, ids, out, n, this.dim);
  }

  /** dout [n, D] → table.grad rows += dout (accumulates), and records the touched rows. */
  backward(dout: Tensor, ids: IntTensor, n: number): void {
    this.ops.embeddingBackward(dout, ids, this.table.grad, n, this.dim);
    const d = ids.data, rows = this.table.rows;
    for (let i = 0; i < n; i++) rows.add(d[i]);
  }
}
