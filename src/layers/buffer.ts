// Scratch activations for a layer whose batch size is known only when it runs: a [rows, cols]
// buffer that is allocated on first use, grows when a larger batch comes (never per step), and
// hands out an exact-size view of the first n rows, because elementwise ops run over a whole
// tensor (`x.size`) while row ops take sizes explicitly.
import type { IntTensor, Ops, Tensor } from '../ops/types.js';

/** The growth logic, for float and int buffers alike. */
class GrowingRows<T extends { view(offset: number, size: number): T }> {
  private storage: T | null = null;
  private capacity = 0;
  private lastRows = -1;
  private lastView: T | null = null;

  constructor(private readonly alloc: (size: number) => T, readonly cols: number) {}

  /** A view of the first n rows (n·cols elements). Its contents are whatever the last user left. */
  rows(n: number): T {
    if (this.storage === null || n > this.capacity) {
      this.storage = this.alloc(Math.max(1, n) * this.cols);
      this.capacity = Math.max(1, n);
      this.lastRows = -1;
    }
    if (n !== this.lastRows) {
      this.lastView = n === this.capacity ? this.storage : this.storage.view(0, n * this.cols);
      this.lastRows = n;
    }
    return this.lastView!;
  }
}

export class RowBuffer extends GrowingRows<Tensor> {
  constructor(ops: Ops, cols: number) { super((size) => ops.tensor(size), cols); }
}

/** The same for int tensors (routing indices, dispatch slots). */
export class IntRowBuffer extends GrowingRows<IntTensor> {
  constructor(ops: Ops, cols: number) { super((size) => ops.ints(size), cols); }
}
