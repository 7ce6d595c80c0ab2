// The WASM backend's memory: one shared WebAssembly.Memory (so worker threads run kernels on
// the same buffers) handed out by a bump allocator with arena marks. Models allocate their
// buffers once; tests and benchmarks wrap temporary allocations in mark()/release().
import type { IntTensor, Tensor } from '../../ops/types.js';

const PAGE = 65536;
const ALIGN = 64; // one cache line: keeps SIMD loads aligned and threads off each other's lines
export const MAX_PAGES = 65536; // 4 GiB, all a wasm32 memory can address

export class WasmHeap {
  readonly memory: WebAssembly.Memory;
  private top: number;

  constructor(readonly base: number, initialPages = 256) {
    this.memory = new WebAssembly.Memory({ initial: initialPages, maximum: MAX_PAGES, shared: true });
    this.top = align(base);
  }

  /** Reserves `bytes` (64-byte aligned), growing the memory when needed. Returns a byte offset. */
  alloc(bytes: number): number {
    const ptr = this.top;
    const end = align(ptr + Math.max(bytes, 0));
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      if (have / PAGE + pages > MAX_PAGES) {
        throw new RangeError(`wasm backend: out of memory asking for ${bytes} bytes (${(have / 2 ** 20).toFixed(0)} MiB in use, 4 GiB is the most WebAssembly can address)`);
      }
      this.memory.grow(pages);
    }
    this.top = end;
    return ptr;
  }

  mark(): number { return this.top; }
  release(mark: number): void {
    if (mark < this.base || mark > this.top) throw new RangeError(`release(${mark}): not a mark of this heap`);
    this.top = mark;
  }
  get used(): number { return this.top - this.base; }
}

function align(n: number): number { return Math.ceil(n / ALIGN) * ALIGN; }

export class WasmTensor implements Tensor {
  private cached: Float32Array | null = null;
  constructor(readonly heap: WasmHeap, readonly ptr: number, readonly size: number) {}
  get data(): Float32Array {
    // A grown shared memory hands out a new (larger) SharedArrayBuffer; re-make the view then.
    const buf = this.heap.memory.buffer;
    if (this.cached === null || this.cached.buffer !== buf) this.cached = new Float32Array(buf, this.ptr, this.size);
    return this.cached;
  }
  view(offset: number, size: number): WasmTensor {
    if (offset < 0 || size < 0 || offset + size > this.size) {
      throw new RangeError(`view(${offset}, ${size}) is outside a tensor of ${this.size} elements`);
    }
    return new WasmTensor(this.heap, this.ptr + offset * 4, size);
  }
}

export class WasmInts implements IntTensor {
  private cached: Int32Array | null = null;
  constructor(readonly heap: WasmHeap, readonly ptr: number, readonly size: number) {}
  get data(): Int32Array {
    const buf = this.heap.memory.buffer;
    if (this.cached === null || this.cached.buffer !== buf) this.cached = new Int32Array(buf, this.ptr, this.size);
    return this.cached;
  }
  view(offset: number, size: number): WasmInts {
    if (offset < 0 || size < 0 || offset + size > this.size) {
      throw new RangeError(`view(${offset}, ${size}) is outside an int tensor of ${this.size} elements`);
    }
    return new WasmInts(this.heap, this.ptr + offset * 4, size);
  }
}
