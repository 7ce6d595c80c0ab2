// Scratch activations for a layer whose batch size is known only when it runs: a [rows, cols]
// buffer that is allocated on first use, grows when a larger batch comes (never per step), and
// hands out an exact-size view of the first n rows, because elementwise ops run over a whole
// tensor (`x.size`) while row ops take sizes explicitly.
import type { Ops, Tensor } from '../ops/types.js';

export class RowBuffer {
  private storage: Tensor | null = null;
  private capacity = 0;
  private lastRows = -1;
  private lastView: Tensor | null = null;

  constructor(private readonly ops: Ops, readonly cols: number) {}

  /** A view of the first n rows (n·cols elements). Its contents are whatever the last user left. */
  rows(n: number): Tensor {
    if (this.storage === null || n > this.capacity) {
      this.storage = this.ops.tensor(Math.max(1, n) * this.cols);
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
