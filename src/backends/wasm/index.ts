// The WASM SIMD backend: AssemblyScript kernels (assembly/) on one shared memory, float32.
// Start-up order matters: V8 flags first, then compile, then the kernel-path self-check.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import type { Activation, AdamParams, AttentionShape, IntTensor, MemoryShape, Ops, PackedGemmB, Tensor } from '../../ops/types.js';
import { ACTIVATIONS, attentionDropThreshold } from '../../ops/types.js';
import { WasmHeap, WasmInts, WasmTensor } from './heap.js';
import type { Kernels } from './kernels.js';
import { availablePaths, setWasmFlags, type KernelPath } from './runtime.js';
import { createGemmEngine, kernelOf, type GemmEngine } from './gemm.js';
import { BatchPool, type AttentionArgs, type MemoryArgs } from './batch-pool.js';
import { RowPool } from './row-pool.js';
import { WorkerPool } from './worker-pool.js';
import { installArgumentChecks } from '../../ops/checked.js';
import { checkCount } from '../../ops/checks.js';
import {
  memoryKeyHeadStride, memoryKeyStride, memoryOutHeadStride, memoryOutStride, memoryValueHeadStride, memoryValueStride,
} from '../../ops/memory-recurrence.js';
import * as moe from '../reference/moe.js';

import { packageRoot } from '../../util/package-root.js';

export type { KernelPath } from './runtime.js';

const buildDir = join(packageRoot(), 'build', 'wasm');

export interface WasmOptions {
  /**
   * Threads for large products, attention and the memory recurrence (split by batch item) and
   * large row ops (layer norms, bias add and gradient, add, copy), the calling thread included
   * (default: every core).
   */
  threads?: number;
  /** Force a kernel path; 'auto' (default) takes the fastest that passes its self-check. */
  path?: KernelPath | 'auto';
  /** Called with a one-line notice when a path fails its self-check (default: console.warn). */
  onNotice?: (line: string) => void;
  /**
   * revec4x16 only: run its fused multiply-add kernel (relaxed SIMD, revectorized to 256-bit FMA)
   * rather than the plain mul+add one. Default: whenever the relaxed build validates. The FMA
   * kernel was never slower in our measurements, and 15–30% faster where the front end limits
   * mul+add (AMD Zen 3/4).
   */
  fma?: boolean;
  /** Tests only: these paths fail their self-check (a corrupted result), to exercise the fallback. */
  injectSelfCheckFault?: readonly KernelPath[];
}

function wasmBytes(build: 'simd' | 'relaxed'): Uint8Array<ArrayBuffer> {
  const file = join(buildDir, `handgrad.${build}.wasm`);
  if (!existsSync(file)) {
    throw new Error(`WASM kernels not built: ${file} is missing (run \`npm run build\`)`);
  }
  return new Uint8Array(readFileSync(file));
}

/** Which build a path runs on (revec4x16 with fma runs its FMA kernel from the relaxed build). */
function buildOf(path: KernelPath, fma: boolean): 'simd' | 'relaxed' {
  return path === 'relaxed4x8' || (path === 'revec4x16' && fma) ? 'relaxed' : 'simd';
}

export async function createWasmOps(opts: WasmOptions = {}): Promise<WasmOps> {
  setWasmFlags(); // before anything is compiled
  const threads = Math.max(1, Math.floor(opts.threads ?? availableParallelism()));
  const notice = opts.onNotice ?? ((line: string) => console.warn(line));
  const relaxedValid = WebAssembly.validate(wasmBytes('relaxed'));
  const candidates = availablePaths(relaxedValid);
  let order: KernelPath[];
  if (opts.path && opts.path !== 'auto') {
    if (!candidates.includes(opts.path)) {
      throw new RangeError(`kernel path ${opts.path} is not available here (available: ${candidates.join(', ')})`);
    }
    order = [opts.path];
  } else {
    order = candidates;
  }
  const fma = opts.fma ?? relaxedValid;
  if (fma && !relaxedValid) throw new RangeError('fma: relaxed SIMD is not available here');
  let lastError = '';
  for (const path of order) {
    const ops = await instantiate(path, threads, fma);
    const err = ops.selfCheck(opts.injectSelfCheckFault?.includes(path) ?? false);
    if (err === null) return ops;
    ops.dispose();
    lastError = `${path}: ${err}`;
    const next = order[order.indexOf(path) + 1];
    notice(`handgrad: kernel path ${path} failed its self-check (${err})${next ? `; falling back to ${next}` : ''}`);
  }
  throw new Error(`no WASM kernel path passed its self-check (${lastError})`);
}

async function instantiate(path: KernelPath, threads: number, fma: boolean): Promise<WasmOps> {
  const module = await WebAssembly.compile(wasmBytes(buildOf(path, fma)));
  // The module's static data ends at heapBase; a first instance on a throwaway memory tells us where.
  const probe = new WebAssembly.Memory({ initial: 64, maximum: 65536, shared: true });
  const base = (new WebAssembly.Instance(module, { env: { memory: probe, abort } }).exports as unknown as Kernels).heapBase();
  const heap = new WasmHeap(base);
  const instance = new WebAssembly.Instance(module, { env: { memory: heap.memory, abort } });
  // (the memory recurrence's sequence-range entries are declared by ./batch-items.d.mts)
  const k = instance.exports as unknown as Kernels;
  // One pool of threads for the GEMM engine and the batch kernels, with every thread's scratch:
  // allocated once, first, so no mark/release of a caller can ever hand it out again.
  const workers = await WorkerPool.create({
    module, kernels: k, heap, threads, gemmFn: kernelOf(path, fma).fn, gemmPackedFn: kernelOf(path, fma).packedFn,
    gemmScratchBytes: (k.gemmScratchBytes as () => number)(), batchScratchBytes: BatchPool.scratchBytes(k, threads),
  });
  let gemm: GemmEngine, pool: BatchPool, rows: RowPool;
  try {
    gemm = createGemmEngine({ kernels: k, heap, path, fma, pool: workers });
    pool = new BatchPool(k, workers);
    pool.wideTiles = path === 'revec4x16'; // 16-wide attention tiles where they become 256-bit code
    rows = new RowPool(k, workers);
  } catch (e) {
    workers.dispose();
    throw e;
  }
  return new WasmOps(path, k, heap, gemm, pool, rows, workers);
}

function abort(): never {
  throw new Error('handgrad: a WASM kernel aborted');
}

function ptr(t: Tensor): number {
  if (!(t instanceof WasmTensor)) throw new TypeError('wasm backend: got a tensor from another backend');
  return t.ptr;
}
function iptr(t: IntTensor): number {
  if (!(t instanceof WasmInts)) throw new TypeError('wasm backend: got an int tensor from another backend');
  return t.ptr;
}

/**
 * The WASM backend's packed gemm operand: op(B) in the micro-kernel's panels (assembly/gemm_core.ts,
 * "a B operand packed once") for the engine's kernel width nr, packed at the first product of 4
 * rows or more after packGemmB. Products of fewer rows (a batch-1 recurrent step) read B itself,
 * as gemm does (gemmRowsDirect, gemmRowsDot: faster than padded 4-row tiles), so for them packing
 * would be pure cost: a batch-1 LSTM never packs.
 */
class WasmPackedGemmB implements PackedGemmB {
  /** The B of the last packGemmB (byte pointer), its transpose, whether the panels hold it yet. */
  ready = false;
  b = 0;
  tb = 0;
  packed = false;
  constructor(readonly k: number, readonly n: number, readonly nr: number, readonly storage: WasmTensor) {}
}
function wasmPacked(p: PackedGemmB, nr: number): WasmPackedGemmB {
  if (!(p instanceof WasmPackedGemmB)) throw new TypeError('wasm backend: got a packed operand from another backend');
  if (p.nr !== nr) throw new TypeError(`wasm backend: a packed operand for kernels ${p.nr} wide, this backend's are ${nr}`);
  return p;
}
/** Products with fewer rows read B in place (assembly/gemm_core.ts FEW_ROWS): no packed B for them. */
const FEW_ROWS = 4;

export class WasmOps implements Ops {
  readonly name: string;
  readonly dtype = 'f32' as const;

  // The arguments of one attention call, reused (no allocation per call).
  private readonly attnArgs: AttentionArgs = { q: 0, k: 0, v: 0, out: 0, lse: 0, dout: 0, dq: 0, dk: 0, dv: 0,
    B: 0, H: 0, D: 0, Tq: 0, Tk: 0, causal: 0, qOffset: 0, qStride: 0, kvStride: 0, oStride: 0, scale: 0,
    dropThr: 0, dropScale: 1, seed: 0 };
  // The same for the memory recurrence.
  private readonly memArgs: MemoryArgs = { k: 0, v: 0, q: 0, y: 0, saved: 0, dy: 0, dK: 0, dV: 0, dQ: 0,
    B: 0, T: 0, dk: 0, dv: 0, rule: 0, opt: 0, period: 0, eta: 0, beta: 0, beta1: 0, beta2: 0, eps: 0,
    ks: 0, vs: 0, ys: 0, norm: 0, acc: 0, H: 1, khs: 0, vhs: 0, yhs: 0 };

  constructor(readonly path: KernelPath, readonly k: Kernels, readonly heap: WasmHeap, readonly gemmEngine: GemmEngine,
    readonly pool: BatchPool, // the attention, memory and swiglu jobs (public: tests tune and watch it)
    readonly rowPool: RowPool, // layerNorm, sumRows, addBias, add, copy split across threads (the same)
    readonly workers: WorkerPool) { // the threads they all run on
    this.name = `wasm-${path}`;
  }

  get threads(): number { return this.gemmEngine.threads; }

  /**
   * Runs ragged GEMMs in each transpose against a scalar product in double precision: one small
   * product (one thread) and one above the threading threshold (so the worker split is checked
   * too when threads > 1). Returns null when they agree, else what went wrong.
   * `fault` (tests only) corrupts one result element first, to prove the check can fail.
   */
  selfCheck(fault = false): string | null {
    const mark = this.mark();
    try {
      let seed = 12345;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
      for (const [m, n, kk] of [[37, 41, 53], [67, 97, 83]]) {
        const A = this.tensorFrom(Array.from({ length: m * kk }, rnd));
        const B = this.tensorFrom(Array.from({ length: kk * n }, rnd));
        const C = this.tensor(m * n);
        for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
          this.fill(C, Number.NaN); // beta = 0 must overwrite NaN
          this.gemm(ta, tb, m, n, kk, 1, A, B, 0, C);
          if (fault) C.data[(m * n) >> 1] += 1;
          const a = A.data, b = B.data, c = C.data;
          let maxErr = 0, maxRef = 0;
          for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
            let s = 0;
            for (let p = 0; p < kk; p++) s += (ta ? a[p * m + i] : a[i * kk + p]) * (tb ? b[j * kk + p] : b[p * n + j]);
            // `!(≤)` so that a NaN left in C counts as an error
            const err = Math.abs(s - c[i * n + j]);
            if (!(err <= maxErr)) maxErr = err;
            maxRef = Math.max(maxRef, Math.abs(s));
          }
          const rel = maxErr / maxRef;
          if (!(rel < 1e-5)) return `${m}×${kk}·${kk}×${n} gemm${ta ? 'T' : 'N'}${tb ? 'T' : 'N'} relative error ${rel.toExponential(2)}`;
        }
      }
      return null;
    } catch (e) {
      return (e as Error).message;
    } finally {
      this.release(mark);
    }
  }

  // ---- storage
  tensor(size: number): WasmTensor {
    const t = new WasmTensor(this.heap, this.heap.alloc(size * 4), size);
    this.k.fill(t.ptr, size, 0); // memory may be reused after release(): zero it
    return t;
  }
  tensorFrom(values: ArrayLike<number>): WasmTensor {
    const t = new WasmTensor(this.heap, this.heap.alloc(values.length * 4), values.length);
    t.data.set(values);
    return t;
  }
  ints(size: number): WasmInts {
    const t = new WasmInts(this.heap, this.heap.alloc(size * 4), size);
    t.data.fill(0);
    return t;
  }
  intsFrom(values: ArrayLike<number>): WasmInts {
    const t = new WasmInts(this.heap, this.heap.alloc(values.length * 4), values.length);
    t.data.set(values);
    return t;
  }
  mark(): number { return this.heap.mark(); }
  release(mark: number): void { this.heap.release(mark); }
  dispose(): void { this.gemmEngine.dispose(); this.pool.dispose(); this.rowPool.dispose(); this.workers.dispose(); }
  packedGemmB(k: number, n: number): PackedGemmB {
    checkCount('packedGemmB', 'k', k); checkCount('packedGemmB', 'n', n);
    const nr = this.gemmEngine.nr;
    return new WasmPackedGemmB(k, n, nr, this.tensor(this.k.gemmPackedBFloats(k, n, nr)));
  }

  // ---- products
  gemm(transA: boolean, transB: boolean, m: number, n: number, k: number,
    alpha: number, A: Tensor, B: Tensor, beta: number, C: Tensor): void {
    this.gemmEngine.gemm(transA, transB, m, n, k, alpha, ptr(A), ptr(B), beta, ptr(C));
  }
  packGemmB(transB: boolean, k: number, n: number, B: Tensor, packed: PackedGemmB): void {
    const p = wasmPacked(packed, this.gemmEngine.nr);
    p.b = ptr(B);
    p.tb = transB ? 1 : 0;
    p.packed = false;
    p.ready = true;
  }
  gemmPackedB(transA: boolean, m: number, n: number, k: number,
    alpha: number, A: Tensor, packed: PackedGemmB, beta: number, C: Tensor): void {
    const e = this.gemmEngine, p = wasmPacked(packed, e.nr);
    if (m < FEW_ROWS) { e.gemm(transA, p.tb === 1, m, n, k, alpha, ptr(A), p.b, beta, ptr(C)); return; }
    // Once per packGemmB, not per product: one thread (1 MiB, the LSTM's Wh, packs in tens of µs).
    if (!p.packed) { this.k.gemmPackB(p.tb, p.b, n, k, p.storage.ptr, e.nr); p.packed = true; }
    e.gemmPackedB(transA, m, n, k, alpha, ptr(A), p.storage.ptr, beta, ptr(C));
  }

  // ---- elementwise
  fill(x: Tensor, value: number): void { this.k.fill(ptr(x), x.size, value); }
  // copy, add, addBias, sumRows and the layer norms of large tensors are split across the pool's
  // threads by ./row-pool.ts (bit-identical to one thread).
  copy(src: Tensor, dst: Tensor): void {
    this.rowPool.copy(ptr(src), ptr(dst), src.size);
  }
  scale(x: Tensor, alpha: number): void { this.k.scale(ptr(x), x.size, alpha); }
  axpy(alpha: number, x: Tensor, y: Tensor): void {
    this.k.axpy(alpha, ptr(x), ptr(y), x.size);
  }
  add(a: Tensor, b: Tensor, out: Tensor): void {
    this.rowPool.add(ptr(a), ptr(b), ptr(out), a.size);
  }
  mul(a: Tensor, b: Tensor, out: Tensor, accumulate = false): void {
    this.k.mul(ptr(a), ptr(b), ptr(out), a.size, accumulate ? 1 : 0);
  }
  activation(kind: Activation, x: Tensor, y: Tensor): void {
    this.k.activation(activationIndex(kind), ptr(x), ptr(y), x.size);
  }
  activationBackward(kind: Activation, x: Tensor, y: Tensor, dy: Tensor, dx: Tensor, accumulate = false): void {
    this.k.activationBackward(activationIndex(kind), ptr(x), ptr(y), ptr(dy), ptr(dx), dy.size, accumulate ? 1 : 0);
  }

  // ---- rows
  addBias(y: Tensor, bias: Tensor, rows: number, cols: number): void {
    this.rowPool.addBias(ptr(y), ptr(bias), rows, cols);
  }
  sumRows(x: Tensor, out: Tensor, rows: number, cols: number): void {
    this.rowPool.sumRows(ptr(x), ptr(out), rows, cols);
  }
  sumCols(x: Tensor, out: Tensor, rows: number, cols: number): void {
    this.k.sumCols(ptr(x), ptr(out), rows, cols);
  }
  softmax(x: Tensor, y: Tensor, rows: number, cols: number): void {
    this.k.softmax(ptr(x), ptr(y), rows, cols);
  }
  logSoftmax(x: Tensor, y: Tensor, rows: number, cols: number): void {
    this.k.logSoftmax(ptr(x), ptr(y), rows, cols);
  }
  softmaxBackward(y: Tensor, dy: Tensor, dx: Tensor, rows: number, cols: number): void {
    this.k.softmaxBackward(ptr(y), ptr(dy), ptr(dx), rows, cols);
  }
  logSoftmaxBackward(y: Tensor, dy: Tensor, dx: Tensor, rows: number, cols: number): void {
    this.k.logSoftmaxBackward(ptr(y), ptr(dy), ptr(dx), rows, cols);
  }
  softmaxCrossEntropy(logits: Tensor, targets: IntTensor, rows: number, cols: number,
    dlogits: Tensor | null, gradScale: number): number {
    return this.k.softmaxCrossEntropy(ptr(logits), iptr(targets), rows, cols, dlogits ? ptr(dlogits) : 0, gradScale);
  }
  layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, y: Tensor, mean: Tensor, rstd: Tensor,
    rows: number, cols: number, eps: number): void {
    this.rowPool.layerNorm(ptr(x), ptr(gamma), ptr(beta), ptr(y), ptr(mean), ptr(rstd), rows, cols, eps);
  }
  layerNormBackward(x: Tensor, gamma: Tensor, mean: Tensor, rstd: Tensor, dy: Tensor,
    dx: Tensor, dgamma: Tensor, dbeta: Tensor, rows: number, cols: number): void {
    this.rowPool.layerNormBackward(ptr(x), ptr(gamma), ptr(mean), ptr(rstd), ptr(dy), ptr(dx), ptr(dgamma), ptr(dbeta), rows, cols);
  }

  // ---- embeddings
  embedding(table: Tensor, ids: IntTensor, out: Tensor, n: number, dim: number): void {
    this.k.embedding(ptr(table), iptr(ids), ptr(out), n, dim);
  }
  embeddingBackward(dout: Tensor, ids: IntTensor, dtable: Tensor, n: number, dim: number): void {
    this.k.embeddingBackward(ptr(dout), iptr(ids), ptr(dtable), n, dim);
  }

  // ---- optimisation
  sumSquares(x: Tensor): number { return this.k.sumSquares(ptr(x), x.size); }
  sumSquaresMany(xs: readonly Tensor[]): number {
    let s = 0;
    for (const x of xs) s += this.sumSquares(x);
    return s;
  }
  adam(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, p: AdamParams): void {
    const c1 = 1 - Math.pow(p.beta1, p.step), c2 = 1 - Math.pow(p.beta2, p.step);
    this.k.adam(ptr(param), ptr(grad), ptr(m), ptr(v), param.size, p.lr, p.beta1, p.beta2, p.eps,
      p.weightDecay, p.decoupled ? 1 : 0, c1, c2);
  }

  // ==== recurrent cells (assembly/recurrent.ts; contracts in src/ops/types.ts) ====================
  lstmCell(gates: Tensor, cPrev: Tensor, c: Tensor, tanhC: Tensor, h: Tensor, B: number, H: number): void {
    // Split by batch rows across the pool threads (./gemm.ts): bit-identical to one call.
    this.gemmEngine.lstmCell(ptr(gates), ptr(cPrev), ptr(c), ptr(tanhC), ptr(h), B, H);
  }
  lstmCellBackward(gates: Tensor, cPrev: Tensor, tanhC: Tensor, dh: Tensor, dc: Tensor, dgates: Tensor,
    B: number, H: number): void {
    this.gemmEngine.lstmCellBackward(ptr(gates), ptr(cPrev), ptr(tanhC), ptr(dh), ptr(dc), ptr(dgates), B, H);
  }
  gruCell(xp: Tensor, hp: Tensor, hPrev: Tensor, h: Tensor, B: number, H: number): void {
    // Split by batch rows across the pool threads (./gemm.ts): bit-identical to one call.
    this.gemmEngine.gruCell(ptr(xp), ptr(hp), ptr(hPrev), ptr(h), B, H);
  }
  gruCellBackward(gates: Tensor, hp: Tensor, hPrev: Tensor, dh: Tensor, dxp: Tensor, dhp: Tensor, dhPrev: Tensor,
    B: number, H: number): void {
    this.gemmEngine.gruCellBackward(ptr(gates), ptr(hp), ptr(hPrev), ptr(dh), ptr(dxp), ptr(dhp), ptr(dhPrev), B, H);
  }
  gruPaperGates(xrz: Tensor, hrz: Tensor, hPrev: Tensor, rh: Tensor, B: number, H: number): void {
    this.k.gruPaperGates(ptr(xrz), ptr(hrz), ptr(hPrev), ptr(rh), B, H);
  }
  gruPaperOutput(rz: Tensor, xn: Tensor, hPrev: Tensor, h: Tensor, B: number, H: number): void {
    this.k.gruPaperOutput(ptr(rz), ptr(xn), ptr(hPrev), ptr(h), B, H);
  }
  gruPaperOutputBackward(rz: Tensor, n: Tensor, hPrev: Tensor, dh: Tensor, drz: Tensor, dn: Tensor, dhPrev: Tensor,
    B: number, H: number): void {
    this.k.gruPaperOutputBackward(ptr(rz), ptr(n), ptr(hPrev), ptr(dh), ptr(drz), ptr(dn), ptr(dhPrev), B, H);
  }
  gruPaperGatesBackward(rz: Tensor, hPrev: Tensor, drh: Tensor, drz: Tensor, dhPrev: Tensor, B: number, H: number): void {
    this.k.gruPaperGatesBackward(ptr(rz), ptr(hPrev), ptr(drh), ptr(drz), ptr(dhPrev), B, H);
  }

  // ==== transformer and MoE ops (contracts in src/ops/types.ts; semantics:
  // src/backends/reference/attention.ts and moe.ts). Attention and SwiGLU are fused SIMD kernels
  // (assembly/attention.ts, assembly/moe.ts; attention split over batch items across threads by
  // ./batch-pool.ts); the grouped GEMM runs the packed (threaded) GEMM once
  // per group on pointer offsets; routing and the dispatch plan are O(n·E) loops, run by the
  // reference functions on Float32Array views of the heap.

  attention(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, s: AttentionShape): void {
    const a = this.attnShape(s);
    a.q = ptr(q); a.k = ptr(k); a.v = ptr(v); a.out = ptr(out); a.lse = ptr(lse);
    this.pool.attention('forward', a);
  }
  attentionBackward(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, dout: Tensor,
    dq: Tensor, dk: Tensor, dv: Tensor, s: AttentionShape): void {
    const a = this.attnShape(s);
    a.q = ptr(q); a.k = ptr(k); a.v = ptr(v); a.out = ptr(out); a.lse = ptr(lse);
    a.dout = ptr(dout); a.dq = ptr(dq); a.dk = ptr(dk); a.dv = ptr(dv);
    this.pool.attention('backward', a);
  }
  private attnShape(s: AttentionShape): AttentionArgs {
    const a = this.attnArgs;
    a.B = s.B; a.H = s.H; a.D = s.D; a.Tq = s.Tq; a.Tk = s.Tk; a.causal = s.causal ? 1 : 0; a.qOffset = s.qOffset;
    a.qStride = s.qStride; a.kvStride = s.kvStride; a.oStride = s.oStride; a.scale = s.scale;
    const p = s.dropout ?? 0;
    a.dropThr = p > 0 ? attentionDropThreshold(p) : 0;
    a.dropScale = p > 0 ? 1 / (1 - p) : 1;
    a.seed = p > 0 ? (s.dropoutSeed ?? 0) : 0;
    return a;
  }

  // One long row (the feed-forward gate) is split across threads by ./batch-pool.ts.
  swiglu(gu: Tensor, out: Tensor, rows: number, F: number): void {
    this.pool.swiglu('forward', ptr(gu), 0, ptr(out), rows, F);
  }
  swigluBackward(gu: Tensor, dout: Tensor, dgu: Tensor, rows: number, F: number): void {
    this.pool.swiglu('backward', ptr(gu), ptr(dout), ptr(dgu), rows, F);
  }

  groupedGemm(mode: 'nn' | 'nt' | 'tn', G: number, offsets: IntTensor, n: number, k: number,
    A: Tensor, B: Tensor, beta: 0 | 1, C: Tensor): void {
    const off = offsets.data;
    // Byte offsets straight into the packed GEMM: no view objects per group.
    const a = ptr(A), b = ptr(B), c = ptr(C);
    for (let g = 0; g < G; g++) {
      const r0 = off[g], m = off[g + 1] - r0;
      if (m === 0) continue; // nothing to write ('tn': C_g stays exactly as it was)
      if (mode === 'tn') {
        this.gemmEngine.gemm(true, false, k, n, m, 1, a + r0 * k * 4, b + r0 * n * 4, 1, c + g * k * n * 4);
      } else {
        this.gemmEngine.gemm(false, mode === 'nt', m, n, k, 1, a + r0 * k * 4, b + g * k * n * 4, beta, c + r0 * n * 4);
      }
    }
  }

  moeRoute(logits: Tensor, probs: Tensor, lse: Tensor, topIdx: IntTensor, topGate: Tensor,
    n: number, E: number, k: number, renormalize: boolean): void {
    moe.moeRoute(logits.data, probs.data, lse.data, topIdx.data, topGate.data, n, E, k, renormalize);
  }
  moePlan(topIdx: IntTensor, n: number, E: number, k: number, capacity: number,
    slot: IntTensor, rowToken: IntTensor, offsets: IntTensor, routed: IntTensor): void {
    moe.moePlan(topIdx.data, n, E, k, capacity, slot.data, rowToken.data, offsets.data, routed.data);
  }
  moeCombine(yd: Tensor, slot: IntTensor, topGate: Tensor, y: Tensor, n: number, k: number, C: number): void {
    // Row by row with the SIMD fill/axpy kernels (C is the model width: hundreds of floats).
    const s = slot.data, g = topGate.data, yp = ptr(y), ydp = ptr(yd);
    for (let t = 0; t < n; t++) {
      const yo = yp + t * C * 4;
      this.k.fill(yo, C, 0);
      for (let j = 0; j < k; j++) {
        const r = s[t * k + j];
        if (r >= 0) this.k.axpy(g[t * k + j], ydp + r * C * 4, yo, C);
      }
    }
  }
  moeCombineBackward(yd: Tensor, slot: IntTensor, topGate: Tensor, dy: Tensor, dyd: Tensor, dgate: Tensor,
    n: number, k: number, C: number): void {
    const s = slot.data, g = topGate.data, dg = dgate.data;
    const ydp = ptr(yd), dyp = ptr(dy), dydp = ptr(dyd);
    this.k.fill(dydp, n * k * C, 0);
    for (let t = 0; t < n; t++) {
      const dyo = dyp + t * C * 4;
      for (let j = 0; j < k; j++) {
        const r = s[t * k + j];
        if (r < 0) { dg[t * k + j] = 0; continue; }
        this.k.axpy(g[t * k + j], dyo, dydp + r * C * 4, C); // the row was zeroed: axpy writes g·dy
        dg[t * k + j] = this.k.dot(dyo, ydp + r * C * 4, C);
      }
    }
  }
  moeRouteBackward(probs: Tensor, lse: Tensor, topIdx: IntTensor, topGate: Tensor, dgate: Tensor,
    balanceGrad: Tensor | null, zGrad: number, dlogits: Tensor,
    n: number, E: number, k: number, renormalize: boolean): void {
    moe.moeRouteBackward(probs.data, lse.data, topIdx.data, topGate.data, dgate.data, balanceGrad?.data ?? null,
      zGrad, dlogits.data, n, E, k, renormalize);
  }
  moeAuxLoss(probs: Tensor, lse: Tensor, offsets: IntTensor, routed: IntTensor, n: number, E: number, k: number,
    balanceCoef: number, zLossCoef: number, balanceGrad: Tensor, loss: Tensor, counts: IntTensor, accumulate: boolean): void {
    moe.moeAuxLoss(probs.data, lse.data, offsets.data, routed.data, n, E, k, balanceCoef, zLossCoef, balanceGrad.data,
      loss.data, counts.data, accumulate);
  }

  // ==== associative memory (assembly/memory_recurrence.ts; contract: Ops.memoryForward) =========
  // The B sequences are split across threads by ./batch-pool.ts.
  memoryForward(k: Tensor, v: Tensor, q: Tensor, y: Tensor, saved: Tensor, s: MemoryShape): void {
    const a = this.memShape(s);
    a.k = ptr(k); a.v = ptr(v); a.q = ptr(q); a.y = ptr(y); a.saved = ptr(saved);
    this.pool.memory('forward', a);
  }
  memoryBackward(k: Tensor, v: Tensor, q: Tensor, saved: Tensor, dy: Tensor, dk: Tensor, dv: Tensor, dq: Tensor,
    s: MemoryShape): void {
    const a = this.memShape(s);
    a.k = ptr(k); a.v = ptr(v); a.q = ptr(q); a.saved = ptr(saved);
    a.dy = ptr(dy); a.dK = ptr(dk); a.dV = ptr(dv); a.dQ = ptr(dq);
    this.pool.memory('backward', a);
  }
  private memShape(s: MemoryShape): MemoryArgs {
    const a = this.memArgs;
    a.B = s.B; a.T = s.T; a.dk = s.dk; a.dv = s.dv; a.rule = s.rule === 'delta' ? 0 : 1;
    a.opt = MEMORY_OPTIMIZERS.indexOf(s.optimizer); a.period = s.period;
    a.eta = s.eta; a.beta = s.beta; a.beta1 = s.beta1; a.beta2 = s.beta2; a.eps = s.eps;
    a.ks = memoryKeyStride(s); a.vs = memoryValueStride(s); a.ys = memoryOutStride(s);
    a.norm = s.normalize === true ? 1 : 0; a.acc = s.accumulate === true ? 1 : 0;
    a.H = s.heads ?? 1; a.khs = memoryKeyHeadStride(s); a.vhs = memoryValueHeadStride(s); a.yhs = memoryOutHeadStride(s);
    return a;
  }
}

/** The kernel's optimiser codes, by index. */
const MEMORY_OPTIMIZERS = ['gd', 'momentum', 'adam'] as const;

/** The kernels' activation codes, by index (the kind was checked: src/ops/checked.ts). */
function activationIndex(kind: Activation): number {
  return ACTIVATIONS.indexOf(kind);
}

// Every op checks its arguments first (src/ops/checked.ts).
installArgumentChecks(WasmOps.prototype);
