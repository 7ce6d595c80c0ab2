// The CUDA backend: the whole ops interface on device buffers, through the addon
// (native/addon.cc → kernels.h). Tensors live on the GPU; `.data` still works everywhere.
//
// Host mirrors. Code written for the CPU backends reads and writes `.data` (parameter init,
// checkpoints, the trainer's loss read-out). Each allocation (a "storage") therefore has a lazily
// made host mirror, tracked by element RANGES so that `.data` on a small view of a big buffer (the
// last row of a [8192 × 4096] logits buffer when sampling, one layer's routing counts) moves only
// that view, not the whole storage:
//   devNewer   an op wrote the storage: the mirror is stale except for the `valid` ranges
//              downloaded since (`.data` on a view downloads just that view's range);
//   dirty      ranges handed out by `.data` since the last op: the caller may have written them,
//              so the next op that touches the storage uploads exactly those ranges first.
// Every op uploads the dirty ranges of its arguments and marks its outputs devNewer. So `.data` is
// always right, merely slow in a hot path (it is a blocking copy). A typed array obtained from
// `.data` is a snapshot: read `.data` again after running ops, and write it before the next op.
//
// Pointers cross N-API as JS numbers (device addresses fit in 2^53). Sizes are checked before
// every op (src/ops/checked.ts, as on the other backends), so the addon can stay a thin, unchecked
// layer; data (ids, expert ids, offsets) only where the host mirror is current.
import type { Activation, AdamParams, AttentionShape, IntTensor, Ops, PackedGemmB, Tensor } from '../../ops/types.js';
import { ACTIVATIONS, attentionDropThreshold } from '../../ops/types.js';
import { defaultAddonPath, loadCudaAddon, type CudaInfo } from './index.js';
import { ReferenceOps } from '../reference/index.js';
import { checkAttentionForwardArgs, checkCount, groupedGemmMaxRows } from '../../ops/checks.js';
import { installArgumentChecks, OP_NAMES } from '../../ops/checked.js';
import { Bf16Copies } from './bf16-copies.js';
import { DecodeGraphs, type GraphAddon, type Recorder } from './decode-graphs.js';
import type { DecodeGraphOps } from '../../ops/decode-graph.js';

/** The addon's functions (see native/addon.cc for the argument order of each). */
export interface CudaAddon {
  info(): CudaInfo;
  alloc(bytes: number): number;
  mark(): number;
  release(mark: number): void;
  freeAll(): void;
  memory(): CudaMemory & { reservedBytes: number; freeDevice: number };
  resetPeak(): void;
  synchronize(): void;
  setDebug(on: boolean): void;
  upload(ptr: number, src: Float32Array | Int32Array): void;
  download(ptr: number, dst: Float32Array | Int32Array): void;
  [kernel: string]: unknown;
}
type Fn = (...args: (number | boolean)[]) => number | undefined;

export interface CudaMemory {
  /** Bytes of live tensors (256-byte rounded). */
  bytesInUse: number;
  /** Highest bytesInUse since start or resetPeak(): our allocations, not the CUDA context. */
  peakBytes: number;
  /** The device's global memory. */
  totalDevice: number;
}

/** More tracked ranges than this and a storage falls back to whole-buffer transfers. */
const MAX_RANGES = 32;

class Storage {
  host: Float32Array | Int32Array | null = null;
  /** The device copy is newer than the mirror, except inside `valid`. */
  devNewer = false;
  /** [lo, hi) element ranges of the mirror that are current although devNewer (flat pairs). */
  valid: number[] = [];
  /** [lo, hi) ranges handed out by `.data` since the last upload (flat pairs). */
  dirty: number[] = [];
  /** Bumped by every op that writes the storage and every upload of host writes (bf16-copies.ts). */
  version = 0;
  constructor(readonly ops: CudaOps, readonly ptr: number, readonly size: number, readonly ints: boolean) {}
}

function covered(ranges: number[], lo: number, hi: number): boolean {
  for (let i = 0; i < ranges.length; i += 2) if (ranges[i] <= lo && hi <= ranges[i + 1]) return true;
  return false;
}

class CudaTensor implements Tensor {
  readonly ptr: number;
  constructor(readonly s: Storage, readonly offset: number, readonly size: number) {
    this.ptr = s.ptr + offset * 4;
  }
  get data(): Float32Array {
    const h = this.s.ops.hostData(this.s, this.offset, this.offset + this.size) as Float32Array;
    return this.offset === 0 && this.size === h.length ? h : h.subarray(this.offset, this.offset + this.size);
  }
  view(offset: number, size: number): Tensor {
    if (!Number.isInteger(offset) || !Number.isInteger(size) || offset < 0 || size < 0 || offset + size > this.size) {
      throw new RangeError(`view(${offset}, ${size}) is outside a tensor of ${this.size} elements`);
    }
    return new CudaTensor(this.s, this.offset + offset, size);
  }
}

class CudaInts implements IntTensor {
  readonly ptr: number;
  constructor(readonly s: Storage, readonly offset: number, readonly size: number) {
    this.ptr = s.ptr + offset * 4;
  }
  get data(): Int32Array {
    const h = this.s.ops.hostData(this.s, this.offset, this.offset + this.size) as Int32Array;
    return this.offset === 0 && this.size === h.length ? h : h.subarray(this.offset, this.offset + this.size);
  }
  view(offset: number, size: number): IntTensor {
    if (!Number.isInteger(offset) || !Number.isInteger(size) || offset < 0 || size < 0 || offset + size > this.size) {
      throw new RangeError(`view(${offset}, ${size}) is outside an int tensor of ${this.size} elements`);
    }
    return new CudaInts(this.s, this.offset + offset, size);
  }
}

type Dev = CudaTensor | CudaInts;

/**
 * The CUDA backend's packed gemm operand: a device copy of B as it was stored (k×n, or n×k when
 * transB), which the ordinary GEMM kernel reads with that transpose. Its tiles are staged through
 * shared memory anyway, so there is no layout to gain; the copy gives packGemmB's snapshot.
 */
class CudaPackedGemmB implements PackedGemmB {
  transB = false;
  ready = false;
  constructor(readonly k: number, readonly n: number, readonly storage: CudaTensor) {}
}

export interface CudaOpsOptions {
  /** Path of handgrad.node (default: build/cuda/Release/handgrad.node). */
  addonPath?: string;
  /** Synchronise after every launch so a device fault is reported by the op that caused it
   *  (slow; also on with HANDGRAD_CUDA_DEBUG=1). */
  debug?: boolean;
  /** bf16 copies of the weights and the MoE gather's rows for the GEMMs (bf16-copies.ts; also on
   *  with HANDGRAD_CUDA_BF16_WEIGHTS=1). */
  bf16Copies?: boolean;
  /** Decode steps as CUDA graphs (decode-graphs.ts; also on with HANDGRAD_CUDA_GRAPHS=1). */
  graphs?: boolean;
}

export function createCudaOps(opts: CudaOpsOptions = {}): CudaOps {
  const addon = loadCudaAddon(opts.addonPath ?? defaultAddonPath) as CudaAddon;
  const info = addon.info();
  if (!info.cuda) throw new Error(`CUDA backend unavailable: ${info.error ?? 'no CUDA device'}`);
  return new CudaOps(addon, info.shortName ?? info.names[0] ?? 'gpu', opts.debug ?? process.env.HANDGRAD_CUDA_DEBUG === '1',
    undefined, opts.bf16Copies, opts.graphs);
}

// The addon holds one device memory pool per process, shared by every CudaOps: dispose() frees it
// only when the last live instance goes (a trainer and a sampler may each open the backend).
// mark()/release() scopes of two instances must nest like one stack.
let liveInstances = 0;

export class CudaOps implements Ops, DecodeGraphOps {
  readonly name: string;
  readonly dtype = 'f32' as const;
  private disposed = false;
  // The kernels, looked up once (a property read per call is cheap, but this keeps them typed).
  private readonly k: Record<string, Fn>;

  /** bf16 copies for the GEMMs, or null (the default: HANDGRAD_CUDA_BF16_WEIGHTS unset). */
  readonly bf16: Bf16Copies | null;
  /** Decode steps as CUDA graphs (src/ops/decode-graph.ts), or null (the default: HANDGRAD_CUDA_GRAPHS unset). */
  readonly graphs: DecodeGraphs<Storage, CudaTensor> | null;
  /** decodeGraphOps(ops) hands models this backend's graphStep only when true. */
  readonly decodeGraphs: boolean;
  /** Allocations and releases so far: a graph captured before one may point at moved buffers. */
  private generation = 0;
  /** Reports the storages each op reads and writes while a decode step is warmed up or captured. */
  private rec: Recorder<Storage, CudaTensor> | null = null;

  constructor(readonly addon: CudaAddon, deviceName: string, debug = false,
    profile = process.env.HANDGRAD_CUDA_PROFILE === '1', bf16Copies = process.env.HANDGRAD_CUDA_BF16_WEIGHTS === '1',
    graphs = process.env.HANDGRAD_CUDA_GRAPHS === '1') {
    this.name = `cuda-${deviceName}`;
    this.k = addon as unknown as Record<string, Fn>;
    this.bf16 = bf16Copies ? new Bf16Copies(addon) : null;
    // Not with debug (it synchronises inside the capture) or the profile (it times each op); not
    // with an addon built before graphs existed.
    const self = this;
    this.graphs = graphs && !debug && !profile && typeof this.k.graphBegin === 'function'
      ? new DecodeGraphs<Storage, CudaTensor>({
        addon: addon as unknown as GraphAddon,
        get generation() { return self.generation; },
        flushStorage: (s) => self.flush(s),
        copyOf: (v) => (self.bf16 ? self.bf16.of(v) : 0),
        get recorder() { return self.rec; },
        set recorder(r) { self.rec = r; },
      })
      : null;
    this.decodeGraphs = this.graphs !== null;
    addon.setDebug(debug);
    liveInstances++;
    if (profile) this.startProfiling();
  }

  // ---- profiling ---------------------------------------------------------------------------------
  // HANDGRAD_CUDA_PROFILE=1: every op and every host transfer is followed by a synchronisation and
  // timed on the host, so each row is launch + kernel + wait (the waits inflate small ops by a few
  // µs; the point is to see where a step's time goes, host reads included).
  private prof: Map<string, { calls: number; ms: number; bytes: number }> | null = null;
  private startProfiling(): void {
    const prof = new Map<string, { calls: number; ms: number; bytes: number }>();
    this.prof = prof;
    const rec = (name: string, t0: number, bytes = 0): void => {
      let r = prof.get(name);
      if (!r) prof.set(name, (r = { calls: 0, ms: 0, bytes: 0 }));
      r.calls++; r.ms += performance.now() - t0; r.bytes += bytes;
    };
    const addon = this.addon;
    const sync = addon.synchronize.bind(addon);
    for (const kind of ['upload', 'download'] as const) {
      const f = addon[kind].bind(addon);
      (addon as unknown as Record<string, unknown>)[kind] = (ptr: number, a: Float32Array | Int32Array) => {
        const t0 = performance.now(); f(ptr, a); rec(`(host ${kind})`, t0, a.byteLength);
      };
    }
    for (const name of OP_NAMES) {
      const f = (this as unknown as Record<string, unknown>)[name];
      (this as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
        const t0 = performance.now();
        const out = (f as (...a: unknown[]) => unknown).apply(this, args);
        sync();
        // GEMMs by shape: they are most of a step, and which shape is slow is the question.
        const label = name === 'gemm' ? `gemm ${args[0] ? 't' : 'n'}${args[1] ? 't' : 'n'} ${args[2]}×${args[3]}×${args[4]}`
          : name === 'gemmPackedB' ? `gemmPackedB ${args[0] ? 't' : 'n'} ${args[1]}×${args[2]}×${args[3]}`
          : name === 'groupedGemm' ? `groupedGemm ${args[0]} G${args[1]} n${args[3]} k${args[4]}` : name;
        rec(label, t0);
        return out;
      };
    }
  }
  /** Rows of the profile (HANDGRAD_CUDA_PROFILE=1), most expensive first; null when not profiling. */
  profile(): { op: string; calls: number; ms: number; bytes: number }[] | null {
    if (!this.prof) return null;
    return [...this.prof].map(([op, r]) => ({ op, ...r })).sort((a, b) => b.ms - a.ms);
  }
  resetProfile(): void { this.prof?.clear(); }

  // ---- host mirrors ------------------------------------------------------------------------------
  /**
   * The mirror of `s`, current over [lo, hi), and that range from now on presumed written by the
   * caller (uploaded before the next op that touches `s`).
   */
  hostData(s: Storage, lo: number, hi: number): Float32Array | Int32Array {
    this.live();
    if (s.host === null) s.host = s.ints ? new Int32Array(s.size) : new Float32Array(s.size);
    if (s.devNewer && !covered(s.valid, lo, hi)) {
      if ((lo === 0 && hi === s.size) || s.valid.length >= 2 * MAX_RANGES) this.pullAll(s);
      else if (hi > lo) {
        // Ranges handed out earlier may overlap this one and hold the caller's writes: those go to
        // the device first (and stay dirty), so the download brings them back instead of losing them.
        if (s.dirty.length !== 0) this.push(s, lo, hi);
        this.rec?.transfer('download');
        this.addon.download(s.ptr + lo * 4, s.host.subarray(lo, hi));
        s.valid.push(lo, hi);
      }
    }
    if (hi > lo && !covered(s.dirty, lo, hi)) {
      if (s.dirty.length >= 2 * MAX_RANGES) {
        this.pullAll(s);
        s.dirty.length = 0;
        s.dirty.push(0, s.size);
      } else s.dirty.push(lo, hi);
    }
    return s.host;
  }
  /**
   * Makes the whole mirror current. Ranges already handed out hold the caller's writes: they go to
   * the device first (and stay listed as dirty), so the download brings them back unchanged.
   */
  private pullAll(s: Storage): void {
    if (!s.devNewer) return;
    this.push(s);
    this.rec?.transfer('download');
    this.addon.download(s.ptr, s.host!);
    s.devNewer = false;
    s.valid.length = 0;
  }
  /** Uploads the ranges handed out by `.data` (the caller may have written them) that overlap [lo, hi). */
  private push(s: Storage, lo = 0, hi = s.size): void {
    const d = s.dirty;
    for (let i = 0; i < d.length; i += 2) {
      if (d[i + 1] > d[i] && d[i] < hi && lo < d[i + 1]) {
        this.rec?.transfer('upload');
        this.addon.upload(s.ptr + d[i] * 4, s.host!.subarray(d[i], d[i + 1]));
        s.version++;
      }
    }
  }
  private flush(s: Storage): void {
    this.push(s);
    s.dirty.length = 0;
  }
  /** An int tensor's mirror when it is known current (for cheap host-side argument checks), else null. */
  peekInts(t: IntTensor): Int32Array | null {
    if ((t as Dev).s?.ops !== this) return null; // another backend's: r() refuses it
    return this.peek(t as Dev) as Int32Array | null;
  }
  /** The mirror when it is known current, else null. */
  private peek(t: Dev): Float32Array | Int32Array | null {
    const s = t.s;
    if (s.host === null || (s.devNewer && !covered(s.valid, t.offset, t.offset + t.size))) return null;
    return s.host.subarray(t.offset, t.offset + t.size);
  }
  /** An input: upload the storage's handed-out ranges, then its device pointer. */
  private r(t: Tensor | IntTensor): number {
    const s = (t as Dev).s;
    if (s === undefined || s.ops !== this) throw new TypeError(`${this.name}: tensor from another backend`);
    if (s.dirty.length !== 0) this.flush(s);
    if (this.rec !== null) this.rec.read(s);
    return (t as Dev).ptr;
  }
  /** An output (possibly also read): as r(), then the device copy is the newer one. */
  private w(t: Tensor | IntTensor): number {
    const p = this.r(t);
    const s = (t as Dev).s;
    s.devNewer = true;
    s.valid.length = 0;
    s.version++;
    if (this.rec !== null) this.rec.write(s);
    return p;
  }
  private live(): void {
    if (this.disposed) throw new Error(`${this.name}: used after dispose()`);
  }

  // ---- storage -----------------------------------------------------------------------------------
  private storage(size: number, ints: boolean): Storage {
    this.live();
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`tensor size must be a non-negative integer, got ${size}`);
    this.generation++;
    return new Storage(this, this.addon.alloc(size * 4), size, ints);
  }
  tensor(size: number): Tensor {
    const s = this.storage(size, false);
    return new CudaTensor(s, 0, size);
  }
  tensorFrom(values: ArrayLike<number>): Tensor {
    const s = this.storage(values.length, false);
    s.host = Float32Array.from(values);
    s.dirty.push(0, s.size);
    return new CudaTensor(s, 0, values.length);
  }
  ints(size: number): IntTensor {
    const s = this.storage(size, true);
    return new CudaInts(s, 0, size);
  }
  intsFrom(values: ArrayLike<number>): IntTensor {
    const s = this.storage(values.length, true);
    s.host = Int32Array.from(values);
    s.dirty.push(0, s.size);
    return new CudaInts(s, 0, values.length);
  }
  mark(): number { this.live(); return this.addon.mark(); }
  release(mark: number): void {
    this.live();
    this.addon.release(mark);
    this.bf16?.release(mark);
    this.generation++;
  }
  dispose(): void {
    if (this.disposed) return;
    this.graphs?.dispose();
    this.disposed = true;
    if (--liveInstances === 0) this.addon.freeAll();
  }

  /** Waits for every queued kernel (for timing); throws any pending CUDA error. */
  synchronize(): void { this.addon.synchronize(); }
  memory(): CudaMemory {
    const m = this.addon.memory();
    return { bytesInUse: m.bytesInUse, peakBytes: m.peakBytes, totalDevice: m.totalDevice };
  }
  resetPeak(): void { this.addon.resetPeak(); }

  packedGemmB(k: number, n: number): PackedGemmB {
    checkCount('packedGemmB', 'k', k); checkCount('packedGemmB', 'n', n);
    return new CudaPackedGemmB(k, n, this.tensor(k * n) as CudaTensor);
  }
  private packed(p: PackedGemmB): CudaPackedGemmB {
    if (!(p instanceof CudaPackedGemmB) || p.storage.s.ops !== this) throw new TypeError(`${this.name}: packed operand from another backend`);
    return p;
  }

  // ---- matrix products ---------------------------------------------------------------------------
  gemm(transA: boolean, transB: boolean, m: number, n: number, k: number,
    alpha: number, A: Tensor, B: Tensor, beta: number, C: Tensor): void {
    this.product(transA, transB, m, n, k, alpha, A, B, beta, C);
  }
  packGemmB(transB: boolean, k: number, n: number, B: Tensor, packed: PackedGemmB): void {
    const p = this.packed(packed);
    p.transB = transB;
    p.ready = true;
    if (k * n > 0) this.k.copy(this.r(B), this.w(p.storage), k * n);
  }
  gemmPackedB(transA: boolean, m: number, n: number, k: number,
    alpha: number, A: Tensor, packed: PackedGemmB, beta: number, C: Tensor): void {
    const p = this.packed(packed);
    this.product(transA, p.transB, m, n, k, alpha, A, p.storage, beta, C);
  }
  /** gemm's work (gemmPackedB's too, not through the profiled and checked gemm method). */
  private product(transA: boolean, transB: boolean, m: number, n: number, k: number,
    alpha: number, A: Tensor, B: Tensor, beta: number, C: Tensor): void {
    // Empty products, as the reference defines them (the kernels take sizes ≥ 1): nothing to write,
    // or, with k = 0, C = beta·C (beta 0 overwrites, NaN included).
    if (m === 0 || n === 0) return;
    if (k === 0) {
      const c = C.size === m * n ? C : C.view(0, m * n);
      if (beta === 0) this.fill(c, 0); else if (beta !== 1) this.scale(c, beta);
      return;
    }
    const pa = this.r(A), pb = this.r(B), pc = this.w(C), h = this.bf16;
    const ha = h ? h.of(A as CudaTensor) : 0, hb = h ? h.of(B as CudaTensor) : 0;
    if (this.rec !== null) { this.rec.copy(A as CudaTensor, ha); this.rec.copy(B as CudaTensor, hb); }
    this.k.gemm(transA, transB, m, n, k, alpha, pa, pb, beta, pc, ha, hb);
  }

  // ---- elementwise -------------------------------------------------------------------------------
  fill(x: Tensor, value: number): void { this.k.fill(this.w(x), x.size, value); }
  copy(src: Tensor, dst: Tensor): void {
    this.k.copy(this.r(src), this.w(dst), src.size);
  }
  scale(x: Tensor, alpha: number): void { this.k.scale(this.w(x), x.size, alpha); }
  axpy(alpha: number, x: Tensor, y: Tensor): void {
    this.k.axpy(alpha, this.r(x), this.w(y), x.size);
  }
  add(a: Tensor, b: Tensor, out: Tensor): void {
    this.k.add(this.r(a), this.r(b), this.w(out), a.size);
  }
  mul(a: Tensor, b: Tensor, out: Tensor, accumulate = false): void {
    this.k.mul(this.r(a), this.r(b), this.w(out), a.size, accumulate);
  }
  activation(kind: Activation, x: Tensor, y: Tensor): void {
    this.k.activation(activationIndex(kind), this.r(x), this.w(y), x.size);
  }
  activationBackward(kind: Activation, x: Tensor, y: Tensor, dy: Tensor, dx: Tensor, accumulate = false): void {
    this.k.activationBackward(activationIndex(kind), this.r(x), this.r(y), this.r(dy), this.w(dx), dy.size, accumulate);
  }

  // ---- row-wise ----------------------------------------------------------------------------------
  addBias(y: Tensor, bias: Tensor, rows: number, cols: number): void {
    this.k.addBias(this.w(y), this.r(bias), rows, cols);
  }
  sumRows(x: Tensor, out: Tensor, rows: number, cols: number): void {
    this.k.sumRows(this.r(x), this.w(out), rows, cols);
  }
  sumCols(x: Tensor, out: Tensor, rows: number, cols: number): void {
    this.k.sumCols(this.r(x), this.w(out), rows, cols);
  }
  softmax(x: Tensor, y: Tensor, rows: number, cols: number): void {
    this.k.softmax(this.r(x), this.w(y), rows, cols);
  }
  logSoftmax(x: Tensor, y: Tensor, rows: number, cols: number): void {
    this.k.logSoftmax(this.r(x), this.w(y), rows, cols);
  }
  softmaxBackward(y: Tensor, dy: Tensor, dx: Tensor, rows: number, cols: number): void {
    this.k.softmaxBackward(this.r(y), this.r(dy), this.w(dx), rows, cols);
  }
  logSoftmaxBackward(y: Tensor, dy: Tensor, dx: Tensor, rows: number, cols: number): void {
    this.k.logSoftmaxBackward(this.r(y), this.r(dy), this.w(dx), rows, cols);
  }
  softmaxCrossEntropy(logits: Tensor, targets: IntTensor, rows: number, cols: number,
    dlogits: Tensor | null, gradScale: number): number {
    // A bad target produced on the device (not checked: src/ops/checked.ts) counts as a padded row.
    const tp = this.r(targets), lp = this.r(logits), dp = dlogits ? this.w(dlogits) : 0;
    return this.k.softmaxCrossEntropy(lp, tp, rows, cols, dp, gradScale) as number;
  }
  layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, y: Tensor, mean: Tensor, rstd: Tensor,
    rows: number, cols: number, eps: number): void {
    this.k.layerNorm(this.r(x), this.r(gamma), this.r(beta), this.w(y), this.w(mean), this.w(rstd), rows, cols, eps);
  }
  layerNormBackward(x: Tensor, gamma: Tensor, mean: Tensor, rstd: Tensor, dy: Tensor,
    dx: Tensor, dgamma: Tensor, dbeta: Tensor, rows: number, cols: number): void {
    this.k.layerNormBackward(this.r(x), this.r(gamma), this.r(mean), this.r(rstd), this.r(dy),
      this.w(dx), this.w(dgamma), this.w(dbeta), rows, cols);
  }

  // ---- embeddings --------------------------------------------------------------------------------
  embedding(table: Tensor, ids: IntTensor, out: Tensor, n: number, dim: number): void {
    const pt = this.r(table), pi = this.r(ids), po = this.w(out);
    // The MoE gather's rows also as bf16 when a grouped GEMM wanted them (bf16-copies.ts).
    const oh = this.bf16 ? this.bf16.writingIfWanted(out as CudaTensor) : 0;
    this.k.embedding(pt, pi, po, n, dim, dim > 0 ? Math.floor(table.size / dim) : 0, oh);
  }
  embeddingBackward(dout: Tensor, ids: IntTensor, dtable: Tensor, n: number, dim: number): void {
    this.k.embeddingBackward(this.r(dout), this.r(ids), this.w(dtable), n, dim, dim > 0 ? Math.floor(dtable.size / dim) : 0);
  }
  // ---- optimisation ------------------------------------------------------------------------------
  sumSquares(x: Tensor): number { return this.k.sumSquares(this.r(x), x.size) as number; }
  /** Σ over every tensor of Σ x², with one synchronisation (see Ops.sumSquaresMany). */
  sumSquaresMany(xs: readonly Tensor[]): number {
    if (typeof this.k.sumSquaresList !== 'function') { let s = 0; for (const x of xs) s += this.sumSquares(x); return s; }
    if (this.listBuf.length < 2 * xs.length) this.listBuf = new Float64Array(2 * xs.length);
    const list = this.listBuf;
    for (let i = 0; i < xs.length; i++) { list[2 * i] = this.r(xs[i]); list[2 * i + 1] = xs[i].size; }
    const fn = this.k.sumSquaresList as unknown as (l: Float64Array) => number;
    return fn(list.length === 2 * xs.length ? list : list.subarray(0, 2 * xs.length));
  }
  private listBuf = new Float64Array(0);
  adam(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, p: AdamParams): void {
    const pw = this.w(param);
    this.k.adam(pw, this.r(grad), this.w(m), this.w(v), param.size,
      p.lr, p.beta1, p.beta2, p.eps, p.weightDecay, p.decoupled, p.step, this.bf16 ? this.bf16.writing(param as CudaTensor) : 0);
  }

  // ---- ops without a CUDA kernel: the reference loops on the host mirrors --------------------------
  // Every backend has every op (the interface has no optional members), so a model's type never
  // lies about where it runs. The recurrent cells and the memory recurrence have no kernel here
  // (the GPU path is built for the MoE transformer): they run the reference backend's loops on
  // `.data`, which downloads their inputs, and the mirror protocol uploads their outputs before
  // the next op. Correct, and as slow as the host: an LSTM, GRU or memory-lm trains on CUDA at CPU
  // speed plus a round trip per call.
  private readonly host = new ReferenceOps('f32');
  lstmCell(...a: Parameters<Ops['lstmCell']>): void { this.host.lstmCell(...a); }
  lstmCellBackward(...a: Parameters<Ops['lstmCellBackward']>): void { this.host.lstmCellBackward(...a); }
  gruCell(...a: Parameters<Ops['gruCell']>): void { this.host.gruCell(...a); }
  gruCellBackward(...a: Parameters<Ops['gruCellBackward']>): void { this.host.gruCellBackward(...a); }
  gruPaperGates(...a: Parameters<Ops['gruPaperGates']>): void { this.host.gruPaperGates(...a); }
  gruPaperOutput(...a: Parameters<Ops['gruPaperOutput']>): void { this.host.gruPaperOutput(...a); }
  gruPaperOutputBackward(...a: Parameters<Ops['gruPaperOutputBackward']>): void { this.host.gruPaperOutputBackward(...a); }
  gruPaperGatesBackward(...a: Parameters<Ops['gruPaperGatesBackward']>): void { this.host.gruPaperGatesBackward(...a); }
  memoryForward(...a: Parameters<Ops['memoryForward']>): void { this.host.memoryForward(...a); }
  memoryBackward(...a: Parameters<Ops['memoryBackward']>): void { this.host.memoryBackward(...a); }

  // ---- transformer and MoE -----------------------------------------------------------------------
  // Dropout on P (s.dropout > 0): three more numbers after the shape (threshold, 1/(1 − p), seed;
  // native/kernels.h), which send the call to the fp32 tiled kernels (not tensor cores).
  attention(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, s: AttentionShape): void {
    if (cudaAttentionLimits('attention', s)) return;
    const p = s.dropout ?? 0;
    if (p > 0) {
      this.k.attention(this.r(q), this.r(k), this.r(v), this.w(out), this.w(lse),
        s.B, s.H, s.D, s.Tq, s.Tk, s.qOffset, s.qStride, s.kvStride, s.oStride, s.causal, s.scale,
        attentionDropThreshold(p), 1 / (1 - p), s.dropoutSeed ?? 0);
      return;
    }
    this.k.attention(this.r(q), this.r(k), this.r(v), this.w(out), this.w(lse),
      s.B, s.H, s.D, s.Tq, s.Tk, s.qOffset, s.qStride, s.kvStride, s.oStride, s.causal, s.scale);
  }
  attentionBackward(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, dout: Tensor,
    dq: Tensor, dk: Tensor, dv: Tensor, s: AttentionShape): void {
    if (cudaAttentionLimits('attentionBackward', s)) return;
    const p = s.dropout ?? 0;
    if (p > 0) {
      this.k.attentionBackward(this.r(q), this.r(k), this.r(v), this.r(out), this.r(lse), this.r(dout),
        this.w(dq), this.w(dk), this.w(dv),
        s.B, s.H, s.D, s.Tq, s.Tk, s.qOffset, s.qStride, s.kvStride, s.oStride, s.causal, s.scale,
        attentionDropThreshold(p), 1 / (1 - p), s.dropoutSeed ?? 0);
      return;
    }
    this.k.attentionBackward(this.r(q), this.r(k), this.r(v), this.r(out), this.r(lse), this.r(dout),
      this.w(dq), this.w(dk), this.w(dv),
      s.B, s.H, s.D, s.Tq, s.Tk, s.qOffset, s.qStride, s.kvStride, s.oStride, s.causal, s.scale);
  }
  // ---- decode graphs (src/ops/decode-graph.ts) ------------------------------------------------------
  copyAt(src: Tensor, dst: Tensor, n: number, pos: IntTensor, stride: number): void {
    checkCount('copyAt', 'n', n); checkCount('copyAt', 'stride', stride);
    if (src.size < n) throw new RangeError(`copyAt: src holds ${src.size} elements, needs ${n}`);
    if (pos.size < 1) throw new RangeError('copyAt: pos holds no position');
    // The position lives on the device; check it when its host copy is current (it usually is: the
    // caller just wrote it).
    const p = this.peek(pos as Dev);
    if (p && (p[0] < 0 || p[0] * stride + n > dst.size)) {
      throw new RangeError(`copyAt: position ${p[0]} · stride ${stride} + ${n} is outside dst's ${dst.size} elements`);
    }
    if (n === 0) return;
    this.k.copyAt(this.r(src), this.w(dst), n, this.r(pos), stride);
  }
  attentionAt(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, s: AttentionShape, pos: IntTensor): void {
    checkAttentionForwardArgs(s, q, k, v, out, lse);
    if (s.B !== 1 || s.Tq < 1 || s.Tq > 4) throw new RangeError(`attentionAt: decoding only (B = 1, Tq 1..4), got B = ${s.B}, Tq = ${s.Tq}`);
    if (s.D < 1 || s.D > 128) throw new RangeError(`attentionAt: head width D = ${s.D} is outside 1..128, the CUDA kernels' range`);
    if (pos.size < 1) throw new RangeError('attentionAt: pos holds no position');
    const p = this.peek(pos as Dev);
    if (p && (p[0] < 0 || p[0] + s.Tq > s.Tk)) throw new RangeError(`attentionAt: position ${p[0]} + ${s.Tq} rows is past the ${s.Tk} keys k and v hold`);
    this.k.attentionAt(this.r(q), this.r(k), this.r(v), this.w(out), this.w(lse), this.r(pos),
      s.B, s.H, s.D, s.Tq, s.Tk, 0, s.qStride, s.kvStride, s.oStride, s.causal, s.scale);
  }
  graphStep<T>(key: object, body: () => T): T {
    return this.graphs ? this.graphs.run(key, body) : body();
  }

  swiglu(gu: Tensor, out: Tensor, rows: number, F: number): void {
    this.k.swiglu(this.r(gu), this.w(out), rows, F);
  }
  swigluBackward(gu: Tensor, dout: Tensor, dgu: Tensor, rows: number, F: number): void {
    this.k.swigluBackward(this.r(gu), this.r(dout), this.w(dgu), rows, F);
  }
  groupedGemm(mode: 'nn' | 'nt' | 'tn', G: number, offsets: IntTensor, n: number, k: number,
    A: Tensor, B: Tensor, beta: 0 | 1, C: Tensor): void {
    // The group boundaries usually live only on the device (moePlan wrote them): the kernel reads
    // them there, with maxRows (what A, B and C can hold) bounding its grid.
    const maxRows = groupedGemmMaxRows(mode, n, k, A, B, C);
    if (G === 0 || maxRows === 0) return; // no group, or no row can be in one: nothing to write
    if (n === 0 || k === 0) throw new RangeError(`groupedGemm(${mode}): n = ${n}, k = ${k}: empty products are not supported on the CUDA backend`);
    const m = mode === 'nn' ? 0 : mode === 'nt' ? 1 : 2;
    const po = this.r(offsets), pa = this.r(A), pb = this.r(B), pc = this.w(C), h = this.bf16;
    // A's copy is the gathered rows' (nn, tn), B's the weights' (nn, nt); see bf16-copies.ts.
    const ha = h && m !== 1 ? h.ofOrWant(A as CudaTensor) : 0, hb = h && m !== 2 ? h.of(B as CudaTensor) : 0;
    if (this.rec !== null) { this.rec.copy(A as CudaTensor, ha); this.rec.copy(B as CudaTensor, hb); }
    this.k.groupedGemm(m, G, po, maxRows, n, k, pa, pb, beta, pc, ha, hb);
  }
  moeRoute(logits: Tensor, probs: Tensor, lse: Tensor, topIdx: IntTensor, topGate: Tensor,
    n: number, E: number, k: number, renormalize: boolean): void {
    this.k.moeRoute(this.r(logits), this.w(probs), this.w(lse), this.w(topIdx), this.w(topGate), n, E, k, renormalize);
  }
  moePlan(topIdx: IntTensor, n: number, E: number, k: number, capacity: number,
    slot: IntTensor, rowToken: IntTensor, offsets: IntTensor, routed: IntTensor): void {
    if (E > 360) throw new RangeError(`moePlan: E = ${E} experts is above the CUDA kernel's limit of 360`);
    this.k.moePlan(this.r(topIdx), n, E, k, capacity, this.w(slot), this.w(rowToken), this.w(offsets), this.w(routed));
  }
  moeCombine(yd: Tensor, slot: IntTensor, topGate: Tensor, y: Tensor, n: number, k: number, C: number): void {
    this.k.moeCombine(this.r(yd), this.r(slot), this.r(topGate), this.w(y), n, k, C);
  }
  moeCombineBackward(yd: Tensor, slot: IntTensor, topGate: Tensor, dy: Tensor, dyd: Tensor, dgate: Tensor,
    n: number, k: number, C: number): void {
    this.k.moeCombineBackward(this.r(yd), this.r(slot), this.r(topGate), this.r(dy), this.w(dyd), this.w(dgate), n, k, C);
  }
  moeRouteBackward(probs: Tensor, lse: Tensor, topIdx: IntTensor, topGate: Tensor, dgate: Tensor,
    balanceGrad: Tensor | null, zGrad: number, dlogits: Tensor,
    n: number, E: number, k: number, renormalize: boolean): void {
    if (E > 256) throw new RangeError(`moeRouteBackward: E = ${E} experts is above the CUDA kernel's limit of 256`);
    this.k.moeRouteBackward(this.r(probs), this.r(lse), this.r(topIdx), this.r(topGate), this.r(dgate),
      balanceGrad ? this.r(balanceGrad) : 0, zGrad, this.w(dlogits), n, E, k, renormalize);
  }
  moeAuxLoss(probs: Tensor, lse: Tensor, offsets: IntTensor, routed: IntTensor, n: number, E: number, k: number,
    balanceCoef: number, zLossCoef: number, balanceGrad: Tensor, loss: Tensor, counts: IntTensor, accumulate: boolean): void {
    // One block holds routed[] in shared memory (native/moe.cu); far above any router this project builds.
    if (E > 4096) throw new RangeError(`moeAuxLoss: E = ${E} experts is above the CUDA kernel's limit of 4096`);
    // Everything stays on the device: the losses and counts are read only when someone asks (.data).
    this.k.moeAuxLoss(this.r(probs), this.r(lse), this.r(offsets), this.r(routed), n, E, k, balanceCoef, zLossCoef,
      this.w(balanceGrad), this.w(loss), this.w(counts), accumulate);
  }
}

// Every op checks its arguments first (src/ops/checked.ts); data only where the mirror is current.
installArgumentChecks(CudaOps.prototype, (ops, t) => (ops as CudaOps).peekInts(t));

// ---- the CUDA kernels' own limits ------------------------------------------------------------------

/** The kernels' activation codes, by index (the kind was checked: src/ops/checked.ts). */
function activationIndex(kind: Activation): number {
  return ACTIVATIONS.indexOf(kind);
}

/**
 * The CUDA attention kernels' limits (native/attention.cu: head width ≤ 128, B·H ≤ 65535 grid rows),
 * which the kernels would otherwise meet by printing to stderr and writing nothing. Returns true
 * when there is nothing to compute (no batch, head or query row).
 */
function cudaAttentionLimits(op: string, s: AttentionShape): boolean {
  if (s.B === 0 || s.H === 0 || s.Tq === 0) return true;
  if (s.D < 1 || s.D > 128) throw new RangeError(`${op}: head width D = ${s.D} is outside 1..128, the CUDA kernels' range (d_model / heads)`);
  if (s.B * s.H > 65535) throw new RangeError(`${op}: B·H = ${s.B * s.H} is above the CUDA kernels' limit of 65535`);
  return false;
}
