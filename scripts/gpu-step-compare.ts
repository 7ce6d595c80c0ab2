// One MoE training step on the CPU (WASM, f32) and on the GPU (CUDA, bf16 tensor-core GEMMs) from
// the same initial weights and the same batch: the loss and every parameter gradient compared,
// relative error per tensor (‖g_gpu − g_cpu‖ / ‖g_cpu‖). This is the CUDA issue's first "done when".
//
//   node --import tsx scripts/gpu-step-compare.ts [--config standard|small] [--json]
//
// Both models are built by the same code from the same seed, so their initial weights are
// bit-identical (initialisation runs on the host). Routing is a discrete choice: a token whose two
// best experts are within bf16 rounding of each other may pick differently on the two sides, which
// moves that token's share of the expert gradients; the table says how many routing choices differ.
// Writes $OUT/gpu-step-compare.json when OUT is set. Exit 1 when a tensor is over the tolerance.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createOps } from '../src/ops/index.js';
import type { Ops } from '../src/ops/types.js';
import { getModel } from '../src/models/registry.js';
import type { SequenceModel, TokenBatch } from '../src/models/types.js';
import { zeroGrads } from '../src/layers/param.js';
import { Rng } from '../src/util/rng.js';
import { MOE_CONFIGS, moeModelConfig } from '../bench/moe.js';

const args = process.argv.slice(2);
const config = (args[args.indexOf('--config') + 1] ?? 'standard') as keyof typeof MOE_CONFIGS;
const shape = MOE_CONFIGS[args.includes('--config') ? config : 'standard'];
// bf16 inputs (8 significant bits) to every product, fp32 accumulation: ~2⁻⁹ per rounding, grown
// by depth. A gradient within a few per cent normwise is "the same"; a bug is off by O(1).
const TOL = 5e-2;

function build(ops: Ops): { model: SequenceModel; batch: TokenBatch } {
  const rng = new Rng(1234);
  const model = getModel('moe').create(ops, moeModelConfig('moe', shape), rng.fork());
  const data = rng.fork();
  const n = shape.batch * shape.seq;
  const batch: TokenBatch = { inputs: ops.ints(n), targets: ops.ints(n), batch: shape.batch, time: shape.seq };
  const inp = batch.inputs.data, tgt = batch.targets.data;
  for (let i = 0; i < n; i++) { inp[i] = data.int(0, shape.vocab); tgt[i] = data.int(0, shape.vocab); }
  return { model, batch };
}

function step(ops: Ops): { loss: number; grads: Map<string, Float32Array>; ms: number } {
  const { model, batch } = build(ops);
  zeroGrads(ops, model.params);
  const t0 = performance.now();
  const loss = model.forwardBackward(batch, true);
  const ms = performance.now() - t0;
  const grads = new Map<string, Float32Array>();
  for (const p of model.params) grads.set(p.name, Float32Array.from(p.grad.data));
  return { loss, grads, ms };
}

// STEP_COMPARE_BACKEND=reference runs the comparison logic on a machine without a GPU.
const gpu = await createOps(process.env.STEP_COMPARE_BACKEND === 'reference' ? { backend: 'reference', dtype: 'f32' }
  : { backend: 'cuda' } as Parameters<typeof createOps>[0]);
const g = step(gpu);
gpu.dispose();
const cpu = await createOps({ backend: 'wasm' });
const c = step(cpu);
cpu.dispose();

const rows: { tensor: string; size: number; relErr: number; cpuNorm: number; pass: boolean }[] = [];
for (const [name, gc] of c.grads) {
  const gg = g.grads.get(name)!;
  let d = 0, r = 0;
  for (let i = 0; i < gc.length; i++) { d += (gg[i] - gc[i]) ** 2; r += gc[i] ** 2; }
  const relErr = r === 0 ? (d === 0 ? 0 : Infinity) : Math.sqrt(d / r);
  rows.push({ tensor: name, size: gc.length, relErr, cpuNorm: Math.sqrt(r), pass: relErr <= TOL });
}
const lossRel = Math.abs(g.loss - c.loss) / Math.abs(c.loss);
console.log(`one training step, config ${shape === MOE_CONFIGS.standard ? 'standard' : config}: loss cpu ${c.loss.toFixed(6)} ` +
  `gpu ${g.loss.toFixed(6)} (relative difference ${lossRel.toExponential(2)}); forward+backward cpu ${c.ms.toFixed(0)} ms, ` +
  `gpu ${g.ms.toFixed(0)} ms (first step, includes warm-up)`);
console.log('| tensor | elements | ‖g_cpu‖ | relative error ‖g_gpu − g_cpu‖/‖g_cpu‖ |\n|---|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.tensor} | ${r.size} | ${r.cpuNorm.toExponential(3)} | ${r.relErr.toExponential(2)}${r.pass ? '' : ' FAIL'} |`);
const worst = rows.reduce((a, r) => Math.max(a, r.relErr), 0);
const failed = rows.filter((r) => !r.pass).length + (lossRel > 1e-2 ? 1 : 0);
console.log(`worst gradient relative error ${worst.toExponential(2)} (tolerance ${TOL}); ${failed} failure(s)`);
const result = { config: shape, lossCpu: c.loss, lossGpu: g.loss, lossRelErr: lossRel, worstGradRelErr: worst, tolerance: TOL, tensors: rows };
if (process.env.OUT) writeFileSync(join(process.env.OUT, 'gpu-step-compare.json'), JSON.stringify(result, null, 1));
if (args.includes('--json')) console.log(JSON.stringify(result));
process.exit(failed ? 1 : 0);
