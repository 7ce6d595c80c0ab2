// Gradient checks for the transformer family: causal self-attention (1 and 2 heads), LayerNorm and
// RMSNorm, the SwiGLU and GELU feed-forward blocks, learned positions, one full pre-norm block,
// and the whole language model (two variants, so every option is on a checked path).
//
// Sizes are small and odd-ish (B = 2, T = 5 or 6, C = 6 or 8) so that a transposed index, a head
// mixed up with another, or a mask off by one cannot hide. Parameters are randomised (N(0, 0.5²))
// so that gamma ≠ 1, beta ≠ 0 and no product vanishes.
import type { Ops } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import type { Param } from '../layers/param.js';
import { RandomProjection, randomCheckTensor, type Checkable } from './harness.js';
import type { GradCheckDef } from './registry.js';
import { modelCheck, randomBatch } from './model-checks.js';
import { CausalSelfAttention } from '../layers/attention.js';
import { Norm, type NormKind } from '../layers/layernorm.js';
import { FeedForward, type FfnKind } from '../layers/feedforward.js';
import { Positional } from '../layers/positional.js';
import { TransformerBlock, TransformerLM, type TransformerConfig } from '../models/transformer.js';

function randomize(params: Param[], rng: Rng, std = 0.5): void {
  for (const p of params) rng.fillNormal(p.value.data, 0, std);
}

/** Attention on x [B·T, C], L = Σ w ⊙ y: every parameter and dx. */
export function attentionCheck(heads: number, B = 2, T = 6, C = 6): GradCheckDef {
  const name = `attention-h${heads}`;
  return {
    name,
    make(ops: Ops, rng: Rng): Checkable {
      const attn = new CausalSelfAttention(ops, 'attn', C, heads, rng);
      randomize(attn.params, rng);
      const x = randomCheckTensor(ops, 'x', B * T * C, rng);
      const y = ops.tensor(B * T * C), dy = ops.tensor(B * T * C);
      const proj = new RandomProjection(ops, B * T * C, rng);
      return {
        name,
        params: attn.params,
        inputs: [x],
        loss() { attn.forward(x.value, y, B, T); return proj.loss(y); },
        backward() { proj.backward(dy); attn.backward(x.value, dy, x.grad, B, T); },
      };
    },
  };
}

function normCheck(kind: NormKind): GradCheckDef {
  return {
    name: kind,
    make(ops: Ops, rng: Rng): Checkable {
      const n = 4, C = 7;
      const norm = new Norm(ops, kind, C, rng, { kind });
      randomize(norm.params, rng);
      const x = randomCheckTensor(ops, 'x', n * C, rng, 2);
      const y = ops.tensor(n * C), dy = ops.tensor(n * C);
      const proj = new RandomProjection(ops, n * C, rng);
      return {
        name: kind,
        params: norm.params,
        inputs: [x],
        loss() { norm.forward(x.value, y, n); return proj.loss(y); },
        backward() { proj.backward(dy); norm.backward(x.value, dy, x.grad, n); },
      };
    },
  };
}

function ffnCheck(kind: FfnKind): GradCheckDef {
  const name = `ffn-${kind}`;
  return {
    name,
    make(ops: Ops, rng: Rng): Checkable {
      const n = 5, C = 6, F = 9;
      const ffn = new FeedForward(ops, 'ffn', C, F, rng, { kind });
      randomize(ffn.params, rng);
      const x = randomCheckTensor(ops, 'x', n * C, rng);
      const y = ops.tensor(n * C), dy = ops.tensor(n * C);
      const proj = new RandomProjection(ops, n * C, rng);
      return {
        name,
        params: ffn.params,
        inputs: [x],
        loss() { ffn.forward(x.value, y, n); return proj.loss(y); },
        backward() { proj.backward(dy); ffn.backward(x.value, dy, x.grad, n); },
      };
    },
  };
}

/** Learned positions starting at position 2 of a context of 9: dP of the rows used, dx passes through. */
function positionsCheck(ops: Ops, rng: Rng): Checkable {
  const B = 2, T = 5, C = 4, start = 2;
  const pos = new Positional(ops, 'pos', 9, C, rng, { kind: 'learned' });
  randomize(pos.params, rng);
  const x = randomCheckTensor(ops, 'x', B * T * C, rng);
  const y = ops.tensor(B * T * C), dy = ops.tensor(B * T * C);
  const proj = new RandomProjection(ops, B * T * C, rng);
  return {
    name: 'positions-learned',
    params: pos.params,
    inputs: [x],
    loss() { ops.copy(x.value, y); pos.forward(y, B, T, start); return proj.loss(y); },
    backward() { proj.backward(dy); ops.copy(dy, x.grad); pos.backward(dy, B, T, start); },
  };
}

function blockCheck(name: string, norm: NormKind, ffn: FfnKind): GradCheckDef {
  return {
    name,
    make(ops: Ops, rng: Rng): Checkable {
      const B = 2, T = 5, C = 8, H = 2, F = 12;
      const block = new TransformerBlock(ops, 'block', C, H, F, rng, { norm, ffn });
      randomize(block.params, rng);
      const x = randomCheckTensor(ops, 'x', B * T * C, rng);
      const y = ops.tensor(B * T * C), dy = ops.tensor(B * T * C);
      const proj = new RandomProjection(ops, B * T * C, rng);
      return {
        name,
        params: block.params,
        inputs: [x],
        loss() { block.forward(x.value, y, B, T); return proj.loss(y); },
        backward() { proj.backward(dy); block.backward(x.value, dy, x.grad, B, T); },
      };
    },
  };
}

/** The small model of the checks: vocab 7, d 8, 2 heads, 2 layers, context 6 (T = 5 is used). */
export function smallTransformerConfig(extra: Partial<TransformerConfig> = {}): TransformerConfig {
  return {
    vocabSize: 7, layers: 2, heads: 2, dModel: 8, ffHidden: 12, context: 6,
    norm: 'layernorm', ffn: 'swiglu', positions: 'learned', tie: false, ...extra,
  };
}

export const TRANSFORMER_CHECKS: GradCheckDef[] = [
  attentionCheck(1),
  attentionCheck(2),
  normCheck('layernorm'),
  normCheck('rmsnorm'),
  ffnCheck('swiglu'),
  ffnCheck('gelu'),
  { name: 'positions-learned', make: positionsCheck },
  blockCheck('transformer-block', 'layernorm', 'swiglu'),
  blockCheck('transformer-block-rms-gelu', 'rmsnorm', 'gelu'),
  // B = 2 rows of T = 5 from randomBatch (one padded target).
  modelCheck('transformer', (ops, rng) => ({ model: new TransformerLM(ops, smallTransformerConfig(), rng), batch: randomBatch(ops, rng, 7, 2, 5) })),
  modelCheck('transformer-tied-rms-gelu-sin', (ops, rng) => ({
    model: new TransformerLM(ops, smallTransformerConfig({ tie: true, norm: 'rmsnorm', ffn: 'gelu', positions: 'sinusoidal' }), rng),
    batch: randomBatch(ops, rng, 7, 2, 5),
  })),
];
