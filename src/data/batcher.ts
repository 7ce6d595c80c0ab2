// Batching a token stream into TokenBatches for the training loop. Two ways:
//
// SequentialBatcher — for models that carry hidden state (RNN, LSTM, GRU): truncated BPTT.
//   The N tokens are cut into B contiguous streams of L = ⌊(N−1)/B⌋ tokens each (row b reads
//   stream b, which starts at token b·L), and each call hands out the next window of T steps of
//   every stream:
//
//       tokens:  [ stream 0 ........ | stream 1 ........ | … | stream B−1 ....... ] (+1 for the last target)
//       call k:    row b, step t  →  input tokens[b·L + k·T + t], target tokens[b·L + k·T + t + 1]
//
//   So row b of call k+1 continues exactly where row b of call k stopped, and the hidden state a
//   model carries from one call to the next has really seen the text before the window. After
//   ⌊L/T⌋ windows (an epoch; the last L mod T tokens of each stream are left out) the walk wraps
//   to the start and next() returns true: the caller must resetState(), because the carried state
//   belongs to the end of the streams, not the beginning.
//
// RandomWindowBatcher — for models without carried state (bigram, MLP LM, transformer): every row
//   of every batch is an independent window starting at a uniformly random token, drawn from a
//   seeded Rng. next() always returns true (no window continues another).
//
// Both read their windows from a TokenSource (src/data/token-source.ts: ids in memory, or a token
// file read by offset, so memory does not grow with the corpus): one read of T + 1 tokens per row
// into a preallocated window, copied into one preallocated TokenBatch (batch-major, as
// src/models/types.ts defines it) in place: nothing is allocated per step. Both are
// deterministic, and their position can be exported and imported (plain JSON) so a checkpoint can
// resume the data order exactly.
import type { Ops } from '../ops/types.js';
import type { TokenBatch } from '../models/types.js';
import { Rng, type RngState } from '../util/rng.js';
import { ArrayTokenSource, type TokenSource } from './token-source.js';

export type SamplerKind = 'sequential' | 'random';
export const SAMPLER_KINDS: readonly SamplerKind[] = ['sequential', 'random'];

/** Where a batcher stands, as plain JSON. `tokens`, `batch` and `time` guard against resuming on other data. */
export type BatcherState =
  | { kind: 'sequential'; tokens: number; batch: number; time: number; window: number; epoch: number }
  | { kind: 'random'; tokens: number; batch: number; time: number; rng: RngState; draws: number };

export interface Batcher {
  readonly kind: SamplerKind;
  /** The batch that next() fills, allocated once. */
  readonly batch: TokenBatch;
  /**
   * Fills `batch` with the next window. Returns true when carried state must not flow into it
   * (sequential: the first window of each pass over the data; random: always).
   */
  next(): boolean;
  /** Completed passes over the data (sequential), or windows drawn ÷ windows per pass (random). */
  readonly epoch: number;
  exportState(): BatcherState;
  importState(state: BatcherState): void;
}

function allocBatch(ops: Ops, batch: number, time: number): TokenBatch {
  return { inputs: ops.ints(batch * time), targets: ops.ints(batch * time), batch, time };
}

/** The tokens as a source (an Int32Array is wrapped, not copied). */
const asSource = (tokens: TokenSource | Int32Array): TokenSource => (tokens instanceof Int32Array ? new ArrayTokenSource(tokens) : tokens);

/** Row b of the batch ← window[0, T), its targets ← window[1, T + 1). */
function fillRow(batch: TokenBatch, b: number, window: Int32Array): void {
  const T = batch.time;
  const inp = batch.inputs.data, tgt = batch.targets.data;
  for (let t = 0; t < T; t++) {
    inp[b * T + t] = window[t];
    tgt[b * T + t] = window[t + 1];
  }
}

function checkShape(tokens: TokenSource, batch: number, time: number, who: string): void {
  if (!Number.isInteger(batch) || batch < 1 || !Number.isInteger(time) || time < 1) {
    throw new RangeError(`${who}: batch and time must be integers ≥ 1, got ${batch} and ${time}`);
  }
  if (tokens.length < batch * time + 1) {
    throw new RangeError(`${who}: ${tokens.length} tokens are fewer than one batch + 1 = ${batch}×${time} + 1 = ${batch * time + 1}`);
  }
}

function checkState(s: BatcherState, kind: SamplerKind, tokens: number, batch: number, time: number): void {
  if (s.kind !== kind) throw new RangeError(`cannot load a ${s.kind} batcher state into a ${kind} batcher`);
  if (s.tokens !== tokens || s.batch !== batch || s.time !== time) {
    throw new RangeError(`batcher state is for ${s.tokens} tokens in ${s.batch}×${s.time} batches, ` +
      `this batcher has ${tokens} tokens in ${batch}×${time} batches`);
  }
}

export class SequentialBatcher implements Batcher {
  readonly kind = 'sequential' as const;
  readonly batch: TokenBatch;
  /** Tokens per stream. */
  readonly streamLength: number;
  /** Windows per pass over the data. */
  readonly windowsPerEpoch: number;
  /** The window the next call hands out, 0 … windowsPerEpoch − 1. */
  private window = 0;
  private epochs = 0;
  private readonly tokens: TokenSource;
  /** One row's T + 1 tokens, read at once. */
  private readonly rowWindow: Int32Array;

  constructor(ops: Ops, tokens: TokenSource | Int32Array, batch: number, time: number) {
    this.tokens = asSource(tokens);
    checkShape(this.tokens, batch, time, 'SequentialBatcher');
    this.batch = allocBatch(ops, batch, time);
    this.streamLength = Math.floor((this.tokens.length - 1) / batch);
    this.windowsPerEpoch = Math.floor(this.streamLength / time);
    this.rowWindow = new Int32Array(time + 1);
  }

  /** Passes over the data so far, with the fraction of the current one (2.25: a quarter into the third). */
  get epoch(): number { return this.epochs + this.window / this.windowsPerEpoch; }

  next(): boolean {
    const { batch: B, time: T } = this.batch;
    const L = this.streamLength;
    const fresh = this.window === 0;
    // fillRow re-reads .data on every call: a backend's memory may move when something else allocates.
    for (let b = 0; b < B; b++) {
      this.tokens.read(b * L + this.window * T, T + 1, this.rowWindow);
      fillRow(this.batch, b, this.rowWindow);
    }
    if (++this.window === this.windowsPerEpoch) {
      this.window = 0;
      this.epochs++;
    }
    return fresh;
  }

  /** Back to the first window (e.g. to evaluate the same validation windows every time). */
  rewind(): void {
    this.window = 0;
  }

  exportState(): BatcherState {
    const { batch, time } = this.batch;
    return { kind: 'sequential', tokens: this.tokens.length, batch, time, window: this.window, epoch: this.epochs };
  }

  importState(state: BatcherState): void {
    checkState(state, 'sequential', this.tokens.length, this.batch.batch, this.batch.time);
    const s = state as Extract<BatcherState, { kind: 'sequential' }>;
    if (!Number.isInteger(s.window) || s.window < 0 || s.window >= this.windowsPerEpoch) {
      throw new RangeError(`batcher state window ${s.window} is outside 0..${this.windowsPerEpoch - 1}`);
    }
    this.window = s.window;
    this.epochs = s.epoch;
  }
}

export class RandomWindowBatcher implements Batcher {
  readonly kind = 'random' as const;
  readonly batch: TokenBatch;
  private draws = 0;
  private readonly tokens: TokenSource;
  private readonly rowWindow: Int32Array;

  /** `rng` is used by this batcher alone (fork one from the run's generator). */
  constructor(ops: Ops, tokens: TokenSource | Int32Array, batch: number, time: number, private readonly rng: Rng) {
    this.tokens = asSource(tokens);
    checkShape(this.tokens, batch, time, 'RandomWindowBatcher');
    this.batch = allocBatch(ops, batch, time);
    this.rowWindow = new Int32Array(time + 1);
  }

  /** Windows drawn so far, in units of "as many tokens as the data holds". */
  get epoch(): number {
    return (this.draws * this.batch.time) / (this.tokens.length - 1);
  }

  next(): boolean {
    const { batch: B, time: T } = this.batch;
    // A window needs T inputs and the target after the last: starts 0 … N−T−1.
    const starts = this.tokens.length - T;
    for (let b = 0; b < B; b++) {
      this.tokens.read(this.rng.int(0, starts), T + 1, this.rowWindow);
      fillRow(this.batch, b, this.rowWindow);
    }
    this.draws += B;
    return true;
  }

  exportState(): BatcherState {
    const { batch, time } = this.batch;
    return { kind: 'random', tokens: this.tokens.length, batch, time, rng: this.rng.getState(), draws: this.draws };
  }

  importState(state: BatcherState): void {
    checkState(state, 'random', this.tokens.length, this.batch.batch, this.batch.time);
    const s = state as Extract<BatcherState, { kind: 'random' }>;
    this.rng.setState(s.rng);
    this.draws = s.draws;
  }
}

/** The batcher of the given kind over `tokens` (`rng` is only used by the random sampler). */
export function createBatcher(kind: SamplerKind, ops: Ops, tokens: TokenSource | Int32Array, batch: number, time: number, rng: Rng): Batcher {
  switch (kind) {
    case 'sequential': return new SequentialBatcher(ops, tokens, batch, time);
    case 'random': return new RandomWindowBatcher(ops, tokens, batch, time, rng);
    default: throw new RangeError(`unknown sampler '${kind as string}' (expected ${SAMPLER_KINDS.join(', ')})`);
  }
}
