// ONNX export: a model's forward pass as a standard ONNX graph (opset 17, float32), built from the
// parameters by name (docs/weights.md is the contract) and the model's config — never from a
// model's private buffers — so the graph is what the weights mean, not how our kernels run.
//
//   rnn / lstm / gru       ids [B,T] int64, h_in [L,B,H] (lstm: c_in)  →  logits [B,T,V], h_out (c_out)
//                          Gather → Transpose to [T,B,·] → per layer ONNX RNN / LSTM / GRU (one
//                          direction, its initial state a slice of h_in) → Transpose → MatMul + Add.
//                          Gates are reordered to ONNX's: LSTM i,f,g,o → i,o,f,c; GRU r,z,n → z,r,h
//                          (linear_before_reset = 1 is PyTorch's GRU, 0 the paper's); ONNX weights
//                          are [gates·H, in] (ours [in, gates·H], transposed) and the one bias goes
//                          in Wb with Rb = 0 (GRU pytorch: bx → Wb, bh → Rb).
//   transformer            ids [B,T] int64 (T ≤ context) → logits [B,T,V]
//                          Gather + a slice of the position table; per block LayerNormalization (or
//                          RMSNorm as Mul/ReduceMean/Sqrt), MatMul qkv, Split, heads by Reshape +
//                          Transpose, scores + a causal mask (Range, Greater, Where) → Softmax →
//                          MatMul, projection, residual, then the SwiGLU or tanh-GELU MLP.
//   moe / moe-dense        the same trunk (no attention biases); the MoE FFN computes EVERY expert
//                          densely ([X,N,C] by a broadcast MatMul against the stacked W13 / W2) and
//                          combines them with the top-k gates (Softmax → TopK → renormalise for
//                          k = 2 → ScatterElements into a dense [N,X] gate matrix). Same logits as
//                          sparse dispatch (ties: TopK and our router both take the lower index).
import type { SequenceModel } from '../models/types.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { sinusoidalTable } from '../layers/positional.js';
import { OnnxGraph } from './onnx-graph.js';
import { ExportError } from './errors.js';

/** The model kinds `export --format onnx` covers. */
export const ONNX_KINDS: readonly string[] = ['rnn', 'lstm', 'gru', 'transformer', 'moe', 'moe-dense'];

const NORM_EPS = 1e-5;
/** A protobuf message cannot exceed 2 GiB; ONNX's external-data files are not written here. */
const MAX_ONNX_BYTES = 2 ** 31 - 2 ** 24;
const MASKED = -1e30;

/** The ONNX model bytes of `model`'s forward pass (see the top of this file). */
export function exportOnnx(model: SequenceModel, tokenizer: Tokenizer, producerVersion = ''): Uint8Array {
  const bytes = 4 * model.params.reduce((s, p) => s + p.value.size, 0);
  if (bytes > MAX_ONNX_BYTES) {
    throw new ExportError(`the weights take ${(bytes / 2 ** 30).toFixed(1)} GiB in float32; one ONNX file holds at most 2 GiB (use --format safetensors or hf)`);
  }
  const w = new Weights(model);
  const g = new OnnxGraph(`handgrad-${model.kind}`);
  switch (model.kind) {
    case 'rnn': case 'lstm': case 'gru': recurrentGraph(g, w, model.kind, model.config); break;
    case 'transformer': transformerGraph(g, w, model.config); break;
    case 'moe': case 'moe-dense': moeGraph(g, w, model.kind, model.config); break;
    default:
      throw new ExportError(`ONNX export covers ${ONNX_KINDS.join(', ')}; this run is a ${model.kind} model`);
  }
  return g.encode({
    producerVersion,
    docString: `handgrad ${model.kind} language model (tensor layouts: docs/weights.md)`,
    metadata: {
      'handgrad.kind': model.kind,
      'handgrad.config': JSON.stringify(model.config),
      'handgrad.tokenizer': JSON.stringify(tokenizer.toJSON()),
    },
  });
}

/** The model's parameters by name; each becomes an initializer once, on first use. */
class Weights {
  private readonly byName = new Map<string, { shape: number[]; data: ArrayLike<number> }>();
  constructor(model: SequenceModel) {
    for (const p of model.params) this.byName.set(p.name, { shape: p.shape, data: p.value.data });
  }
  has(name: string): boolean { return this.byName.has(name); }
  get(name: string): { shape: number[]; data: ArrayLike<number> } {
    const p = this.byName.get(name);
    if (!p) throw new ExportError(`the model has no parameter '${name}' (see docs/weights.md)`);
    return p;
  }
  /** The parameter as an initializer of the same name (added once). */
  init(g: OnnxGraph, name: string): string {
    if (!this.added.has(name)) {
      const p = this.get(name);
      g.weight(name, p.shape, p.data);
      this.added.add(name);
    }
    return name;
  }
  private readonly added = new Set<string>();
}

const num = (config: Record<string, unknown>, key: string): number => {
  const v = config[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ExportError(`the model config has no valid '${key}' (${JSON.stringify(v)})`);
  return v;
};

// ---- recurrent models ----------------------------------------------------------------------------

/**
 * ONNX's [gates·H, in] weight from ours [in, gates·H]: block k of the result is our block order[k],
 * transposed.
 */
function toOnnxGates(W: ArrayLike<number>, inDim: number, H: number, order: readonly number[], blocks: number): Float32Array {
  const out = new Float32Array(order.length * H * inDim);
  const cols = blocks * H;
  order.forEach((src, k) => {
    for (let j = 0; j < H; j++) {
      for (let i = 0; i < inDim; i++) out[(k * H + j) * inDim + i] = W[i * cols + src * H + j];
    }
  });
  return out;
}

/** A bias vector's blocks in ONNX order. */
function reorderBias(b: ArrayLike<number>, H: number, order: readonly number[]): Float32Array {
  const out = new Float32Array(order.length * H);
  order.forEach((src, k) => { for (let j = 0; j < H; j++) out[k * H + j] = b[src * H + j]; });
  return out;
}

/** Columns of several [in, ·] matrices side by side: [in, Σ widths]. */
function concatColumns(parts: { data: ArrayLike<number>; cols: number }[], rows: number): Float32Array {
  const total = parts.reduce((s, p) => s + p.cols, 0);
  const out = new Float32Array(rows * total);
  let off = 0;
  for (const p of parts) {
    for (let r = 0; r < rows; r++) for (let c = 0; c < p.cols; c++) out[r * total + off + c] = p.data[r * p.cols + c];
    off += p.cols;
  }
  return out;
}

function recurrentGraph(g: OnnxGraph, w: Weights, kind: 'rnn' | 'lstm' | 'gru', config: Record<string, unknown>): void {
  const V = num(config, 'vocabSize'), H = num(config, 'hidden'), L = num(config, 'layers'), E = num(config, 'embed');
  const variant = kind === 'gru' ? String(config.gruVariant ?? 'pytorch') : null;
  const ids = g.input('ids', 'int64', ['B', 'T']);
  const hIn = g.input('h_in', 'float', [L, 'B', H]);
  const cIn = kind === 'lstm' ? g.input('c_in', 'float', [L, 'B', H]) : null;
  let x = g.op('Transpose', [g.op('Gather', [w.init(g, 'embed.table'), ids])], { perm: [1, 0, 2] }); // [T,B,E]
  const hOuts: string[] = [], cOuts: string[] = [];
  for (let l = 0; l < L; l++) {
    const I = l === 0 ? E : H, p = `${kind}.${l}`;
    const slice = (t: string) => g.op('Slice', [t, g.ints([l]), g.ints([l + 1]), g.ints([0])]); // [1,B,H]
    let Wo: Float32Array, Ro: Float32Array, Bo: Float32Array, gates: number;
    const attrs: Record<string, number> = { hidden_size: H };
    if (kind === 'rnn') {
      gates = 1;
      Wo = toOnnxGates(w.get(`${p}.Wx`).data, I, H, [0], 1);
      Ro = toOnnxGates(w.get(`${p}.Wh`).data, H, H, [0], 1);
      Bo = new Float32Array(2 * H);
      Bo.set(Float32Array.from(w.get(`${p}.b`).data));
    } else if (kind === 'lstm') {
      gates = 4;
      const order = [0, 3, 1, 2]; // ours i, f, g, o → ONNX i, o, f, c
      Wo = toOnnxGates(w.get(`${p}.Wx`).data, I, H, order, 4);
      Ro = toOnnxGates(w.get(`${p}.Wh`).data, H, H, order, 4);
      Bo = new Float32Array(8 * H);
      Bo.set(reorderBias(w.get(`${p}.b`).data, H, order));
    } else {
      gates = 3;
      const order = [1, 0, 2]; // ours r, z, n → ONNX z, r, h
      Bo = new Float32Array(6 * H);
      if (variant === 'pytorch') {
        Wo = toOnnxGates(w.get(`${p}.Wx`).data, I, H, order, 3);
        Ro = toOnnxGates(w.get(`${p}.Wh`).data, H, H, order, 3);
        Bo.set(reorderBias(w.get(`${p}.bx`).data, H, order));
        Bo.set(reorderBias(w.get(`${p}.bh`).data, H, order), 3 * H);
        attrs.linear_before_reset = 1;
      } else {
        // paper: r acts before the product, n's recurrent product has no bias (Rb_h = 0).
        const Wx = concatColumns([{ data: w.get(`${p}.Wrz`).data, cols: 2 * H }, { data: w.get(`${p}.Wn`).data, cols: H }], I);
        const Wh = concatColumns([{ data: w.get(`${p}.Urz`).data, cols: 2 * H }, { data: w.get(`${p}.Un`).data, cols: H }], H);
        const b = Float64Array.from([...Array.from(w.get(`${p}.brz`).data), ...Array.from(w.get(`${p}.bn`).data)]);
        Wo = toOnnxGates(Wx, I, H, order, 3);
        Ro = toOnnxGates(Wh, H, H, order, 3);
        Bo.set(reorderBias(b, H, order));
        attrs.linear_before_reset = 0;
      }
    }
    const Wn = g.weight(`${p}.onnx.W`, [1, gates * H, I], Wo);
    const Rn = g.weight(`${p}.onnx.R`, [1, gates * H, H], Ro);
    const Bn = g.weight(`${p}.onnx.B`, [1, 2 * gates * H], Bo);
    const op = kind === 'rnn' ? 'RNN' : kind === 'lstm' ? 'LSTM' : 'GRU';
    const inputs = [x, Wn, Rn, Bn, '', slice(hIn)];
    if (cIn) inputs.push(slice(cIn));
    const outs = g.opN(op, inputs, kind === 'lstm' ? 3 : 2, attrs); // Y [T,1,B,H], Y_h [1,B,H] (, Y_c)
    x = g.op('Squeeze', [outs[0], g.ints([1])]); // [T,B,H]
    hOuts.push(outs[1]);
    if (kind === 'lstm') cOuts.push(outs[2]);
  }
  const y = g.op('Transpose', [x], { perm: [1, 0, 2] }); // [B,T,H]
  const logits = g.op('Add', [g.op('MatMul', [y, w.init(g, 'head.W')]), w.init(g, 'head.b')]);
  g.output(logits, 'float', ['B', 'T', V], 'logits');
  g.output(L === 1 ? hOuts[0] : g.op('Concat', hOuts, { axis: 0 }), 'float', [L, 'B', H], 'h_out');
  if (kind === 'lstm') g.output(L === 1 ? cOuts[0] : g.op('Concat', cOuts, { axis: 0 }), 'float', [L, 'B', H], 'c_out');
}

// ---- the transformer trunk -----------------------------------------------------------------------

/** Shared pieces of the transformer graphs: the window length, the causal mask, norms, attention. */
class Trunk {
  /** [1] int64: T. */
  readonly T: string;
  /** [T,T] float: 0 on and below the diagonal, −1e30 above. */
  readonly mask: string;

  constructor(private readonly g: OnnxGraph, private readonly w: Weights, ids: string) {
    this.T = g.op('Shape', [ids], { start: 1, end: 2 });
    const tScalar = g.op('Squeeze', [this.T, g.ints([0])]);
    const r = g.op('Range', [g.ints([0], []), tScalar, g.ints([1], [])]);
    const future = g.op('Greater', [g.op('Unsqueeze', [r, g.ints([0])]), g.op('Unsqueeze', [r, g.ints([1])])]); // [T,T]: key j > query i
    this.mask = g.op('Where', [future, g.scalar(MASKED), g.scalar(0)]);
  }

  /** Token embeddings plus rows 0…T−1 of a position table (a parameter, or fixed values). */
  embed(ids: string, positions: string): string {
    const { g } = this;
    const x = g.op('Gather', [this.w.init(g, 'embed.table'), ids]);
    const P = g.op('Slice', [positions, g.ints([0]), this.T, g.ints([0])]);
    return g.op('Add', [x, P]);
  }

  /** LayerNorm (with beta) or RMSNorm (gamma only) over the last axis, ε = 1e-5. */
  norm(x: string, prefix: string, kind: 'layernorm' | 'rmsnorm'): string {
    const { g, w } = this;
    const gamma = w.init(g, `${prefix}.gamma`);
    if (kind === 'layernorm') return g.op('LayerNormalization', [x, gamma, w.init(g, `${prefix}.beta`)], { axis: -1, epsilon: NORM_EPS });
    const ms = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    const rstd = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ms, g.scalar(NORM_EPS)])])]);
    return g.op('Mul', [g.op('Mul', [x, rstd]), gamma]);
  }

  /** x·W (+ b): the parameters by name; b may be null. */
  linear(x: string, W: string, b: string | null): string {
    const { g, w } = this;
    const y = g.op('MatMul', [x, w.init(g, W)]);
    return b === null ? y : g.op('Add', [y, w.init(g, b)]);
  }

  /** Causal multi-head attention on h [B,T,C] with the fused qkv [C,3C] and the projection. */
  attention(h: string, C: number, heads: number, qkvW: string, qkvB: string | null, projW: string, projB: string | null): string {
    const { g } = this, d = C / heads;
    const qkv = this.linear(h, qkvW, qkvB);
    const [q, k, v] = g.opN('Split', [qkv, g.ints([C, C, C])], 3, { axis: -1 });
    const split = g.ints([0, 0, heads, d]);
    const heads4 = (t: string, perm: number[]) => g.op('Transpose', [g.op('Reshape', [t, split])], { perm });
    const qh = heads4(q, [0, 2, 1, 3]), kt = heads4(k, [0, 2, 3, 1]), vh = heads4(v, [0, 2, 1, 3]); // [B,H,T,d], [B,H,d,T]
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [qh, kt]), g.scalar(1 / Math.sqrt(d))]), this.mask]);
    const z = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), vh]); // [B,H,T,d]
    const zc = g.op('Reshape', [g.op('Transpose', [z], { perm: [0, 2, 1, 3] }), g.ints([0, 0, C])]);
    return this.linear(zc, projW, projB);
  }

  /** silu(a) ⊙ b. */
  swiglu(a: string, b: string): string {
    const { g } = this;
    return g.op('Mul', [g.op('Mul', [a, g.op('Sigmoid', [a])]), b]);
  }

  /** GELU, tanh approximation: 0.5·u·(1 + tanh(√(2/π)·(u + 0.044715·u³))). */
  gelu(u: string): string {
    const { g } = this;
    const u3 = g.op('Mul', [g.op('Mul', [u, u]), u]);
    const inner = g.op('Mul', [g.op('Add', [u, g.op('Mul', [u3, g.scalar(0.044715)])]), g.scalar(Math.sqrt(2 / Math.PI))]);
    return g.op('Mul', [g.op('Mul', [u, g.scalar(0.5)]), g.op('Add', [g.op('Tanh', [inner]), g.scalar(1)])]);
  }

  /** logits = h·head.W, or h·embed.tableᵀ when tied. */
  head(h: string, tied: boolean): string {
    const { g, w } = this;
    if (!tied) return g.op('MatMul', [h, w.init(g, 'head.W')]);
    return g.op('MatMul', [h, g.op('Transpose', [w.init(g, 'embed.table')], { perm: [1, 0] })]);
  }
}

function transformerGraph(g: OnnxGraph, w: Weights, config: Record<string, unknown>): void {
  const V = num(config, 'vocabSize'), L = num(config, 'layers'), heads = num(config, 'heads'), C = num(config, 'dModel');
  const context = num(config, 'context');
  const norm = config.norm === 'rmsnorm' ? 'rmsnorm' : 'layernorm';
  const ffn = config.ffn === 'gelu' ? 'gelu' : 'swiglu';
  const ids = g.input('ids', 'int64', ['B', 'T']);
  const t = new Trunk(g, w, ids);
  const positions = config.positions === 'sinusoidal'
    ? g.weight('pos.sinusoidal', [context, C], sinusoidalTable(context, C))
    : w.init(g, 'pos.table');
  let x = t.embed(ids, positions);
  for (let l = 0; l < L; l++) {
    const p = `block${l}`;
    const a = t.attention(t.norm(x, `${p}.norm1`, norm), C, heads, `${p}.attn.qkv.W`, `${p}.attn.qkv.b`, `${p}.attn.proj.W`, `${p}.attn.proj.b`);
    x = g.op('Add', [x, a]);
    const h = t.norm(x, `${p}.norm2`, norm);
    const f = ffn === 'gelu'
      ? t.linear(t.gelu(t.linear(h, `${p}.ffn.W1.W`, `${p}.ffn.W1.b`)), `${p}.ffn.W2.W`, `${p}.ffn.W2.b`)
      : t.linear(t.swiglu(t.linear(h, `${p}.ffn.W1.W`, null), t.linear(h, `${p}.ffn.W3.W`, null)), `${p}.ffn.W2.W`, null);
    x = g.op('Add', [x, f]);
  }
  const logits = t.head(t.norm(x, 'normF', norm), Boolean(config.tiedEmbeddings ?? config.tie)); // `tie`: configs saved before the rename
  g.output(logits, 'float', ['B', 'T', V], 'logits');
}

function moeGraph(g: OnnxGraph, w: Weights, kind: 'moe' | 'moe-dense', config: Record<string, unknown>): void {
  const V = num(config, 'vocabSize'), L = num(config, 'layers'), heads = num(config, 'heads'), C = num(config, 'dModel');
  const k = num(config, 'topK');
  const dense = kind === 'moe-dense';
  const ids = g.input('ids', 'int64', ['B', 'T']);
  const t = new Trunk(g, w, ids);
  let x = t.embed(ids, w.init(g, 'pos.table'));
  for (let l = 0; l < L; l++) {
    const p = `block${l}`;
    const a = t.attention(t.norm(x, `${p}.norm1`, 'layernorm'), C, heads, `${p}.qkv.W`, null, `${p}.proj.W`, null);
    x = g.op('Add', [x, a]);
    const h = t.norm(x, `${p}.norm2`, 'layernorm');
    const f = dense ? denseSwiglu(g, w, t, h, `${p}.ffn`) : moeFfn(g, w, t, h, `${p}.moe`, C, k);
    x = g.op('Add', [x, f]);
  }
  const logits = t.head(t.norm(x, 'normF', 'layernorm'), Boolean(config.tiedEmbeddings));
  g.output(logits, 'float', ['B', 'T', V], 'logits');
}

/** One SwiGLU with the stacked W13 [C, 2F] (gate columns, then up) and W2 [F, C]. */
function denseSwiglu(g: OnnxGraph, w: Weights, t: Trunk, h: string, prefix: string): string {
  const F = w.get(`${prefix}.W2`).shape[0];
  const gu = g.op('MatMul', [h, w.init(g, `${prefix}.W13`)]);
  const [gate, up] = g.opN('Split', [gu, g.ints([F, F])], 2, { axis: -1 });
  return g.op('MatMul', [t.swiglu(gate, up), w.init(g, `${prefix}.W2`)]);
}

/** The routed experts, computed densely and combined with the top-k gates (see the top of the file). */
function moeFfn(g: OnnxGraph, w: Weights, t: Trunk, h: string, prefix: string, C: number, k: number): string {
  const [X, , F2] = w.get(`${prefix}.W13`).shape;
  const F = F2 / 2;
  const probs = g.op('Softmax', [g.op('MatMul', [h, w.init(g, `${prefix}.router.W`)])], { axis: -1 }); // [B,T,X]
  let [gates, idx] = g.opN('TopK', [probs, g.ints([k])], 2, { axis: -1, largest: 1, sorted: 1 });
  if (k > 1) gates = g.op('Div', [gates, g.op('ReduceSum', [gates, g.ints([-1])], { keepdims: 1 })]);
  const G = g.op('ScatterElements', [g.op('Mul', [probs, g.scalar(0)]), idx, gates], { axis: -1 }); // [B,T,X]
  const rows = g.op('Reshape', [h, g.ints([-1, C])]); // [N,C]
  const gu = g.op('MatMul', [g.op('Unsqueeze', [rows, g.ints([0])]), w.init(g, `${prefix}.W13`)]); // [X,N,2F]
  const [gate, up] = g.opN('Split', [gu, g.ints([F, F])], 2, { axis: -1 });
  const yd = g.op('MatMul', [t.swiglu(gate, up), w.init(g, `${prefix}.W2`)]); // [X,N,C]
  const Gt = g.op('Unsqueeze', [g.op('Transpose', [g.op('Reshape', [G, g.ints([-1, X])])], { perm: [1, 0] }), g.ints([2])]); // [X,N,1]
  const y = g.op('ReduceSum', [g.op('Mul', [yd, Gt]), g.ints([0])], { keepdims: 0 }); // [N,C]
  return g.op('Reshape', [y, g.op('Shape', [h])]);
}
