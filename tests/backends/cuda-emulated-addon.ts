// A stand-in for the CUDA addon (native/addon.cc) in plain JS, for testing CudaOps on machines
// without a GPU: "device memory" is one ArrayBuffer addressed by fake 47-bit pointers, "kernels"
// are the f32 reference backend run on views of it, and the argument order of every function is
// transcribed from addon.cc (not from ops.ts), so a mismatch between the two shows up as a wrong
// result. What this tests: CudaOps' host-mirror protocol (uploads before ops, downloads on .data),
// view pointer arithmetic, mark/release, and the argument order across the N-API boundary.
// What it cannot test: the CUDA kernels themselves (scripts/gpu-check.ts does, on a GPU).
import { ReferenceOps } from '../../src/backends/reference/index.js';
import type { AttentionShape, IntTensor, Tensor } from '../../src/ops/types.js';
import { attentionDropThreshold } from '../../src/ops/types.js';
import type { CudaAddon } from '../../src/backends/cuda/ops.js';

const BASE = 0x7f00_0000_0000; // above 2^32, like a real device address, to exercise number precision
const ALIGN = 256;

export interface EmulatedAddon extends CudaAddon {
  /** Live allocations (for leak checks). */
  records(): number;
  /** How many bytes were uploaded and downloaded (to check the mirror protocol does not copy needlessly). */
  traffic: { up: number; down: number };
  /** CUDA graphs instantiated and not destroyed. */
  liveGraphs(): number;
}

export function emulatedAddon(heapBytes = 256 << 20): EmulatedAddon {
  const heap = new ArrayBuffer(heapBytes);
  const f32 = new Float32Array(heap), i32 = new Int32Array(heap), u8 = new Uint8Array(heap), u16 = new Uint16Array(heap);
  const ref = new ReferenceOps('f32');
  const recs: { off: number; bytes: number }[] = [];
  let inUse = 0, peak = 0;
  const traffic = { up: 0, down: 0 };

  const off = (ptr: number): number => {
    const o = ptr - BASE;
    if (!Number.isInteger(o) || o < 0 || o >= heapBytes || o % 4 !== 0) throw new Error(`emulated addon: bad pointer ${ptr}`);
    return o;
  };
  /** Elements from ptr to the end of the allocation holding it (for operands whose size the launch does not say). */
  const rest = (ptr: number): number => {
    const o = off(ptr);
    for (const r of recs) if (o >= r.off && o < r.off + r.bytes) return (r.off + r.bytes - o) / 4;
    throw new Error(`emulated addon: pointer ${ptr} is not in a live allocation`);
  };
  const T = (ptr: number, n: number): Tensor => {
    if (n > rest(ptr)) throw new Error(`emulated addon: ${n} elements at ${ptr} run past the allocation`);
    const data = f32.subarray(off(ptr) / 4, off(ptr) / 4 + n);
    return { size: n, data, view: () => { throw new Error('no views here'); } };
  };
  const I = (ptr: number, n: number): IntTensor => {
    if (n > rest(ptr)) throw new Error(`emulated addon: ${n} ints at ${ptr} run past the allocation`);
    const data = i32.subarray(off(ptr) / 4, off(ptr) / 4 + n);
    return { size: n, data, view: () => { throw new Error('no views here'); } };
  };
  // bf16 copies (optional trailing pointers of adam, embedding, gemm, groupedGemm; 0 = none): 2-byte
  // elements. Unlike the real kernels (which round every operand to bf16, so a copy changes
  // nothing), the reference GEMM here is fp32, so a product that reads a copy comes out visibly
  // rounded: what lets a test tell whether CudaOps passed one.
  const bf16Bits = (x: number): number => {
    const u = new Uint32Array(new Float32Array([x]).buffer)[0];
    return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
  };
  const H16 = (ptr: number, n: number): Uint16Array => {
    const o = ptr - BASE;
    if (!Number.isInteger(o) || o < 0 || o % 2 !== 0 || o + 2 * n > heapBytes) throw new Error(`emulated addon: bad bf16 pointer ${ptr}`);
    return u16.subarray(o / 2, o / 2 + n);
  };
  const writeCopy = (ptr: number, values: ArrayLike<number>): void => {
    const h = H16(ptr, values.length);
    for (let i = 0; i < values.length; i++) h[i] = bf16Bits(values[i]);
  };
  /** The operand a GEMM reads: the copy's values when given, else the fp32 tensor. */
  const operand = (ptr: number, copy: number | undefined, n: number): Tensor => {
    if (!copy) return T(ptr, n);
    const h = H16(copy, n), data = new Float32Array(n), w = new Uint32Array(data.buffer);
    for (let i = 0; i < n; i++) w[i] = h[i] << 16;
    return { size: n, data, view: () => { throw new Error('no views here'); } };
  };
  const span = (rows: number, stride: number, width: number) => (rows === 0 ? 0 : (rows - 1) * stride + width);
  const shape = (a: number[], causal: boolean): AttentionShape => ({
    B: a[0], H: a[1], D: a[2], Tq: a[3], Tk: a[4], qOffset: a[5], qStride: a[6], kvStride: a[7], oStride: a[8], causal, scale: a[9],
  });
  /** The addon's dropout numbers back into the shape: p = 1 − 1/dropScale, checked against the threshold. */
  const dropped = (s: AttentionShape, thr?: number, keepScale?: number, seed?: number): AttentionShape => {
    if (thr === undefined || thr === 0) return s;
    const p = 1 - 1 / keepScale!;
    if (attentionDropThreshold(p) !== thr) throw new Error(`emulated addon: dropout threshold ${thr} does not match 1/(1 − p) = ${keepScale}`);
    return { ...s, dropout: p, dropoutSeed: seed };
  };
  const ACT = ['identity', 'relu', 'sigmoid', 'tanh', 'gelu', 'silu'] as const;
  const MODES = ['nn', 'nt', 'tn'] as const;
  const f = Math.fround;

  const addon = {
    traffic,
    records: () => recs.length,
    info: () => ({ cuda: true, built: true, devices: 1, names: ['Emulated (sm_00, 256 MiB)'], shortName: 'Emulated' }),
    alloc(bytes: number): number {
      const rounded = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
      const last = recs[recs.length - 1];
      const o = last ? last.off + last.bytes : 0;
      if (o + rounded > heapBytes) throw new Error('CUDA out of memory: emulated heap is full');
      u8.fill(0, o, o + rounded);
      recs.push({ off: o, bytes: rounded });
      inUse += rounded;
      peak = Math.max(peak, inUse);
      return BASE + o;
    },
    mark: () => recs.length,
    release(m: number): void {
      if (m > recs.length) throw new RangeError(`release(${m}): no such mark`);
      while (recs.length > m) inUse -= recs.pop()!.bytes;
    },
    freeAll(): void { recs.length = 0; inUse = 0; },
    memory: () => ({ bytesInUse: inUse, peakBytes: peak, reservedBytes: heapBytes, totalDevice: heapBytes, freeDevice: heapBytes - inUse }),
    resetPeak(): void { peak = inUse; },
    synchronize(): void {},
    setDebug(): void {},
    upload(ptr: number, a: Float32Array | Int32Array): void {
      u8.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), off(ptr));
      traffic.up += a.byteLength;
    },
    download(ptr: number, a: Float32Array | Int32Array): void {
      new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(u8.subarray(off(ptr), off(ptr) + a.byteLength));
      traffic.down += a.byteLength;
    },

    // ---- elementwise.cu (argument order as in addon.cc) ----
    fill: (x: number, n: number, v: number) => ref.fill(T(x, n), f(v)),
    fillInts: (x: number, n: number, v: number) => I(x, n).data.fill(v),
    copy: (src: number, dst: number, n: number) => ref.copy(T(src, n), T(dst, n)),
    // The position is read when the "kernel" runs: at a graph's replay, not at its capture.
    copyAt: (src: number, dst: number, n: number, pos: number, stride: number) =>
      ref.copy(T(src, n), T(dst + 4 * I(pos, 1).data[0] * stride, n)),
    scale: (x: number, n: number, a: number) => ref.scale(T(x, n), f(a)),
    axpy: (a: number, x: number, y: number, n: number) => ref.axpy(f(a), T(x, n), T(y, n)),
    add: (a: number, b: number, o: number, n: number) => ref.add(T(a, n), T(b, n), T(o, n)),
    mul: (a: number, b: number, o: number, n: number, acc: boolean) => ref.mul(T(a, n), T(b, n), T(o, n), acc),
    activation: (k: number, x: number, y: number, n: number) => ref.activation(ACT[k], T(x, n), T(y, n)),
    activationBackward: (k: number, x: number, y: number, dy: number, dx: number, n: number, acc: boolean) =>
      ref.activationBackward(ACT[k], T(x, n), T(y, n), T(dy, n), T(dx, n), acc),
    addBias: (y: number, b: number, R: number, C: number) => ref.addBias(T(y, R * C), T(b, C), R, C),
    sumRows: (x: number, o: number, R: number, C: number) => ref.sumRows(T(x, R * C), T(o, C), R, C),
    sumCols: (x: number, o: number, R: number, C: number) => ref.sumCols(T(x, R * C), T(o, R), R, C),
    softmax: (x: number, y: number, R: number, C: number) => ref.softmax(T(x, R * C), T(y, R * C), R, C),
    logSoftmax: (x: number, y: number, R: number, C: number) => ref.logSoftmax(T(x, R * C), T(y, R * C), R, C),
    softmaxBackward: (y: number, dy: number, dx: number, R: number, C: number) =>
      ref.softmaxBackward(T(y, R * C), T(dy, R * C), T(dx, R * C), R, C),
    logSoftmaxBackward: (y: number, dy: number, dx: number, R: number, C: number) =>
      ref.logSoftmaxBackward(T(y, R * C), T(dy, R * C), T(dx, R * C), R, C),
    softmaxCrossEntropy: (x: number, t: number, R: number, C: number, d: number, gs: number) =>
      ref.softmaxCrossEntropy(T(x, R * C), I(t, R), R, C, d ? T(d, R * C) : null, f(gs)),
    layerNorm: (x: number, g: number, b: number, y: number, mu: number, rs: number, R: number, C: number, eps: number) =>
      ref.layerNorm(T(x, R * C), T(g, C), T(b, C), T(y, R * C), T(mu, R), T(rs, R), R, C, f(eps)),
    layerNormBackward: (x: number, g: number, mu: number, rs: number, dy: number, dx: number, dg: number, db: number, R: number, C: number) =>
      ref.layerNormBackward(T(x, R * C), T(g, C), T(mu, R), T(rs, R), T(dy, R * C), T(dx, R * C), T(dg, C), T(db, C), R, C),
    embedding: (tab: number, ids: number, o: number, n: number, dim: number, vocab: number, oh?: number) => {
      ref.embedding(T(tab, vocab * dim), I(ids, n), T(o, n * dim), n, dim);
      if (oh) writeCopy(oh, T(o, n * dim).data);
    },
    embeddingBackward: (d: number, ids: number, tab: number, n: number, dim: number, vocab: number) =>
      ref.embeddingBackward(T(d, n * dim), I(ids, n), T(tab, vocab * dim), n, dim),
    sumSquares: (x: number, n: number) => ref.sumSquares(T(x, n)),
    sumSquaresList: (list: Float64Array) => { let s = 0; for (let i = 0; i < list.length; i += 2) s += ref.sumSquares(T(list[i], list[i + 1])); return s; },
    adam: (w: number, g: number, m: number, v: number, n: number, lr: number, b1: number, b2: number, eps: number, wd: number,
      decoupled: boolean, step: number, wh?: number) => {
      ref.adam(T(w, n), T(g, n), T(m, n), T(v, n), { lr: f(lr), beta1: f(b1), beta2: f(b2), eps: f(eps), weightDecay: f(wd), decoupled, step });
      if (wh) writeCopy(wh, T(w, n).data);
    },

    // ---- gemm.cu ----
    gemm: (ta: boolean, tb: boolean, m: number, n: number, k: number, alpha: number, A: number, B: number, beta: number, C: number,
      Ah?: number, Bh?: number) =>
      ref.gemm(ta, tb, m, n, k, f(alpha), operand(A, Ah, m * k), operand(B, Bh, k * n), f(beta), T(C, m * n)),
    groupedGemm: (mode: number, G: number, offs: number, maxRows: number, n: number, k: number, A: number, B: number, beta: number, C: number,
      Ah?: number, Bh?: number) => {
      const tn = mode === 2;
      ref.groupedGemm(MODES[mode], G, I(offs, G + 1), n, k, operand(A, Ah, maxRows * k), operand(B, Bh, tn ? maxRows * n : G * k * n),
        beta as 0 | 1, T(C, tn ? G * k * n : maxRows * n));
    },

    // ---- attention.cu: shape = B, H, D, Tq, Tk, qOffset, qStride, kvStride, oStride, causal, scale ----
    // With dropout on P, three more: threshold, 1/(1 − p), seed (the reference takes p back from the threshold).
    attention: (q: number, k: number, v: number, o: number, lse: number, B: number, H: number, D: number, Tq: number, Tk: number,
      qOffset: number, qStride: number, kvStride: number, oStride: number, causal: boolean, scale: number,
      dropThr?: number, dropScale?: number, seed?: number) => {
      const s = dropped(shape([B, H, D, Tq, Tk, qOffset, qStride, kvStride, oStride, f(scale)], causal), dropThr, dropScale, seed), W = H * D;
      ref.attention(T(q, span(B * Tq, qStride, W)), T(k, span(B * Tk, kvStride, W)), T(v, span(B * Tk, kvStride, W)),
        T(o, span(B * Tq, oStride, W)), T(lse, B * H * Tq), s);
    },
    attentionAt: (q: number, k: number, v: number, o: number, lse: number, pos: number, B: number, H: number, D: number, Tq: number,
      Tk: number, _qOffset: number, qStride: number, kvStride: number, oStride: number, causal: boolean, scale: number) => {
      const p = I(pos, 1).data[0], W = H * D, tk = Math.min(Tk, p + Tq);
      const s = shape([B, H, D, Tq, tk, p, qStride, kvStride, oStride, f(scale)], causal);
      ref.attention(T(q, span(B * Tq, qStride, W)), T(k, span(B * tk, kvStride, W)), T(v, span(B * tk, kvStride, W)),
        T(o, span(B * Tq, oStride, W)), T(lse, B * H * Tq), s);
    },
    attentionBackward: (q: number, k: number, v: number, o: number, lse: number, dout: number, dq: number, dk: number, dv: number,
      B: number, H: number, D: number, Tq: number, Tk: number, qOffset: number, qStride: number, kvStride: number, oStride: number,
      causal: boolean, scale: number, dropThr?: number, dropScale?: number, seed?: number) => {
      const s = dropped(shape([B, H, D, Tq, Tk, qOffset, qStride, kvStride, oStride, f(scale)], causal), dropThr, dropScale, seed), W = H * D;
      const qs = span(B * Tq, qStride, W), ks = span(B * Tk, kvStride, W), os = span(B * Tq, oStride, W);
      ref.attentionBackward(T(q, qs), T(k, ks), T(v, ks), T(o, os), T(lse, B * H * Tq), T(dout, os), T(dq, qs), T(dk, ks), T(dv, ks), s);
    },

    // ---- moe.cu ----
    swiglu: (gu: number, o: number, R: number, F: number) => ref.swiglu(T(gu, R * 2 * F), T(o, R * F), R, F),
    swigluBackward: (gu: number, d: number, dgu: number, R: number, F: number) =>
      ref.swigluBackward(T(gu, R * 2 * F), T(d, R * F), T(dgu, R * 2 * F), R, F),
    moeRoute: (lg: number, pr: number, lse: number, idx: number, gate: number, n: number, E: number, k: number, renorm: boolean) =>
      ref.moeRoute(T(lg, n * E), T(pr, n * E), T(lse, n), I(idx, n * k), T(gate, n * k), n, E, k, renorm),
    moePlan: (idx: number, n: number, E: number, k: number, cap: number, slot: number, rt: number, offs: number, routed: number) =>
      ref.moePlan(I(idx, n * k), n, E, k, cap, I(slot, n * k), I(rt, n * k), I(offs, E + 1), I(routed, E)),
    moeCombine: (yd: number, slot: number, gate: number, y: number, n: number, k: number, C: number) =>
      ref.moeCombine(T(yd, Math.floor(rest(yd) / Math.max(C, 1)) * C), I(slot, n * k), T(gate, n * k), T(y, n * C), n, k, C),
    moeCombineBackward: (yd: number, slot: number, gate: number, dy: number, dyd: number, dgate: number, n: number, k: number, C: number) =>
      ref.moeCombineBackward(T(yd, n * k * C), I(slot, n * k), T(gate, n * k), T(dy, n * C), T(dyd, n * k * C), T(dgate, n * k), n, k, C),
    moeRouteBackward: (pr: number, lse: number, idx: number, gate: number, dgate: number, bal: number, zGrad: number, dl: number,
      n: number, E: number, k: number, renorm: boolean) =>
      ref.moeRouteBackward(T(pr, n * E), T(lse, n), I(idx, n * k), T(gate, n * k), T(dgate, n * k), bal ? T(bal, E) : null, f(zGrad),
        T(dl, n * E), n, E, k, renorm),
    moeAuxLoss: (pr: number, lse: number, offs: number, routed: number, n: number, E: number, k: number, bal: number, z: number,
      bg: number, loss: number, counts: number, acc: boolean) =>
      ref.moeAuxLoss(T(pr, n * E), T(lse, n), I(offs, E + 1), I(routed, E), n, E, k, f(bal), f(z), T(bg, E),
        T(loss, acc ? 4 : 2), I(counts, acc ? 4 * E : 2 * E), acc),
  };
  // ---- graph.cu: a capture RECORDS the kernel calls (arguments as given) instead of running them;
  // a launch replays the recording. Memory, copies and queries run at once, as on a GPU. A kernel
  // that returns a value (it synchronises to read it back) cannot be captured: graphEnd refuses.
  const immediate = new Set(['traffic', 'records', 'info', 'alloc', 'mark', 'release', 'freeAll', 'memory', 'resetPeak',
    'synchronize', 'setDebug', 'upload', 'download']);
  const returnsValue = new Set(['softmaxCrossEntropy', 'sumSquares', 'sumSquaresList']);
  let capture: (() => void)[] | null = null;
  let captureError: string | null = null;
  const graphs = new Map<number, (() => void)[]>();
  let nextGraph = 1;
  const fns = addon as unknown as Record<string, unknown>;
  for (const [name, fn] of Object.entries(fns)) {
    if (typeof fn !== 'function' || immediate.has(name)) continue;
    fns[name] = (...args: unknown[]) => {
      if (capture === null) return (fn as (...a: unknown[]) => unknown)(...args);
      if (returnsValue.has(name)) captureError ??= `${name} synchronised during the capture`;
      capture.push(() => { (fn as (...a: unknown[]) => unknown)(...args); });
      return undefined;
    };
  }
  Object.assign(fns, {
    graphBegin(): void {
      if (capture !== null) throw new Error('CUDA graphBegin: graphBegin: a capture is already open');
      capture = [];
      captureError = null;
    },
    graphEnd(): number {
      const c = capture;
      capture = null;
      if (c === null) throw new Error('CUDA graphEnd: graphEnd: no capture is open');
      if (captureError !== null) throw new Error(`CUDA graphEnd: ${captureError}`);
      graphs.set(nextGraph, c);
      return nextGraph++;
    },
    graphLaunch(g: number): void {
      const ops = graphs.get(g);
      if (ops === undefined) throw new Error(`CUDA graphLaunch: no graph ${g}`);
      for (const op of ops) op();
    },
    graphDestroy(g: number): void { graphs.delete(g); },
    /** Graphs alive (for leak checks). */
    liveGraphs: () => graphs.size,
  });
  return addon as unknown as EmulatedAddon;
}
