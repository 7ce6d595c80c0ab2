// Entry of the relaxed-SIMD build: the plain kernels plus relaxed fused multiply-add variants.
export * from './index';
export { gemmBlockRelaxed, gemmBlockPackedBRelaxed } from './gemm_relaxed';
