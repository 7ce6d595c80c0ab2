// One batch item of a batch job (src/backends/wasm/batch-pool.ts): the argument block's layout and
// the code that runs item i, shared by the calling thread and the pool's workers
// (./pool-worker.mjs), so that both run exactly the same code. Plain JavaScript so that a worker
// imports it without a TypeScript loader (types: ./batch-items.d.mts).

/**
 * The batch jobs' argument block, in 32-bit words (F64: index in a Float64Array over the same
 * block, words 42–51). The claim word and the counters live in the worker pool's own control
 * block (./pool-protocol.mjs).
 */
export const CTL = Object.freeze({
  KIND: 0, // the job's kind (JOB)
  // attention: q, k, v, out, lse, dout, dq, dk, dv (byte pointers), H, D, Tq, Tk, causal, qOffset,
  //            qStride, kvStride, oStride (ints), scale (f32 bits)
  // memory:    k, v, q, y, saved, dy, dK, dV, dQ (byte pointers), B, T, dk, dv, rule, opt, period,
  //            ks, vs, ys (row strides in elements), norm, acc (0/1), H, khs, vhs, yhs (memories in
  //            the call, their head strides in elements)
  // swiglu:    a, b, out (forward) or dout (backward), da, db (byte pointers), count, span
  //            (one long row of `count` floats cut into spans of `span`)
  ARGS: 16,
  F64: 21, // memory: eta, beta, beta1, beta2, eps (float64, words 42–51: the kernel takes them so)
  DROP: 52, // attention: dropout threshold (uint32 bits), 1/(1 − p) (f32 bits), seed (uint32 bits)
  WIDE: 55, // attention: 1 for the kernels' 16-wide register tiles, 0 for 8-wide (BatchPool.wideTiles)
  INTS: 64,
});

/** Job kinds. Items are batch items (attention) or sequences (memory). */
export const JOB = Object.freeze({ ATTENTION: 0, ATTENTION_BACKWARD: 1, MEMORY: 2, MEMORY_BACKWARD: 3, SWIGLU: 4, SWIGLU_BACKWARD: 5 });

/**
 * Runs item i of the current job on kernels `x` with this thread's scratch. Attention: the kernel
 * on B = 1 with every pointer moved to item i. Memory: the range kernel on sequence i alone, the
 * scratch as its working area (every other argument is the whole call's: `saved` is laid out by B).
 */
export function runItem(x, ctl, ctlF, ctlD, i, scratch) {
  const a = CTL.ARGS, kind = ctl[CTL.KIND];
  if (kind === JOB.ATTENTION || kind === JOB.ATTENTION_BACKWARD) {
    const H = ctl[a + 10], D = ctl[a + 11], Tq = ctl[a + 12], Tk = ctl[a + 13], causal = ctl[a + 14];
    const qOffset = ctl[a + 15], qs = ctl[a + 16], kvs = ctl[a + 17], os = ctl[a + 18], scale = ctlF[a + 19];
    const qo = i * Tq * qs * 4, ko = i * Tk * kvs * 4, oo = i * Tq * os * 4, lo = i * H * Tq * 4;
    // Dropout: the item's index i is its b0, so its mask is the whole call's.
    const dr = CTL.DROP, thr = ctl[dr], keep = ctlF[dr + 1], seed = ctl[dr + 2], wide = ctl[CTL.WIDE];
    if (kind === JOB.ATTENTION) {
      x.attention(ctl[a] + qo, ctl[a + 1] + ko, ctl[a + 2] + ko, ctl[a + 3] + oo, ctl[a + 4] + lo,
        1, H, D, Tq, Tk, causal, qOffset, qs, kvs, os, scale, thr, keep, seed, i, scratch, wide);
    } else {
      x.attentionBackward(ctl[a] + qo, ctl[a + 1] + ko, ctl[a + 2] + ko, ctl[a + 3] + oo, ctl[a + 4] + lo, ctl[a + 5] + oo,
        ctl[a + 6] + qo, ctl[a + 7] + ko, ctl[a + 8] + ko,
        1, H, D, Tq, Tk, causal, qOffset, qs, kvs, os, scale, thr, keep, seed, i, scratch, wide);
    }
    return;
  }
  if (kind === JOB.SWIGLU || kind === JOB.SWIGLU_BACKWARD) {
    // Span i of the row: every pointer moved by i·span floats; the same kernel code per element.
    const count = ctl[a + 5], span = ctl[a + 6], off = i * span, len = Math.min(span, count - off), o = off * 4;
    if (kind === JOB.SWIGLU) x.swigluSpan(ctl[a] + o, ctl[a + 1] + o, ctl[a + 2] + o, len);
    else x.swigluBackwardSpan(ctl[a] + o, ctl[a + 1] + o, ctl[a + 2] + o, ctl[a + 3] + o, ctl[a + 4] + o, len);
    return;
  }
  const f = CTL.F64;
  if (kind === JOB.MEMORY) {
    x.memoryForwardRange(ctl[a], ctl[a + 1], ctl[a + 2], ctl[a + 3], ctl[a + 4],
      ctl[a + 9], ctl[a + 10], ctl[a + 11], ctl[a + 12], ctl[a + 13], ctl[a + 14], ctl[a + 15],
      ctlD[f], ctlD[f + 1], ctlD[f + 2], ctlD[f + 3], ctlD[f + 4],
      ctl[a + 16], ctl[a + 17], ctl[a + 18], ctl[a + 19], ctl[a + 20], ctl[a + 21], ctl[a + 22], ctl[a + 23], ctl[a + 24],
      i, i + 1, scratch);
  } else if (kind === JOB.MEMORY_BACKWARD) {
    x.memoryBackwardRange(ctl[a], ctl[a + 1], ctl[a + 2], ctl[a + 4], ctl[a + 5], ctl[a + 6], ctl[a + 7], ctl[a + 8],
      ctl[a + 9], ctl[a + 10], ctl[a + 11], ctl[a + 12], ctl[a + 13], ctl[a + 14], ctl[a + 15],
      ctlD[f], ctlD[f + 1], ctlD[f + 2], ctlD[f + 3], ctlD[f + 4],
      ctl[a + 16], ctl[a + 17], ctl[a + 18], ctl[a + 19], ctl[a + 21], ctl[a + 22], ctl[a + 23], ctl[a + 24],
      i, i + 1, scratch);
  } else {
    throw new Error(`handgrad: batch job: unknown kind ${kind}`);
  }
}
