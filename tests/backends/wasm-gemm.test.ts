// The WASM GEMM against the float64 reference, with V8 revectorization on where this machine
// allows it (Node >= 24, x86-64 with AVX2), so every kernel path is compiled the way it runs in
// production. The test body is shared with wasm-gemm-norevec.test.ts: see gemm-suite.ts.
import { gemmSuite } from './gemm-suite.js';

gemmSuite({ load: () => import('../../src/backends/wasm/index.js'), exitTest: true });
