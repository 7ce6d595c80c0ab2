// Shared by the interop tests: tiny models with random weights (every bias and gain non-zero, so a
// misplaced one shows), their logits by our own forward pass, and onnxruntime-web set up for Node.
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { getModel, modelConfig } from '../../src/models/registry.js';
import type { SequenceModel } from '../../src/models/types.js';
import type { RecurrentLM } from '../../src/models/recurrent-lm.js';
import type { RecurrentState } from '../../src/layers/recurrent.js';
import { randomizeParams } from '../../src/gradcheck/model-checks.js';
import { CharTokenizer } from '../../src/data/char-tokenizer.js';
import { Rng } from '../../src/util/rng.js';

/** The repository root. */
export const root = join(import.meta.dirname, '..', '..');
export const ref = new ReferenceOps('f64');
export const CHARS = 'abcdefghijklmnopqrstuvwxyz .,\n'.split('');
export const tokenizer = new CharTokenizer(CHARS);
export const V = CHARS.length;

/** A registered model with the given options, vocabulary V, and N(0, std²) weights. */
export function tinyModel(kind: string, options: Record<string, unknown>, seed = 1, std = 0.3): SequenceModel {
  const spec = getModel(kind);
  const model = spec.create(ref, modelConfig(spec, options, V), new Rng(seed));
  randomizeParams(model, new Rng(seed + 100), std);
  return model;
}

/** B sequences of T random token ids, batch-major. */
export function randomIds(B: number, T: number, seed = 7): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: B }, () => Array.from({ length: T }, () => Math.floor(rng.next() * V)));
}

/**
 * Our logits [B,T,V] (batch-major, flat) for a window, through the recurrent model's own layers,
 * starting from and updating `state` (time-major inside, as the model runs it).
 */
export function recurrentLogits(model: RecurrentLM, ids: number[][], state: RecurrentState): Float64Array {
  const B = ids.length, T = ids[0].length, n = B * T, E = model.embedding.dim, Vm = model.vocab;
  const tm = ref.intsFrom(Array.from({ length: n }, (_, r) => ids[r % B][Math.floor(r / B)])); // row t·B + b
  const x = ref.tensor(n * E), logits = ref.tensor(n * Vm);
  model.embedding.forward(tm, x, n);
  const y = model.stack.forward(x, T, B, state);
  model.head.forward(y, logits, n);
  const out = new Float64Array(n * Vm);
  for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) {
    out.set(logits.data.subarray((t * B + b) * Vm, (t * B + b + 1) * Vm), (b * T + t) * Vm);
  }
  return out;
}

let ready = false;
/** onnxruntime-web in Node: one thread, the .wasm files from node_modules (offline). */
export function onnxRuntime(): typeof ort {
  if (!ready) {
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.wasmPaths = join(import.meta.dirname, '..', '..', 'node_modules', 'onnxruntime-web', 'dist') + '/';
    ready = true;
  }
  return ort;
}

export const int64 = (rows: number[][]) =>
  new ort.Tensor('int64', BigInt64Array.from(rows.flat().map((v) => BigInt(v))), [rows.length, rows[0].length]);

/** max |a − b| over two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} and ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Row-wise log-softmax of [rows, V] logits. */
export function logSoftmaxRows(x: ArrayLike<number>, Vm: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / Vm; r++) {
    let max = -Infinity;
    for (let j = 0; j < Vm; j++) max = Math.max(max, x[r * Vm + j]);
    let s = 0;
    for (let j = 0; j < Vm; j++) s += Math.exp(x[r * Vm + j] - max);
    const lse = max + Math.log(s);
    for (let j = 0; j < Vm; j++) out[r * Vm + j] = x[r * Vm + j] - lse;
  }
  return out;
}
