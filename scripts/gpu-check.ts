// GPU conformance check without vitest, for the GPU machine (Node + a minimal node_modules):
//   node --import tsx scripts/gpu-check.ts [name filter] [--debug]
// Runs every case of src/backends/cuda/conformance.ts on the CUDA backend against the float64
// reference, prints one line per case (PASS/FAIL, normwise and elementwise error, tolerances),
// writes $OUT/gpu-check.json when OUT is set, and exits 1 on any failure (2 when CUDA is unavailable).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cudaStatus } from '../src/backends/cuda/index.js';
import { createCudaOps } from '../src/backends/cuda/ops.js';
import { formatResult, runConformance, type CaseResult } from '../src/backends/cuda/conformance.js';
import { ReferenceOps } from '../src/backends/reference/index.js';

const args = process.argv.slice(2);
const debug = args.includes('--debug');
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
  results = runConformance(ops, ref, filter, (r) => console.log(formatResult(r)));
  ops.synchronize();
} catch (e) {
  fatal = (e as Error).stack ?? String(e);
  console.log(`FATAL ${fatal}`);
}
const failed = results.filter((r) => !r.pass);
const mem = ops.memory();
const seconds = (performance.now() - t0) / 1000;
console.log(`${results.length - failed.length}/${results.length} passed in ${seconds.toFixed(1)} s; ` +
  `peak device memory ${(mem.peakBytes / 2 ** 20).toFixed(1)} MiB of ${(mem.totalDevice / 2 ** 30).toFixed(1)} GiB`);
if (failed.length) console.log(`FAILED: ${failed.map((r) => r.name).join(', ')}`);
writeJson({ available: true, device: ops.name, devices: status.devices, node: process.version, seconds, memory: mem,
  passed: results.length - failed.length, failed: failed.length, fatal, results });
ops.dispose();
process.exit(failed.length || fatal ? 1 : 0);
