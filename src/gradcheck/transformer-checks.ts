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
import { layerCheckable, type Checkable } from './harness.js';
import type { GradCheckDef } from './types.js';
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
      return layerCheckable(ops, rng, name, attn.params, B * T * C, B * T * C,
        (x, y) => attn.forward(x, y, B, T), (x, dy, dx) => attn.backward(x, dy, dx, B, T));
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
      return layerCheckable(ops, rng, kind, norm.params, n * C, n * C,
        (x, y) => norm.forward(x, y, n), (x, dy, dx) => norm.backward(x, dy, dx, n), 2);
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
      return layerCheckable(ops, rng, name, ffn.params, n * C, n * C,
        (x, y) => ffn.forward(x, y, n), (x, dy, dx) => ffn.backward(x, dy, dx, n));
    },
  };
}

/** Learned positions starting at position 2 of a context of 9: dP of the rows used, dx passes through. */
function positionsCheck(ops: Ops, rng: Rng): Checkable {
  const B = 2, T = 5, C = 4, start = 2;
  const pos = new Positional(ops, 'pos', 9, C, rng, { kind: 'learned' });
  randomize(pos.params, rng);
  return layerCheckable(ops, rng, 'positions-learned', pos.params, B * T * C, B * T * C,
    (x, y) => { ops.copy(x, y); pos.forward(y, B, T, start); },
    (_x, dy, dx) => { ops.copy(dy, dx); pos.backward(dy, B, T, start); });
}

function blockCheck(name: string, norm: NormKind, ffn: FfnKind): GradCheckDef {
  return {
    name,
    make(ops: Ops, rng: Rng): Checkable {
      const B = 2, T = 5, C = 8, H = 2, F = 12;
      const block = new TransformerBlock(ops, 'block', C, H, F, rng, { norm, ffn });
      randomize(block.params, rng);
      return layerCheckable(ops, rng, name, block.params, B * T * C, B * T * C,
        (x, y) => block.forward(x, y, B, T), (x, dy, dx) => block.backward(x, dy, dx, B, T));
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
