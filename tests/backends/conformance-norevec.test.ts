// conformance.test.ts with V8 revectorization turned off, so the plain 128-bit compile of every
// kernel is tested too (what Node 20/22, ARM and non-AVX2 machines run). vitest gives this file a
// process of its own (vitest.config.ts); the flag is read at the backend's first compile.
process.env.HANDGRAD_REVECTORIZE = '0';
await import('./conformance.test.js');
