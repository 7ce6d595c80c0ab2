// An optional backend capability: replaying a model's one-token decode step as one CUDA graph
// (src/backends/cuda/ops.ts, HANDGRAD_CUDA_GRAPHS=1). Not part of Ops: only the CUDA backend has it,
// and a model uses it only through decodeGraphOps(ops), falling back to its ordinary ops when null.
//
// Why: decoding one token is ~150 small launches (8 layers of norm, QKV, attention, MoE routing,
// grouped GEMMs, …), each a few µs of launch latency for a few µs of work; a graph replays them
// with one launch. What it asks of the step: the SAME launches with the SAME arguments on every
// call. The only per-token values, the token id and its position, must therefore live in device
// memory (written through `.data` before the call; the backend uploads them before each replay):
// the KV-cache append (copyAt) and the attention over the cache (attentionAt) read the position
// there, and the position embedding takes it as its id.
import type { AttentionShape, IntTensor, Tensor } from './types.js';

export interface DecodeGraphOps {
  /** dst[pos[0]·stride + i] = src[i] for i < n (the KV-cache append at a device-held position). */
  copyAt(src: Tensor, dst: Tensor, n: number, pos: IntTensor, stride: number): void;
  /**
   * ops.attention with qOffset = pos[0] and Tk = pos[0] + s.Tq read on the device; s.Tk is the
   * most keys k and v hold (the cache's rows), s.qOffset is ignored. B = 1 and Tq ≤ 4 only.
   */
  attentionAt(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, s: AttentionShape, pos: IntTensor): void;
  /**
   * Runs `body`, a sequence of ops that must launch the same kernels with the same arguments on
   * every call with this key: the first call runs it as usual, the second captures it as a graph,
   * later calls replay the graph (recapturing when the backend's buffers changed) and return what
   * the capturing call returned. Falls back to running `body` when the capture is impossible.
   */
  graphStep<T>(key: object, body: () => T): T;
}

/** ops as DecodeGraphOps when it offers decode graphs and they are switched on; else null. */
export function decodeGraphOps(ops: object): DecodeGraphOps | null {
  const g = ops as Partial<DecodeGraphOps> & { decodeGraphs?: boolean };
  return g.decodeGraphs === true && typeof g.graphStep === 'function' && typeof g.copyAt === 'function' &&
    typeof g.attentionAt === 'function' ? (g as DecodeGraphOps) : null;
}
