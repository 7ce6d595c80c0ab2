// The WASM GEMM test body, shared by wasm-gemm.test.ts (V8 revectorization on, where the machine
// allows it) and wasm-gemm-norevec.test.ts (off: every path compiled by plain V8). Each file runs
// in its own process (vitest.config.ts), because V8's wasm flags are process-wide.
//
// Every kernel configuration the process supports (revec4x16 with and without FMA, relaxed4x8,
// simd4x8), on 1 and 2 threads, is compared with the float64 reference backend on all four
// transposes, three (alpha, beta) pairs and ragged shapes around every tile and block edge.
// Inputs are rounded to f32 first and the reference gets the same values, so what is left is
// the kernel's own f32 arithmetic. Operands are misaligned views into sentinel-filled buffers:
// a write past the m×n result, or into A or B, fails the test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import type { KernelPath, WasmOps } from '../../src/backends/wasm/index.js';
import { DEFAULT_TUNING, type GemmTuning } from '../../src/backends/wasm/gemm.js';
import { rng } from './seeded.js';
import { SENTINEL, sentinelView } from './guarded-views.js';

export interface SuiteOptions {
  /** Loads the backend; the caller sets process.env (HANDGRAD_REVECTORIZE) before importing it. */
  load: () => Promise<typeof import('../../src/backends/wasm/index.js')>;
  /** Also run the (slower) test that a process without dispose() exits. */
  exitTest?: boolean;
}

interface Config { path: KernelPath; fma?: boolean; label: string }
const CONFIGS: Config[] = [
  { path: 'revec4x16', fma: true, label: 'revec4x16 (fma)' },
  { path: 'revec4x16', fma: false, label: 'revec4x16 (mul+add)' },
  { path: 'relaxed4x8', label: 'relaxed4x8' },
  { path: 'simd4x8', label: 'simd4x8' },
];

// [m, n, k]: tile edges (MR = 6 and 4-row panels for the 16-wide kernels, 4 for the 8-wide ones;
// NR = 8/16), packing edges (4×4 and 2×4 transposes), block edges (MC = 144, KC = 256,
// NC = 2048), degenerate sizes, and shapes split by rows and by columns.
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 1, 5], [3, 5, 17], [5, 3, 1], [4, 16, 4], [4, 8, 8], [17, 1, 3], [1, 17, 3],
  [5, 17, 129], [17, 5, 3], [129, 17, 5], [17, 129, 7], [33, 65, 257], [129, 3, 300],
  [7, 257, 33], [257, 9, 11], [16, 48, 64], [5, 2100, 3], [300, 20, 10],
  [0, 5, 3], [5, 0, 3], [0, 0, 0], [3, 5, 0], [1, 1, 0],
  // Fewer than 4 rows (the unpacked row path): column blocks of 16, 4 and a 1–3 tail, several
  // k blocks, dot products in groups of 8 columns with a k mod 4 tail.
  [1, 23, 301], [2, 41, 259], [3, 9, 6],
  // Dot products in groups of 8, then 4 (one vector store when k mod 4 = 0), then single columns.
  [1, 13, 400], [2, 12, 36], [3, 7, 9], [1, 100, 400],
  // Rows of B 2 KiB apart (n = 512): with more than 64 rows B is packed, with fewer read in place.
  [72, 512, 40], [40, 512, 9],
  // Panels of 6 and 4 rows (panelRows): 5 (one padded 6), 7 (4 + a padded 4), 8 (4 + 4), 9, 10,
  // 11, 13, 14 rows; k with every remainder mod 4 (the packing transposes' tails).
  [5, 17, 9], [7, 33, 10], [8, 20, 11], [9, 16, 12], [10, 18, 3], [11, 40, 6], [13, 35, 7], [14, 16, 2],
  // B packed by the first micro-kernel pass (tilePack): rows of B 4 KiB apart (n = 1024), or
  // more rows than one block (m > MC = 144); whole and ragged column panels, k around KC.
  [6, 1024, 5], [13, 1024, 7], [32, 1024, 9], [4, 1024, 3], [150, 40, 300], [145, 33, 255], [290, 17, 257],
  [8, 1024, 6], [7, 1024, 258], // first panel of 4 rows
  [150, 2100, 3], // two column blocks (NC = 2048)
];
const SCALES: [number, number][] = [[1, 0], [0.5, 1], [-2, 0.25]];

// gemmPackedB (B packed once by packGemmB): rows 1–3 (the row path), 4, 5, a recurrent step's 32
// and more; n around the tile widths (8, 16) and 1024 (rows of B 4 KiB apart, which gemm packs
// whole on every call); k around the k block (256). The recurrent layers' own shapes: the LSTM at
// medium (32×1024×256 forward, 32×256×1024 backward), the seed LSTM's (1×400×100, 1×100×400).
const PACKED_SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 7, 255], [1, 100, 400], [1, 400, 100], [1, 1031, 257], [2, 17, 256], [2, 1024, 33], [3, 8, 513],
  [3, 41, 259], [4, 16, 256], [4, 1024, 256], [5, 17, 257], [5, 100, 1], [6, 9, 2], [32, 1024, 256], [32, 256, 1024],
  [32, 1031, 135], [33, 65, 257], [129, 17, 300], [0, 5, 3], [5, 0, 3], [3, 5, 0],
];
const TRANSPOSES: [boolean, boolean][] = [[false, false], [false, true], [true, false], [true, true]];

/** Splits every product, however small, into up to 2 chunks per thread: tests the split. */
const SPLIT_EVERYTHING: GemmTuning = { minParallelWork: 0, chunksPerThread: 2, minChunkCols: 1, minChunkRows: 1, minChunkWork: 1,
  minCellUnits: 0, minCellRows: 1 };


interface Case {
  m: number; n: number; k: number; ta: boolean; tb: boolean; alpha: number; beta: number;
  a: Float32Array; b: Float32Array; c0: Float32Array; expected: Float64Array;
  /** max over elements of |alpha|·Σ|a·b| + |beta·c|: what rounding errors are measured against. */
  scale: number;
}

const ref = new ReferenceOps('f64');
const cases = new Map<string, Case>();

/** The inputs and the float64 result of one product, made once and shared by every config. */
function getCase(m: number, n: number, k: number, ta: boolean, tb: boolean, alpha: number, beta: number): Case {
  const key = `${m}x${n}x${k}${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}${alpha},${beta}`;
  let c = cases.get(key);
  if (!c) {
    const rand = rng(m * 7919 + n * 104729 + k * 13 + (ta ? 1 : 0) + (tb ? 2 : 0) + alpha * 1000 + beta * 10);
    const fill = (len: number) => Float32Array.from({ length: len }, () => rand() * 2 - 1);
    const a = fill(m * k), b = fill(k * n);
    // beta = 0 must overwrite C, whatever it held: give it NaN.
    const c0 = beta === 0 ? new Float32Array(m * n).fill(Number.NaN) : fill(m * n);
    const out = ref.tensorFrom(beta === 0 ? new Float32Array(m * n) : c0);
    ref.gemm(ta, tb, m, n, k, alpha, ref.tensorFrom(a), ref.tensorFrom(b), beta, out);
    const mag = ref.tensorFrom(beta === 0 ? new Float32Array(m * n) : c0.map(Math.abs));
    ref.gemm(ta, tb, m, n, k, Math.abs(alpha), ref.tensorFrom(a.map(Math.abs)), ref.tensorFrom(b.map(Math.abs)), Math.abs(beta), mag);
    const scale = (mag.data as Float64Array).reduce((x, y) => Math.max(x, y), 0);
    c = { m, n, k, ta, tb, alpha, beta, a, b, c0, expected: out.data as Float64Array, scale };
    cases.set(key, c);
  }
  return c;
}

/**
 * max over elements of |got − expected| / scale, where scale is the largest magnitude of the
 * terms summed into that element, |alpha|·Σ_p |a_ip·b_pj| + |beta·c_ij| (over all elements): the
 * size f32 rounding errors scale with. (Dividing by |expected| alone fails on cancellation:
 * a 1×1 result of 0.01 made of terms near 1 is not a wrong kernel.)
 */
function relativeError(got: ArrayLike<number>, expected: ArrayLike<number>, scale: number): number {
  let maxErr = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(got[i] - expected[i]);
    maxErr = Number.isNaN(e) ? Infinity : Math.max(maxErr, e);
  }
  return scale > 0 ? maxErr / scale : maxErr;
}

/**
 * Runs one case through packGemmB + gemmPackedB on `ops`: B packed from a guarded view, with a
 * guard allocated right after the packed operand, the product run twice (the second time from the
 * packed operand the first one made); returns a failure message or null.
 */
function runPackedCase(ops: WasmOps, cs: Case, seq: number): string | null {
  const mark = ops.mark();
  try {
    const A = sentinelView(ops, cs.a, 1 + (seq % 3), 'A');
    const B = sentinelView(ops, cs.b, 2 + (seq % 5), 'B');
    const C = sentinelView(ops, cs.c0, 3 + (seq % 2), 'C');
    const P = ops.packedGemmB(cs.k, cs.n);
    const after = sentinelView(ops, [], 0, 'the memory after the packed operand');
    ops.packGemmB(cs.tb, cs.k, cs.n, B.t, P);
    const where = `packed ${cs.m}×${cs.n}×${cs.k} ${cs.ta ? 'T' : 'N'}${cs.tb ? 'T' : 'N'} alpha ${cs.alpha} beta ${cs.beta}`;
    ops.gemmPackedB(cs.ta, cs.m, cs.n, cs.k, cs.alpha, A.t, P, cs.beta, C.t);
    C.t.data.set(cs.c0);
    ops.gemmPackedB(cs.ta, cs.m, cs.n, cs.k, cs.alpha, A.t, P, cs.beta, C.t);
    const b2 = B.t.data;
    for (let i = 0; i < cs.b.length; i++) if (b2[i] !== cs.b[i]) return `${where}: B was modified at ${i}`;
    for (const g of [A, B, C, after]) {
      const err = g.check();
      if (err) return `${where}: ${err}`;
    }
    const a2 = A.t.data;
    for (let i = 0; i < cs.a.length; i++) if (a2[i] !== cs.a[i]) return `${where}: A was modified at ${i}`;
    const tol = 2e-6 * Math.sqrt(Math.max(1, cs.k));
    const rel = relativeError(C.t.data, cs.expected, cs.scale);
    return rel <= tol ? null : `${where}: relative error ${rel.toExponential(2)} > ${tol.toExponential(2)}`;
  } finally {
    ops.release(mark);
  }
}

/** Runs one case on `ops`; returns a failure message or null. */
function runCase(ops: WasmOps, cs: Case, seq: number): string | null {
  const mark = ops.mark();
  try {
    // Offsets cycling with different periods: every combination of misaligned starts comes up.
    const A = sentinelView(ops, cs.a, 1 + (seq % 3), 'A');
    const B = sentinelView(ops, cs.b, 2 + (seq % 5), 'B');
    const C = sentinelView(ops, cs.c0, 3 + (seq % 2), 'C');
    ops.gemm(cs.ta, cs.tb, cs.m, cs.n, cs.k, cs.alpha, A.t, B.t, cs.beta, C.t);
    const where = `${cs.m}×${cs.n}×${cs.k} ${cs.ta ? 'T' : 'N'}${cs.tb ? 'T' : 'N'} alpha ${cs.alpha} beta ${cs.beta}`;
    for (const g of [A, B, C]) {
      const err = g.check();
      if (err) return `${where}: ${err}`;
    }
    const a2 = A.t.data, b2 = B.t.data;
    for (let i = 0; i < cs.a.length; i++) if (a2[i] !== cs.a[i]) return `${where}: A was modified at ${i}`;
    for (let i = 0; i < cs.b.length; i++) if (b2[i] !== cs.b[i]) return `${where}: B was modified at ${i}`;
    // Each output sums k products of values in [-1, 1): f32 rounding grows like sqrt(k). An
    // indexing mistake (a wrong row, a lost k step, a missing beta) gives errors near 1.
    const tol = 2e-6 * Math.sqrt(Math.max(1, cs.k));
    const rel = relativeError(C.t.data, cs.expected, cs.scale);
    return rel <= tol ? null : `${where}: relative error ${rel.toExponential(2)} > ${tol.toExponential(2)}`;
  } finally {
    ops.release(mark);
  }
}

export function gemmSuite(opts: SuiteOptions): void {
  let backend: Awaited<ReturnType<SuiteOptions['load']>>;
  beforeAll(async () => { backend = await opts.load(); });

  for (const cfg of CONFIGS) {
    for (const threads of [1, 2]) {
      describe(`${cfg.label}, ${threads} thread${threads > 1 ? 's' : ''}`, () => {
        let ops: WasmOps | null = null;
        beforeAll(async () => {
          try {
            ops = await backend.createWasmOps({ path: cfg.path, fma: cfg.fma, threads, onNotice: () => {} });
          } catch (e) {
            if (!(e instanceof RangeError)) throw e; // RangeError: this process cannot run the path
          }
          if (ops && threads > 1) ops.gemmEngine.tuning = { ...SPLIT_EVERYTHING };
        });
        afterAll(() => ops?.dispose());

        it('matches the float64 reference on ragged shapes, all transposes and scales', (ctx) => {
          if (!ops) return ctx.skip();
          expect(ops.threads).toBe(threads);
          const failures: string[] = [];
          let seq = 0;
          for (const [m, n, k] of SHAPES) for (const [ta, tb] of TRANSPOSES) for (const [alpha, beta] of SCALES) {
            const err = runCase(ops, getCase(m, n, k, ta, tb, alpha, beta), seq++);
            if (err) failures.push(err);
          }
          expect(failures.slice(0, 10)).toEqual([]);
        });

        it('matches on random shapes', (ctx) => {
          if (!ops) return ctx.skip();
          const rand = rng(threads * 31 + CONFIGS.indexOf(cfg));
          const failures: string[] = [];
          for (let i = 0; i < 12; i++) {
            const dim = () => 1 + Math.floor(rand() ** 2 * 150);
            const [ta, tb] = TRANSPOSES[i % 4];
            const [alpha, beta] = SCALES[i % 3];
            const err = runCase(ops, getCase(dim(), dim(), dim(), ta, tb, alpha, beta), i);
            if (err) failures.push(err);
          }
          expect(failures).toEqual([]);
        });

        it('gives a product of fewer than 4 rows with B stored k×n the same bits as those rows of a 4-row one', (ctx) => {
          // The row path (m < 4) skips packing but must compute each element exactly as the
          // packed 4-row kernels do: the same k blocks, the same multiply-add, the same store.
          if (!ops) return ctx.skip();
          const rand = rng(7 + threads);
          const mismatches: string[] = [];
          for (const [n, k] of [[23, 301], [100, 400], [65, 9]]) {
            for (const ta of [false, true]) {
              const mark = ops.mark();
              try {
                const a4 = Float32Array.from({ length: 4 * k }, () => rand() * 2 - 1);
                const b = ops.tensorFrom(Float32Array.from({ length: k * n }, () => rand() * 2 - 1));
                const c0 = Float32Array.from({ length: 4 * n }, () => rand() * 2 - 1);
                const full = ops.tensorFrom(c0);
                // A stored k×4 when transposed: element (i, p) at p·4 + i.
                const aFull = ta ? Float32Array.from({ length: 4 * k }, (_, q) => a4[(q % 4) * k + Math.floor(q / 4)]) : a4;
                ops.gemm(ta, false, 4, n, k, 0.5, ops.tensorFrom(aFull), b, 1, full);
                const row = ops.tensorFrom(c0.subarray(0, n));
                ops.gemm(ta, false, 1, n, k, 0.5, ops.tensorFrom(a4.subarray(0, k)), b, 1, row);
                for (let j = 0; j < n; j++) {
                  if (!Object.is(row.data[j], full.data[j])) { mismatches.push(`1×${n}×${k} ${ta ? 'T' : 'N'}N column ${j}`); break; }
                }
              } finally {
                ops.release(mark);
              }
            }
          }
          expect(mismatches).toEqual([]);
        });

        it('gives every row of a product with B stored k×n the same bits as that row computed alone', (ctx) => {
          // Rows are computed by 6-row panels, 4-row panels, padded edge tiles merged from scratch
          // and (for the first panel of a block) the kernel that packs B as it reads it; a row
          // alone takes the unpacked row path. All must do each element's arithmetic alike: the
          // same k blocks, the same multiply-add from zero in each, the same alpha·acc + beta·C.
          if (!ops) return ctx.skip();
          const rand = rng(13 + threads);
          const mismatches: string[] = [];
          for (const [m, n, k] of [[13, 1024, 9], [8, 1024, 7], [32, 1024, 20], [11, 40, 300], [150, 40, 30], [7, 36, 5]]) {
            for (const ta of [false, true]) {
              const mark = ops.mark();
              try {
                const rows = Float32Array.from({ length: m * k }, () => rand() * 2 - 1); // A, row i at i·k
                const b = ops.tensorFrom(Float32Array.from({ length: k * n }, () => rand() * 2 - 1));
                const c0 = Float32Array.from({ length: m * n }, () => rand() * 2 - 1);
                const all = ops.tensorFrom(c0);
                // A stored k×m when transposed: element (i, p) at p·m + i.
                const a = ta ? Float32Array.from({ length: m * k }, (_, q) => rows[(q % m) * k + Math.floor(q / m)]) : rows;
                ops.gemm(ta, false, m, n, k, 0.5, ops.tensorFrom(a), b, 1, all);
                for (let i = 0; i < m && mismatches.length === 0; i++) {
                  const one = ops.tensorFrom(c0.subarray(i * n, (i + 1) * n));
                  ops.gemm(ta, false, 1, n, k, 0.5, ops.tensorFrom(rows.subarray(i * k, (i + 1) * k)), b, 1, one);
                  for (let j = 0; j < n; j++) {
                    if (!Object.is(one.data[j], all.data[i * n + j])) { mismatches.push(`${m}×${n}×${k} ${ta ? 'T' : 'N'}N row ${i} column ${j}`); break; }
                  }
                }
              } finally {
                ops.release(mark);
              }
            }
          }
          expect(mismatches).toEqual([]);
        });

        it('gives each column of a fewer-than-4-row product with B stored n×k the same bits whether computed in a group or alone', (ctx) => {
          // The dot path reduces columns 8 and 4 at a time (one vector of lane sums) and the
          // last ones singly: every column must add its lanes in the same order either way.
          if (!ops) return ctx.skip();
          const rand = rng(11 + threads);
          const mismatches: string[] = [];
          for (const [n, k] of [[13, 400], [100, 400], [15, 9]]) {
            const mark = ops.mark();
            try {
              const a = ops.tensorFrom(Float32Array.from({ length: k }, () => rand() * 2 - 1));
              const bRows = Float32Array.from({ length: n * k }, () => rand() * 2 - 1);
              const c0 = Float32Array.from({ length: n }, () => rand() * 2 - 1);
              const all = ops.tensorFrom(c0);
              ops.gemm(false, true, 1, n, k, 0.5, a, ops.tensorFrom(bRows), 1, all);
              for (let j = 0; j < n; j++) {
                const one = ops.tensorFrom(c0.subarray(j, j + 1));
                ops.gemm(false, true, 1, 1, k, 0.5, a, ops.tensorFrom(bRows.subarray(j * k, (j + 1) * k)), 1, one);
                if (!Object.is(one.data[0], all.data[j])) { mismatches.push(`1×${n}×${k} NT column ${j}`); break; }
              }
            } finally {
              ops.release(mark);
            }
          }
          expect(mismatches).toEqual([]);
        });

        it('gemmPackedB matches the float64 reference on ragged shapes, all transposes and scales', (ctx) => {
          if (!ops) return ctx.skip();
          const failures: string[] = [];
          let seq = 0;
          // (the recurrent step's big shapes with one scale: their float64 reference costs seconds)
          for (const [m, n, k] of PACKED_SHAPES) for (const [ta, tb] of TRANSPOSES) for (const [alpha, beta] of m * n * k > 2e6 ? [SCALES[1]] : SCALES) {
            const err = runPackedCase(ops, getCase(m, n, k, ta, tb, alpha, beta), seq++);
            if (err) failures.push(err);
          }
          expect(failures.slice(0, 10)).toEqual([]);
        });

        it('gemmPackedB matches on random shapes', (ctx) => {
          if (!ops) return ctx.skip();
          const rand = rng(threads * 37 + CONFIGS.indexOf(cfg));
          const failures: string[] = [];
          for (let i = 0; i < 12; i++) {
            const dim = () => 1 + Math.floor(rand() ** 2 * 300);
            const [ta, tb] = TRANSPOSES[i % 4];
            const [alpha, beta] = SCALES[i % 3];
            const err = runPackedCase(ops, getCase(i % 6 === 0 ? 1 + (i % 5) : dim(), dim(), dim(), ta, tb, alpha, beta), i);
            if (err) failures.push(err);
          }
          expect(failures).toEqual([]);
        });

        it('gives gemmPackedB split across threads the same bits as unsplit', (ctx) => {
          // Every element is computed by the same code whichever chunk (thread) takes its column or
          // row, so the split product must equal the whole one exactly. Whether the worker takes a
          // chunk depends on scheduling: repeated back to back, while it spins.
          if (!ops || threads === 1) return ctx.skip();
          const saved = ops.gemmEngine.tuning;
          const rand = rng(53);
          const mismatches: string[] = [];
          try {
            for (const [m, n, k, tb] of [[1, 400, 100, 0], [3, 1031, 257, 1], [32, 1024, 256, 0], [32, 256, 1024, 1], [37, 129, 33, 1],
              [130, 40, 70, 0]] as const) {
              const mark = ops.mark();
              try {
                const A = ops.tensorFrom(Float32Array.from({ length: m * k }, () => rand() * 2 - 1));
                const B = ops.tensorFrom(Float32Array.from({ length: k * n }, () => rand() * 2 - 1));
                const c0 = Float32Array.from({ length: m * n }, () => rand() * 2 - 1);
                const P = ops.packedGemmB(k, n);
                ops.packGemmB(tb === 1, k, n, B, P);
                const C = ops.tensorFrom(c0);
                ops.gemmEngine.tuning = { ...DEFAULT_TUNING, minParallelWork: Infinity };
                ops.gemmPackedB(false, m, n, k, 0.5, A, P, 1, C);
                const want = Float32Array.from(C.data);
                ops.gemmEngine.tuning = { ...SPLIT_EVERYTHING, chunksPerThread: 8 };
                for (let round = 0; round < 8; round++) {
                  C.data.set(c0);
                  ops.gemmPackedB(false, m, n, k, 0.5, A, P, 1, C);
                  if (!Buffer.from(C.data.buffer, C.data.byteOffset, C.data.byteLength).equals(Buffer.from(want.buffer))) {
                    mismatches.push(`${m}×${n}×${k} tb ${tb} round ${round}`);
                    break;
                  }
                }
              } finally {
                ops.release(mark);
              }
            }
          } finally {
            ops.gemmEngine.tuning = saved;
          }
          expect(mismatches).toEqual([]);
        });

        it('runs products above the threading threshold with its default setting', (ctx) => {
          if (!ops) return ctx.skip();
          const saved = ops.gemmEngine.tuning;
          ops.gemmEngine.tuning = { ...DEFAULT_TUNING };
          try {
            const [m, n, k] = [96, 300, 100];
            expect(m * n * k).toBeGreaterThan(DEFAULT_TUNING.minParallelWork);
            const failures: string[] = [];
            for (const [ta, tb] of TRANSPOSES) {
              const err = runCase(ops, getCase(m, n, k, ta, tb, 0.5, 1), 0) ?? runPackedCase(ops, getCase(m, n, k, ta, tb, 0.5, 1), 0);
              if (err) failures.push(err);
            }
            expect(failures).toEqual([]);
          } finally {
            ops.gemmEngine.tuning = saved;
          }
        });
      });
    }
  }

  describe('views', () => {
    it('computes on slices of one buffer made with view(offset, size)', async () => {
      const ops = await backend.createWasmOps({ threads: 2, onNotice: () => {} });
      ops.gemmEngine.tuning = { ...SPLIT_EVERYTHING };
      try {
        const m = 13, n = 21, k = 9;
        const rand = rng(99);
        const a = Float32Array.from({ length: m * k }, () => rand() - 0.5);
        const b = Float32Array.from({ length: k * n }, () => rand() - 0.5);
        // One buffer: [pad 5 | A | pad 3 | B | pad 2 | C | pad 4]
        const offA = 5, offB = offA + m * k + 3, offC = offB + k * n + 2, total = offC + m * n + 4;
        const buf = ops.tensor(total);
        buf.data.fill(SENTINEL);
        buf.view(offA, m * k).data.set(a);
        buf.view(offB, k * n).data.set(b);
        const C = buf.view(offC, m * n);
        ops.gemm(false, false, m, n, k, 1, buf.view(offA, m * k), buf.view(offB, k * n), 0, C);
        const out = ref.tensor(m * n);
        ref.gemm(false, false, m, n, k, 1, ref.tensorFrom(a), ref.tensorFrom(b), 0, out);
        expect(relativeError(C.data, out.data, 1)).toBeLessThan(1e-5);
        const d = buf.data;
        const inside = (i: number) => (i >= offA && i < offA + m * k) || (i >= offB && i < offB + k * n) || (i >= offC && i < offC + m * n);
        for (let i = 0; i < total; i++) if (!inside(i)) expect(d[i]).toBe(SENTINEL);
        // A view that is too small is refused before any kernel runs.
        expect(() => ops.gemm(false, false, m, n, k, 1, buf.view(offA, m * k - 1), buf.view(offB, k * n), 0, C)).toThrow(RangeError);
      } finally {
        ops.dispose();
      }
    });
  });

  if (opts.exitTest) {
    it('lets a process that never calls dispose() exit', () => {
      // Worker threads are unref()ed: a script that forgets dispose() must still end.
      const index = fileURLToPath(new URL('../../src/backends/wasm/index.ts', import.meta.url));
      const dir = mkdtempSync(join(tmpdir(), 'handgrad-gemm-'));
      const script = join(dir, 'no-dispose.mts');
      writeFileSync(script, `const { createWasmOps } = await import(${JSON.stringify(pathToFileURL(index).href)});
        const ops = await createWasmOps({ threads: 2 });
        const A = ops.tensor(256 * 256);
        ops.gemm(false, false, 256, 256, 256, 1, A, A, 0, ops.tensor(256 * 256));
        console.log('done', ops.threads);\n`);
      try {
        const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 30_000 });
        expect(r.error).toBeUndefined();
        expect(r.stdout.trim()).toBe('done 2');
        expect(r.status).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
}
