// GPU conformance check without vitest, for the GPU machine (Node + a minimal node_modules):
//   node --import tsx scripts/gpu-check.ts [name filter] [--debug] [--bench]
// --bench adds a few timings of the fp32 kernels at MoE-transformer sizes and the per-op cost of
// a call from JS (reported, never asserted).
// Runs every case of src/backends/conformance.ts on the CUDA backend against the float64
// reference, prints one line per case (PASS/FAIL, normwise and elementwise error, tolerances),
// writes $OUT/gpu-check.json when OUT is set, and exits 1 on any failure (2 when CUDA is unavailable).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cudaStatus } from '../src/backends/cuda/index.js';
import { createCudaOps } from '../src/backends/cuda/ops.js';
import { CUDA_CONFORMANCE, formatResult, runConformance, type CaseResult } from '../src/backends/conformance.js';
import { ReferenceOps } from '../src/backends/reference/index.js';

const args = process.argv.slice(2);
const debug = args.includes('--debug');
const bench = args.includes('--bench');
const filter = args.find((a) => !a.startsWith('--'));

function writeJson(report: object): void {
  const out = process.env.OUT;
  if (!out) return;
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'gpu-check.json'), JSON.stringify(report, null, 2));
}

const status = cudaStatus();
if (!status.available) {
  console.log(`CUDA unavailable: ${status.reason}`);
  writeJson({ available: false, reason: status.reason, node: process.version });
  process.exit(2);
}

const ops = createCudaOps({ debug });
const ref = new ReferenceOps('f64');
console.log(`${ops.name} (${status.devices.join('; ')}), node ${process.version}${debug ? ', debug sync' : ''}${filter ? `, filter '${filter}'` : ''}`);
const t0 = performance.now();
let results: CaseResult[] = [];
let fatal: string | undefined;
try {
  results = runConformance(ops, ref, { ...CUDA_CONFORMANCE, filter, onResult: (r) => console.log(formatResult(r)) });
  ops.synchronize();
} catch (e) {
  fatal = (e as Error).stack ?? String(e);
  console.log(`FATAL ${fatal}`);
}
let timings: BenchResult[] = [];
if (bench && !fatal) {
  try { timings = runBench(ops); } catch (e) { console.log(`bench failed: ${(e as Error).message}`); }
}
const failed = results.filter((r) => !r.pass);
const mem = ops.memory();
const seconds = (performance.now() - t0) / 1000;
console.log(`${results.length - failed.length}/${results.length} passed in ${seconds.toFixed(1)} s; ` +
  `peak device memory ${(mem.peakBytes / 2 ** 20).toFixed(1)} MiB of ${(mem.totalDevice / 2 ** 30).toFixed(1)} GiB`);
if (failed.length) console.log(`FAILED: ${failed.map((r) => r.name).join(', ')}`);
writeJson({ available: true, device: ops.name, devices: status.devices, node: process.version, seconds, memory: mem,
  passed: results.length - failed.length, failed: failed.length, fatal, results, bench: timings });
ops.dispose();
process.exit(failed.length || fatal ? 1 : 0);

interface BenchResult { name: string; usPerCall: number; gbPerS?: number }

/** Median-free simple timing: warm up, then `reps` calls between two synchronisations. */
function runBench(ops: ReturnType<typeof createCudaOps>): BenchResult[] {
  const out: BenchResult[] = [];
  const time = (name: string, reps: number, bytes: number, fn: () => void) => {
    fn();
    ops.synchronize();
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    ops.synchronize();
    const us = ((performance.now() - t0) * 1000) / reps;
    const r: BenchResult = { name, usPerCall: us, gbPerS: bytes ? bytes / (us * 1e3) : undefined };
    out.push(r);
    console.log(`bench ${name.padEnd(44)} ${us.toFixed(1).padStart(9)} µs${r.gbPerS ? `  ${r.gbPerS.toFixed(0).padStart(5)} GB/s` : ''}`);
  };
  const m = ops.mark();
  const tiny = ops.tensor(256);
  time('per-op overhead: scale(256 floats)', 10000, 0, () => ops.scale(tiny, 1));
  const N = 1 << 26; // 64M floats
  const a = ops.tensor(N), b = ops.tensor(N), c = ops.tensor(N);
  time('add 64M floats', 20, 12 * N, () => ops.add(a, b, c));
  time('axpy 64M floats', 20, 12 * N, () => ops.axpy(0.5, a, b));
  time('activation gelu 64M floats', 20, 8 * N, () => ops.activation('gelu', a, c));
  time('sumSquares 64M floats (sync + read back)', 20, 4 * N, () => { ops.sumSquares(a); });
  const P = 38_000_000, w = ops.tensor(P), g = ops.tensor(P), mm = ops.tensor(P), vv = ops.tensor(P);
  time('adamw 38M params', 20, 28 * P, () => ops.adam(w, g, mm, vv, { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, decoupled: true, step: 3 }));
  const R = 8192, C = 512, x = ops.tensor(R * C), y = ops.tensor(R * C), gam = ops.tensor(C), bet = ops.tensor(C);
  const mu = ops.tensor(R), rs = ops.tensor(R), dx = ops.tensor(R * C), dg = ops.tensor(C), db = ops.tensor(C);
  ops.fill(gam, 1);
  time('layerNorm 8192×512', 100, 8 * R * C, () => ops.layerNorm(x, gam, bet, y, mu, rs, R, C, 1e-5));
  time('layerNormBackward 8192×512', 100, 12 * R * C, () => ops.layerNormBackward(x, gam, mu, rs, y, dx, dg, db, R, C));
  time('sumRows 8192×512', 100, 4 * R * C, () => ops.sumRows(x, dg, R, C));
  const V = 4096, lg = ops.tensor(R * V), tg = ops.intsFrom(Array.from({ length: R }, (_, i) => i % V));
  time('softmaxCrossEntropy 8192×4096 (+ read back)', 20, 8 * R * V, () => { ops.softmaxCrossEntropy(lg, tg, R, V, lg, 1 / R); });
  time('softmax 8192×4096', 20, 8 * R * V, () => ops.softmax(lg, lg, R, V));
  const emb = ops.tensor(V * C), ids = ops.intsFrom(Array.from({ length: R }, (_, i) => (i * 7) % V));
  time('embedding 8192×512', 100, 8 * R * C, () => ops.embedding(emb, ids, y, R, C));
  time('embeddingBackward 8192×512', 100, 12 * R * C, () => ops.embeddingBackward(y, ids, emb, R, C));
  ops.release(m);
  return out;
}
