// A Hugging Face-style folder for a run: config.json, model.safetensors, tokenizer.json and
// tokenizer_config.json (char and BPE tokenizers), and handgrad_tokenizer.json (our own form, for
// every tokenizer, word included).
//
// Where a Hugging Face architecture computes exactly what the model computes, the weights get that
// architecture's names and config.json is that architecture's, so `transformers` loads the folder
// with from_pretrained. One matches today:
//   transformer --norm layernorm --ffn gelu --positions learned  →  GPT2LMHeadModel
//     (pre-LN blocks, learned positions, fused c_attn [C, 3C] with q|k|v columns and heads side by
//     side, Conv1D weights stored [in, out] like ours, gelu_new = our tanh GELU, LayerNorm ε 1e-5,
//     biases everywhere; --tied-embeddings ↔ tie_word_embeddings, untied lm_head.weight = head.Wᵀ)
// Everything else keeps our names (docs/weights.md) with a config.json of model_type
// "handgrad-<kind>" that records the kind and config: readable by safetensors tools and by
// examples/torch_rebuild.py, not by transformers' Auto classes.
import type { SequenceModel } from '../models/types.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { BpeTokenizer } from '../data/bpe-tokenizer.js';
import { encodeSafetensors, type SafeDtype, type SafeTensorInput } from '../train/safetensors.js';
import { toHfTokenizer } from './tokenizer-json.js';
import { encodeWeightsFile } from './weights-file.js';

export interface HfFolder {
  /** File name → contents. */
  files: Record<string, Uint8Array | string>;
  /** The Hugging Face architecture the weights are named for, or null (our names). */
  architecture: string | null;
  /** Why a tokenizer.json is missing, when it is. */
  notes: string[];
}

const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

/** Whether the transformer config is GPT-2's computation. */
export function isGpt2(model: SequenceModel): boolean {
  const c = model.config;
  return model.kind === 'transformer' && c.norm === 'layernorm' && c.ffn === 'gelu' && c.positions === 'learned';
}

/** The folder's files for `model` (weights in `dtype`). */
export function hfFolder(model: SequenceModel, tokenizer: Tokenizer, dtype: SafeDtype): HfFolder {
  const files: Record<string, Uint8Array | string> = {};
  const notes: string[] = [];
  const special = tokenizer instanceof BpeTokenizer ? tokenizer.eotId : null;
  const context = typeof model.config.context === 'number' ? model.config.context : null;
  let architecture: string | null = null;
  if (isGpt2(model)) {
    architecture = 'GPT2LMHeadModel';
    files['config.json'] = json(gpt2Config(model, special, dtype));
    files['model.safetensors'] = encodeSafetensors(gpt2Tensors(model, dtype), { format: 'pt' });
  } else {
    files['config.json'] = json({
      model_type: `handgrad-${model.kind}`, handgrad: { kind: model.kind, config: model.config },
      vocab_size: model.config.vocabSize, torch_dtype: dtype === 'F64' ? 'float64' : 'float32',
    });
    files['model.safetensors'] = encodeWeightsFile(model, tokenizer, dtype);
  }
  try {
    const tok = toHfTokenizer(tokenizer, context);
    files['tokenizer.json'] = json(tok.tokenizer);
    files['tokenizer_config.json'] = json(tok.config);
  } catch (e) {
    notes.push(`no tokenizer.json: ${(e as Error).message}`);
  }
  files['handgrad_tokenizer.json'] = json(tokenizer.toJSON());
  return { files, architecture, notes };
}

function gpt2Config(model: SequenceModel, special: number | null, dtype: SafeDtype): Record<string, unknown> {
  const c = model.config;
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: c.vocabSize,
    n_positions: c.context,
    n_ctx: c.context,
    n_embd: c.dModel,
    n_layer: c.layers,
    n_head: c.heads,
    n_inner: c.ffHidden,
    activation_function: 'gelu_new',
    resid_pdrop: 0, embd_pdrop: 0, attn_pdrop: 0, summary_first_dropout: 0,
    layer_norm_epsilon: 1e-5,
    initializer_range: 0.02,
    scale_attn_weights: true,
    use_cache: true,
    tie_word_embeddings: Boolean(c.tiedEmbeddings ?? c.tie), // `tie`: configs saved before the rename
    bos_token_id: special,
    eos_token_id: special,
    torch_dtype: dtype === 'F64' ? 'float64' : 'float32',
  };
}

/** Our transformer parameter name → GPT2LMHeadModel's (same shape and orientation). */
export function gpt2Name(name: string): string {
  const fixed: Record<string, string> = {
    'embed.table': 'transformer.wte.weight', 'pos.table': 'transformer.wpe.weight',
    'normF.gamma': 'transformer.ln_f.weight', 'normF.beta': 'transformer.ln_f.bias',
  };
  if (fixed[name]) return fixed[name];
  const m = /^block(\d+)\.(.+)$/.exec(name);
  const inBlock: Record<string, string> = {
    'norm1.gamma': 'ln_1.weight', 'norm1.beta': 'ln_1.bias',
    'attn.qkv.W': 'attn.c_attn.weight', 'attn.qkv.b': 'attn.c_attn.bias',
    'attn.proj.W': 'attn.c_proj.weight', 'attn.proj.b': 'attn.c_proj.bias',
    'norm2.gamma': 'ln_2.weight', 'norm2.beta': 'ln_2.bias',
    'ffn.W1.W': 'mlp.c_fc.weight', 'ffn.W1.b': 'mlp.c_fc.bias',
    'ffn.W2.W': 'mlp.c_proj.weight', 'ffn.W2.b': 'mlp.c_proj.bias',
  };
  if (m && inBlock[m[2]]) return `transformer.h.${m[1]}.${inBlock[m[2]]}`;
  throw new Error(`no GPT-2 name for transformer parameter '${name}'`);
}

function gpt2Tensors(model: SequenceModel, dtype: SafeDtype): [string, SafeTensorInput][] {
  const out: [string, SafeTensorInput][] = [];
  for (const p of model.params) {
    if (p.name === 'head.W') {
      // nn.Linear(C, V).weight is [V, C]: ours [C, V] transposed.
      const [C, V] = p.shape, src = p.value.data, t = new Float64Array(C * V);
      for (let i = 0; i < C; i++) for (let j = 0; j < V; j++) t[j * C + i] = src[i * V + j];
      out.push(['lm_head.weight', { dtype, shape: [V, C], data: t }]);
    } else {
      out.push([gpt2Name(p.name), { dtype, shape: p.shape, data: p.value.data }]);
    }
  }
  return out;
}
