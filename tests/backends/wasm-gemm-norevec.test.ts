// The WASM GEMM suite (gemm-suite.ts) with V8 revectorization turned off, so the plain 128-bit
// compile of every kernel path is tested too (what Node 20/22, ARM and non-AVX2 machines run).
// vitest gives this file a process of its own (vitest.config.ts), and the flag is read when the
// backend first compiles, so setting it before the backend is imported is enough.
import { gemmSuite } from './gemm-suite.js';

process.env.HANDGRAD_REVECTORIZE = '0';
gemmSuite({
  load: async () => {
    process.env.HANDGRAD_REVECTORIZE = '0';
    return import('../../src/backends/wasm/index.js');
  },
});
