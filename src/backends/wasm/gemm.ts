// PLACEHOLDER (replaced by the packed, threaded GEMM driver): calls a scalar kernel.
import type { WasmHeap } from './heap.js';
import type { Kernels } from './kernels.js';
import type { KernelPath } from './runtime.js';

export interface GemmEngine {
  readonly threads: number;
  gemm(transA: boolean, transB: boolean, m: number, n: number, k: number,
    alpha: number, a: number, b: number, beta: number, c: number): void;
  dispose(): void;
}

export interface GemmContext {
  module: WebAssembly.Module;
  kernels: Kernels;
  heap: WasmHeap;
  path: KernelPath;
  threads: number;
}

export async function createGemmEngine(ctx: GemmContext): Promise<GemmEngine> {
  const k = ctx.kernels;
  return {
    threads: 1,
    gemm(ta, tb, m, n, kk, alpha, a, b, beta, c) {
      (k.gemmNaive as (...a: number[]) => void)(ta ? 1 : 0, tb ? 1 : 0, m, n, kk, alpha, a, b, beta, c);
    },
    dispose() {},
  };
}
