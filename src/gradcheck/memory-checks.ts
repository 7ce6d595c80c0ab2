// Gradient checks for the associative memories of src/layers/linear-memory.ts and
// continuum-memory.ts: the Hebbian rule, the delta rule (plain inner GD), the delta rule with an
// inner momentum and with an inner Adam, one delta memory committing every 3 steps, and a three-level
// continuum memory (periods 1, 4, 16 over T = 17, so the slow level commits once, at t = 16, and
// is read at t = 16 and 17), and three whole memory-lm models (src/models/memory-lm.ts: two or
// three heads, two blocks, levels 1 and 3 over T = 7; one delta/gd with summed levels, one
// delta/Adam with unnormalised keys, one Hebbian/momentum with learned level weights and RMSNorm/GELU).
//
// Every check runs BPTT through every memory update: L = Σ w ⊙ y over all steps. Projections are
// N(0, 0.5²); the unnormalised rules use a small η so the memory stays bounded over T steps.
// Three more check the op itself (Ops.memoryForward / memoryBackward) on raw k, v, q, without the
// layer's projections: delta/momentum committing every 3 steps and Hebbian/Adam every 2 (T = 8 and
// 7, so each ends on a partial chunk that is never committed), and two delta/momentum memories in
// one call (MemoryShape.heads) normalising their keys and queries inside the op.
import type { MemoryShape, Ops, Tensor } from '../ops/types.js';
import { memorySavedSize } from '../ops/memory-recurrence.js';
import type { Rng } from '../util/rng.js';
import type { Param } from '../layers/param.js';
import { layerCheckable, RandomProjection, randomCheckTensor, type Checkable } from './harness.js';
import type { GradCheckDef } from './types.js';
import { LinearMemory, type LinearMemoryOptions } from '../layers/linear-memory.js';
import { ContinuumMemory, type ContinuumMemoryOptions } from '../layers/continuum-memory.js';
import { MemoryLM, MEMORY_LM_DEFAULTS, type MemoryLMConfig } from '../models/memory-lm.js';
import { modelCheck, randomBatch } from './model-checks.js';

function randomize(params: Param[], rng: Rng, std = 0.5): void {
  for (const p of params) rng.fillNormal(p.value.data, 0, std);
}

interface MemoryLayer {
  params: Param[];
  forward(x: Tensor, y: Tensor, B: number, T: number): void;
  backward(x: Tensor, dy: Tensor, dx: Tensor, B: number, T: number): void;
}

/** A memory layer x [B·T, inDim] → y [B·T, dv] through layerCheckable (x, then the projection, drawn after build's draws). */
function layerCheck(name: string, B: number, T: number, inDim: number, dv: number,
  build: (ops: Ops, rng: Rng) => MemoryLayer): GradCheckDef {
  return {
    name,
    make(ops: Ops, rng: Rng): Checkable {
      const layer = build(ops, rng);
      return layerCheckable(ops, rng, name, layer.params, B * T * inDim, B * T * dv,
        (x, y) => layer.forward(x, y, B, T), (x, dy, dx) => layer.backward(x, dy, dx, B, T));
    },
  };
}

/** A LinearMemory x [2·6, 5] → y [2·6, 3] with dk = 4. */
function memoryCheck(name: string, opts: LinearMemoryOptions, T = 6): GradCheckDef {
  const B = 2, inDim = 5, dk = 4, dv = 3;
  return layerCheck(name, B, T, inDim, dv, (ops, rng) => {
    const m = new LinearMemory(ops, 'mem', inDim, dk, dv, rng, opts);
    randomize(m.params, rng);
    return m;
  });
}

/** A ContinuumMemory x [1·17, 4] → y [1·17, 3], dk = 3, periods 1, 4, 16. */
function continuumCheck(name: string, opts: ContinuumMemoryOptions): GradCheckDef {
  const B = 1, T = 17, inDim = 4, dk = 3, dv = 3;
  return layerCheck(name, B, T, inDim, dv, (ops, rng) => {
    const m = new ContinuumMemory(ops, 'cms', inDim, dk, dv, rng, opts);
    randomize(m.levels.flatMap((l) => l.params), rng);
    if (m.alpha) rng.fillNormal(m.alpha.value.data, 0.5, 0.3);
    return m;
  });
}

/** The op alone: k, q [H·2·T, 3], v [H·2·T, 4] → y (H = shape.heads ?? 1); gradients of all three from memoryBackward. */
function opCheck(name: string, shape: Omit<MemoryShape, 'B' | 'dk' | 'dv'>): GradCheckDef {
  const s: MemoryShape = { ...shape, B: 2, dk: 3, dv: 4 }, n = s.B * s.T * (s.heads ?? 1);
  return {
    name,
    make(ops: Ops, rng: Rng): Checkable {
      const k = randomCheckTensor(ops, 'k', n * s.dk, rng), v = randomCheckTensor(ops, 'v', n * s.dv, rng);
      const q = randomCheckTensor(ops, 'q', n * s.dk, rng);
      const y = ops.tensor(n * s.dv), dy = ops.tensor(n * s.dv), saved = ops.tensor(memorySavedSize(s));
      const proj = new RandomProjection(ops, n * s.dv, rng);
      return {
        name,
        params: [],
        inputs: [k, v, q],
        loss() { ops.memoryForward(k.value, v.value, q.value, y, saved, s); return proj.loss(y); },
        backward() {
          proj.backward(dy);
          ops.memoryBackward(k.value, v.value, q.value, saved, dy, k.grad, v.grad, q.grad, s);
        },
      };
    },
  };
}

/** A tiny memory-lm: V = 7, C = 6 in 2 heads of 3, 2 blocks, levels with periods 1 and 3. */
export function smallMemoryLMConfig(extra: Partial<MemoryLMConfig> = {}): MemoryLMConfig {
  return { ...MEMORY_LM_DEFAULTS, vocabSize: 7, layers: 2, heads: 2, dModel: 6, ffHidden: 8, levels: 2, periodBase: 3, ...extra };
}

export const MEMORY_CHECKS: GradCheckDef[] = [
  memoryCheck('memory-hebbian', { rule: 'hebbian', optimizer: 'gd', eta: 0.5 }),
  memoryCheck('memory-hebbian-normalized', { rule: 'hebbian', optimizer: 'gd', eta: 1, normalize: true }),
  memoryCheck('memory-delta', { rule: 'delta', optimizer: 'gd', eta: 0.7, normalize: true }),
  memoryCheck('memory-delta-raw', { rule: 'delta', optimizer: 'gd', eta: 0.2 }),
  memoryCheck('memory-momentum', { rule: 'delta', optimizer: 'momentum', eta: 0.4, beta: 0.7, normalize: true }),
  memoryCheck('memory-adam', { rule: 'delta', optimizer: 'adam', eta: 0.1, beta1: 0.8, beta2: 0.9, eps: 1e-2, normalize: true }),
  memoryCheck('memory-delta-period3', { rule: 'delta', optimizer: 'momentum', eta: 0.5, beta: 0.6, normalize: true, period: 3 }, 8),
  opCheck('memory-op-delta-momentum', { T: 8, rule: 'delta', optimizer: 'momentum', eta: 0.2, beta: 0.6, beta1: 0.9, beta2: 0.999, eps: 1e-8, period: 3 }),
  opCheck('memory-op-hebbian-adam', { T: 7, rule: 'hebbian', optimizer: 'adam', eta: 0.1, beta: 0.9, beta1: 0.8, beta2: 0.9, eps: 1e-2, period: 2 }),
  // Two memories in one call, keys and queries normalised inside the op (raw k, q get the gradient).
  opCheck('memory-op-delta-normalize-heads', { T: 7, rule: 'delta', optimizer: 'momentum', eta: 0.5, beta: 0.6, beta1: 0.9, beta2: 0.999,
    eps: 1e-8, period: 2, heads: 2, normalize: true }),
  continuumCheck('continuum', { rule: 'delta', optimizer: 'gd', eta: 0.8, normalize: true, mix: 'learned' }),
  continuumCheck('continuum-momentum-sum', { rule: 'delta', optimizer: 'momentum', eta: 0.3, beta: 0.5, normalize: true }),
  modelCheck('memory-lm', (ops, rng) => ({ model: new MemoryLM(ops, smallMemoryLMConfig(), rng), batch: randomBatch(ops, rng, 7, 2, 7) })),
  // Unnormalised keys with an inner Adam: the heads' one call per level (layers/memory-heads.ts) on
  // the op's Adam path and without its in-op normalisation, and three heads of 2.
  modelCheck('memory-lm-adam-raw', (ops, rng) => ({
    model: new MemoryLM(ops, smallMemoryLMConfig({ heads: 3, innerOptimizer: 'adam', innerLr: 0.1, normalize: false }), rng),
    batch: randomBatch(ops, rng, 7, 2, 7),
  })),
  modelCheck('memory-lm-hebbian-momentum-learned', (ops, rng) => ({
    model: new MemoryLM(ops, smallMemoryLMConfig({ rule: 'hebbian', innerOptimizer: 'momentum', innerLr: 0.5, mix: 'learned',
      norm: 'rmsnorm', ffn: 'gelu' }), rng),
    batch: randomBatch(ops, rng, 7, 2, 7),
  })),
];
