// wasm-transformer-ops.test.ts with V8 revectorization turned off, so the plain 128-bit compile of
// the attention / SwiGLU / MoE kernels is tested too (a process of its own: see vitest.config.ts).
process.env.HANDGRAD_REVECTORIZE = '0';
await import('./wasm-transformer-ops.test.js');
