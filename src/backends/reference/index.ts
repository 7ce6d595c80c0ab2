// The reference backend: plain TypeScript loops, in float64 (used by gradient checks) or float32.
// It is the specification of every op: other backends are tested against it. Clarity beats
// speed here; each loop is written the way the maths reads.
import type { Activation, AdamParams, AttentionShape, DType, FloatArray, IntTensor, MemoryShape, Ops, Tensor } from '../../ops/types.js';
import * as tx from './transformer-ops.js';
import * as memory from './memory-recurrence.js';
import { installArgumentChecks } from '../../ops/checked.js';
import { moeAuxLoss } from './moe-aux.js';

class RefTensor implements Tensor {
  constructor(readonly data: FloatArray) {}
  get size(): number { return this.data.length; }
  view(offset: number, size: number): Tensor {
    if (offset < 0 || size < 0 || offset + size > this.data.length) {
      throw new RangeError(`view(${offset}, ${size}) is outside a tensor of ${this.data.length} elements`);
    }
    return new RefTensor(this.data.subarray(offset, offset + size));
  }
}

class RefInts implements IntTensor {
  constructor(readonly data: Int32Array) {}
  get size(): number { return this.data.length; }
  view(offset: number, size: number): IntTensor {
    if (offset < 0 || size < 0 || offset + size > this.data.length) {
      throw new RangeError(`view(${offset}, ${size}) is outside an int tensor of ${this.data.length} elements`);
    }
    return new RefInts(this.data.subarray(offset, offset + size));
  }
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

/** f(x) for one element; sigmoid uses the stable form on both sides of zero. */
export function activate(kind: Activation, x: number): number {
  switch (kind) {
    case 'identity': return x;
    case 'relu': return x > 0 ? x : 0;
    case 'sigmoid': return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
    case 'tanh': return Math.tanh(x);
    // ½x(1 + tanh u) written as x·σ(2u): the same function, without the cancellation of
    // 1 + tanh u for very negative x (the WASM kernel uses this form too).
    case 'gelu': return x * activate('sigmoid', 2 * SQRT_2_OVER_PI * (x + GELU_C * x * x * x));
    case 'silu': return x * activate('sigmoid', x);
  }
}

/** f'(x), given x and y = f(x). */
export function activateDerivative(kind: Activation, x: number, y: number): number {
  switch (kind) {
    case 'identity': return 1;
    case 'relu': return x > 0 ? 1 : 0;
    case 'sigmoid': return y * (1 - y);
    case 'tanh': return 1 - y * y;
    case 'gelu': {
      // d/dx [x·σ(2u)] = σ(2u) + x · 2σ(2u)(1 − σ(2u)) · du/dx
      const u = SQRT_2_OVER_PI * (x + GELU_C * x * x * x);
      const s = activate('sigmoid', 2 * u);
      const du = SQRT_2_OVER_PI * (1 + 3 * GELU_C * x * x);
      return s + 2 * x * s * (1 - s) * du;
    }
    case 'silu': {
      const s = activate('sigmoid', x);
      return s * (1 + x * (1 - s));
    }
  }
}

export class ReferenceOps implements Ops {
  readonly name: string;
  private readonly Float: Float32ArrayConstructor | Float64ArrayConstructor;

  constructor(readonly dtype: DType = 'f64') {
    this.name = `reference-${dtype}`;
    this.Float = dtype === 'f64' ? Float64Array : Float32Array;
  }

  tensor(size: number): Tensor { return new RefTensor(new this.Float(size)); }
  tensorFrom(values: ArrayLike<number>): Tensor { return new RefTensor(this.Float.from(values)); }
  ints(size: number): IntTensor { return new RefInts(new Int32Array(size)); }
  intsFrom(values: ArrayLike<number>): IntTensor { return new RefInts(Int32Array.from(values)); }
  // Garbage collection frees reference tensors; scopes only need to nest correctly.
  private depth = 0;
  mark(): number { return ++this.depth; }
  release(mark: number): void { this.depth = mark - 1; }
  dispose(): void {}

  gemm(transA: boolean, transB: boolean, m: number, n: number, k: number,
    alpha: number, A: Tensor, B: Tensor, beta: number, C: Tensor): void {
    const a = A.data, b = B.data, c = C.data;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const aip = transA ? a[p * m + i] : a[i * k + p];
          const bpj = transB ? b[j * k + p] : b[p * n + j];
          s += aip * bpj;
        }
        // beta = 0 must overwrite even NaN, as BLAS does.
        c[i * n + j] = beta === 0 ? alpha * s : alpha * s + beta * c[i * n + j];
      }
    }
  }

  fill(x: Tensor, value: number): void { x.data.fill(value); }
  copy(src: Tensor, dst: Tensor): void { dst.data.set(src.data); }
  scale(x: Tensor, alpha: number): void {
    const d = x.data;
    for (let i = 0; i < d.length; i++) d[i] *= alpha;
  }
  axpy(alpha: number, x: Tensor, y: Tensor): void {
    const xd = x.data, yd = y.data;
    for (let i = 0; i < xd.length; i++) yd[i] += alpha * xd[i];
  }
  add(a: Tensor, b: Tensor, out: Tensor): void {
    const ad = a.data, bd = b.data, od = out.data;
    for (let i = 0; i < ad.length; i++) od[i] = ad[i] + bd[i];
  }
  mul(a: Tensor, b: Tensor, out: Tensor, accumulate = false): void {
    const ad = a.data, bd = b.data, od = out.data;
    if (accumulate) for (let i = 0; i < ad.length; i++) od[i] += ad[i] * bd[i];
    else for (let i = 0; i < ad.length; i++) od[i] = ad[i] * bd[i];
  }
  activation(kind: Activation, x: Tensor, y: Tensor): void {
    const xd = x.data, yd = y.data;
    for (let i = 0; i < xd.length; i++) yd[i] = activate(kind, xd[i]);
  }
  activationBackward(kind: Activation, x: Tensor, y: Tensor, dy: Tensor, dx: Tensor, accumulate = false): void {
    const xd = x.data, yd = y.data, dyd = dy.data, dxd = dx.data;
    for (let i = 0; i < dyd.length; i++) {
      const g = dyd[i] * activateDerivative(kind, xd[i], yd[i]);
      dxd[i] = accumulate ? dxd[i] + g : g;
    }
  }

  addBias(y: Tensor, bias: Tensor, rows: number, cols: number): void {
    const yd = y.data, bd = bias.data;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) yd[r * cols + c] += bd[c];
  }
  sumRows(x: Tensor, out: Tensor, rows: number, cols: number): void {
    const xd = x.data, od = out.data;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) od[c] += xd[r * cols + c];
  }
  sumCols(x: Tensor, out: Tensor, rows: number, cols: number): void {
    const xd = x.data, od = out.data;
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += xd[r * cols + c];
      od[r] = s;
    }
  }
  softmax(x: Tensor, y: Tensor, rows: number, cols: number): void {
    const xd = x.data, yd = y.data;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let max = -Infinity;
      for (let c = 0; c < cols; c++) max = Math.max(max, xd[o + c]);
      let sum = 0;
      for (let c = 0; c < cols; c++) { const e = Math.exp(xd[o + c] - max); yd[o + c] = e; sum += e; }
      for (let c = 0; c < cols; c++) yd[o + c] /= sum;
    }
  }
  logSoftmax(x: Tensor, y: Tensor, rows: number, cols: number): void {
    const xd = x.data, yd = y.data;
    for (let r = 0; r < rows; r++) {
      const lse = logSumExp(xd, r * cols, cols);
      for (let c = 0; c < cols; c++) yd[r * cols + c] = xd[r * cols + c] - lse;
    }
  }
  softmaxBackward(y: Tensor, dy: Tensor, dx: Tensor, rows: number, cols: number): void {
    const yd = y.data, dyd = dy.data, dxd = dx.data;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let dot = 0;
      for (let c = 0; c < cols; c++) dot += dyd[o + c] * yd[o + c];
      for (let c = 0; c < cols; c++) dxd[o + c] = yd[o + c] * (dyd[o + c] - dot);
    }
  }
  logSoftmaxBackward(y: Tensor, dy: Tensor, dx: Tensor, rows: number, cols: number): void {
    const yd = y.data, dyd = dy.data, dxd = dx.data;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let sum = 0;
      for (let c = 0; c < cols; c++) sum += dyd[o + c];
      for (let c = 0; c < cols; c++) dxd[o + c] = dyd[o + c] - Math.exp(yd[o + c]) * sum;
    }
  }
  softmaxCrossEntropy(logits: Tensor, targets: IntTensor, rows: number, cols: number,
    dlogits: Tensor | null, gradScale: number): number {
    const xd = logits.data, td = targets.data, dd = dlogits?.data;
    let loss = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * cols, t = td[r];
      if (t < 0) { if (dd) dd.fill(0, o, o + cols); continue; }
      const lse = logSumExp(xd, o, cols);
      loss += lse - xd[o + t];
      if (dd) {
        for (let c = 0; c < cols; c++) dd[o + c] = Math.exp(xd[o + c] - lse) * gradScale;
        dd[o + t] -= gradScale;
      }
    }
    return loss;
  }
  layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, y: Tensor, mean: Tensor, rstd: Tensor,
    rows: number, cols: number, eps: number): void {
    const xd = x.data, gd = gamma.data, bd = beta.data, yd = y.data;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let mu = 0;
      for (let c = 0; c < cols; c++) mu += xd[o + c];
      mu /= cols;
      let v = 0;
      for (let c = 0; c < cols; c++) { const d = xd[o + c] - mu; v += d * d; }
      v /= cols;
      const s = 1 / Math.sqrt(v + eps);
      for (let c = 0; c < cols; c++) yd[o + c] = (xd[o + c] - mu) * s * gd[c] + bd[c];
      mean.data[r] = mu;
      rstd.data[r] = s;
    }
  }
  layerNormBackward(x: Tensor, gamma: Tensor, mean: Tensor, rstd: Tensor, dy: Tensor,
    dx: Tensor, dgamma: Tensor, dbeta: Tensor, rows: number, cols: number): void {
    const xd = x.data, gd = gamma.data, dyd = dy.data, dxd = dx.data, dgd = dgamma.data, dbd = dbeta.data;
    for (let r = 0; r < rows; r++) {
      const o = r * cols, mu = mean.data[r], s = rstd.data[r];
      // With x̂ = (x−μ)·rstd and g = dy ⊙ gamma:
      // dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂))
      let gMean = 0, gxMean = 0;
      for (let c = 0; c < cols; c++) {
        const xhat = (xd[o + c] - mu) * s;
        const g = dyd[o + c] * gd[c];
        gMean += g;
        gxMean += g * xhat;
        dgd[c] += dyd[o + c] * xhat;
        dbd[c] += dyd[o + c];
      }
      gMean /= cols;
      gxMean /= cols;
      for (let c = 0; c < cols; c++) {
        const xhat = (xd[o + c] - mu) * s;
        dxd[o + c] += s * (dyd[o + c] * gd[c] - gMean - xhat * gxMean);
      }
    }
  }

  embedding(table: Tensor, ids: IntTensor, out: Tensor, n: number, dim: number): void {
    const td = table.data, od = out.data;
    for (let i = 0; i < n; i++) {
      const id = ids.data[i];
      for (let c = 0; c < dim; c++) od[i * dim + c] = td[id * dim + c];
    }
  }
  embeddingBackward(dout: Tensor, ids: IntTensor, dtable: Tensor, n: number, dim: number): void {
    const dd = dout.data, td = dtable.data;
    for (let i = 0; i < n; i++) {
      const id = ids.data[i];
      for (let c = 0; c < dim; c++) td[id * dim + c] += dd[i * dim + c];
    }
  }

  sumSquares(x: Tensor): number {
    const d = x.data;
    let s = 0;
    for (let i = 0; i < d.length; i++) s += d[i] * d[i];
    return s;
  }
  sumSquaresMany(xs: readonly Tensor[]): number {
    let s = 0;
    for (const x of xs) s += this.sumSquares(x);
    return s;
  }
  adam(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, p: AdamParams): void {
    const w = param.data, g = grad.data, md = m.data, vd = v.data;
    const c1 = 1 - Math.pow(p.beta1, p.step), c2 = 1 - Math.pow(p.beta2, p.step);
    for (let i = 0; i < w.length; i++) {
      let gi = g[i];
      if (!p.decoupled && p.weightDecay !== 0) gi += p.weightDecay * w[i];
      md[i] = p.beta1 * md[i] + (1 - p.beta1) * gi;
      vd[i] = p.beta2 * vd[i] + (1 - p.beta2) * gi * gi;
      const mhat = md[i] / c1, vhat = vd[i] / c2;
      if (p.decoupled && p.weightDecay !== 0) w[i] -= p.lr * p.weightDecay * w[i];
      w[i] -= p.lr * mhat / (Math.sqrt(vhat) + p.eps);
    }
  }

  // ==== recurrent cells (see the ops interface for the contracts) =================================
  // Row b, unit j of a gate block k lives at [b·(blocks·H) + k·H + j].

  lstmCell(gates: Tensor, cPrev: Tensor, c: Tensor, tanhC: Tensor, h: Tensor, B: number, H: number): void {
    const g = gates.data, cp = cPrev.data, cd = c.data, tc = tanhC.data, hd = h.data;
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < H; j++) {
        const o4 = b * 4 * H + j, o = b * H + j;
        const ig = sigmoid(g[o4]), fg = sigmoid(g[o4 + H]), gg = Math.tanh(g[o4 + 2 * H]), og = sigmoid(g[o4 + 3 * H]);
        g[o4] = ig; g[o4 + H] = fg; g[o4 + 2 * H] = gg; g[o4 + 3 * H] = og;
        cd[o] = fg * cp[o] + ig * gg;
        tc[o] = Math.tanh(cd[o]);
        hd[o] = og * tc[o];
      }
    }
  }
  lstmCellBackward(gates: Tensor, cPrev: Tensor, tanhC: Tensor, dh: Tensor, dc: Tensor, dgates: Tensor,
    B: number, H: number): void {
    const g = gates.data, cp = cPrev.data, tc = tanhC.data, dhd = dh.data, dcd = dc.data, dg = dgates.data;
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < H; j++) {
        const o4 = b * 4 * H + j, o = b * H + j;
        const ig = g[o4], fg = g[o4 + H], gg = g[o4 + 2 * H], og = g[o4 + 3 * H];
        // c = f⊙cPrev + i⊙g and h = o⊙tanh(c): dc collects the path through h and the one from t+1.
        const dct = dcd[o] + dhd[o] * og * (1 - tc[o] * tc[o]);
        dg[o4] = dct * gg * ig * (1 - ig);
        dg[o4 + H] = dct * cp[o] * fg * (1 - fg);
        dg[o4 + 2 * H] = dct * ig * (1 - gg * gg);
        dg[o4 + 3 * H] = dhd[o] * tc[o] * og * (1 - og);
        dcd[o] = dct * fg;
      }
    }
  }

  gruCell(xp: Tensor, hp: Tensor, hPrev: Tensor, h: Tensor, B: number, H: number): void {
    const x = xp.data, p = hp.data, hp0 = hPrev.data, hd = h.data;
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < H; j++) {
        const o3 = b * 3 * H + j, o = b * H + j;
        const r = sigmoid(x[o3] + p[o3]);
        const z = sigmoid(x[o3 + H] + p[o3 + H]);
        const n = Math.tanh(x[o3 + 2 * H] + r * p[o3 + 2 * H]);
        x[o3] = r; x[o3 + H] = z; x[o3 + 2 * H] = n;
        hd[o] = (1 - z) * n + z * hp0[o];
      }
    }
  }
  gruCellBackward(gates: Tensor, hp: Tensor, hPrev: Tensor, dh: Tensor, dxp: Tensor, dhp: Tensor, dhPrev: Tensor,
    B: number, H: number): void {
    const g = gates.data, p = hp.data, hp0 = hPrev.data, dhd = dh.data, dx = dxp.data, dp = dhp.data, dhp0 = dhPrev.data;
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < H; j++) {
        const o3 = b * 3 * H + j, o = b * H + j;
        const r = g[o3], z = g[o3 + H], n = g[o3 + 2 * H], d = dhd[o];
        const dn = d * (1 - z) * (1 - n * n); // through n = tanh(xp_n + r⊙hp_n)
        const dz = d * (hp0[o] - n) * z * (1 - z);
        const dr = dn * p[o3 + 2 * H] * r * (1 - r);
        dx[o3] = dr; dx[o3 + H] = dz; dx[o3 + 2 * H] = dn;
        dp[o3] = dr; dp[o3 + H] = dz; dp[o3 + 2 * H] = dn * r;
        dhp0[o] += d * z;
      }
    }
  }

  gruPaperGates(xrz: Tensor, hrz: Tensor, hPrev: Tensor, rh: Tensor, B: number, H: number): void {
    const x = xrz.data, p = hrz.data, hp0 = hPrev.data, rhd = rh.data;
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < H; j++) {
        const o2 = b * 2 * H + j, o = b * H + j;
        const r = sigmoid(x[o2] + p[o2]);
        x[o2] = r;
        x[o2 + H] = sigmoid(x[o2 + H] + p[o2 + H]);
        rhd[o] = r * hp0[o];
      }
    }
  }
  gruPaperOutput(rz: Tensor, xn: Tensor, hPrev: Tensor, h: Tensor, B: number, H: number): void {
    const g = rz.data, x = xn.data, hp0 = hPrev.data, hd = h.data;
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < H; j++) {
        const o = b * H + j, z = g[b * 2 * H + H + j];
        const n = Math.tanh(x[o]);
        x[o] = n;
        hd[o] = (1 - z) * n + z * hp0[o];
      }
    }
  }
  gruPaperOutputBackward(rz: Tensor, n: Tensor, hPrev: Tensor, dh: Tensor, drz: Tensor, dn: Tensor, dhPrev: Tensor,
    B: number, H: number): void {
    const g = rz.data, nd = n.data, hp0 = hPrev.data, dhd = dh.data, dg = drz.data, dnd = dn.data, dhp0 = dhPrev.data;
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < H; j++) {
        const o = b * H + j, oz = b * 2 * H + H + j;
        const z = g[oz], nn = nd[o], d = dhd[o];
        dg[oz] = d * (hp0[o] - nn) * z * (1 - z);
        dnd[o] = d * (1 - z) * (1 - nn * nn);
        dhp0[o] += d * z;
      }
    }
  }
  gruPaperGatesBackward(rz: Tensor, hPrev: Tensor, drh: Tensor, drz: Tensor, dhPrev: Tensor, B: number, H: number): void {
    const g = rz.data, hp0 = hPrev.data, d = drh.data, dg = drz.data, dhp0 = dhPrev.data;
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < H; j++) {
        const o = b * H + j, or = b * 2 * H + j;
        const r = g[or];
        dg[or] = d[o] * hp0[o] * r * (1 - r);
        dhp0[o] += d[o] * r;
      }
    }
  }

  // ==== transformer and MoE ops ====================================================================
  // The maths lives in ./transformer-ops.ts and ./moe-aux.ts (raw-array functions other backends
  // share and are tested against).

  attention(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, s: AttentionShape): void {
    tx.attentionForward(q.data, k.data, v.data, out.data, lse.data, s);
  }
  attentionBackward(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, dout: Tensor,
    dq: Tensor, dk: Tensor, dv: Tensor, s: AttentionShape): void {
    tx.attentionBackward(q.data, k.data, v.data, out.data, lse.data, dout.data, dq.data, dk.data, dv.data, s);
  }

  swiglu(gu: Tensor, out: Tensor, rows: number, F: number): void {
    tx.swigluForward(gu.data, out.data, rows, F);
  }
  swigluBackward(gu: Tensor, dout: Tensor, dgu: Tensor, rows: number, F: number): void {
    tx.swigluBackward(gu.data, dout.data, dgu.data, rows, F);
  }

  groupedGemm(mode: 'nn' | 'nt' | 'tn', G: number, offsets: IntTensor, n: number, k: number,
    A: Tensor, B: Tensor, beta: 0 | 1, C: Tensor): void {
    const off = offsets.data;
    tx.groupedGemm(mode, G, off, n, k, A.data, B.data, beta, C.data);
  }

  moeRoute(logits: Tensor, probs: Tensor, lse: Tensor, topIdx: IntTensor, topGate: Tensor,
    n: number, E: number, k: number, renormalize: boolean): void {
    tx.moeRoute(logits.data, probs.data, lse.data, topIdx.data, topGate.data, n, E, k, renormalize);
  }
  moePlan(topIdx: IntTensor, n: number, E: number, k: number, capacity: number,
    slot: IntTensor, rowToken: IntTensor, offsets: IntTensor, routed: IntTensor): void {
    tx.moePlan(topIdx.data, n, E, k, capacity, slot.data, rowToken.data, offsets.data, routed.data);
  }
  moeCombine(yd: Tensor, slot: IntTensor, topGate: Tensor, y: Tensor, n: number, k: number, C: number): void {
    tx.moeCombine(yd.data, slot.data, topGate.data, y.data, n, k, C);
  }
  moeCombineBackward(yd: Tensor, slot: IntTensor, topGate: Tensor, dy: Tensor, dyd: Tensor, dgate: Tensor,
    n: number, k: number, C: number): void {
    tx.moeCombineBackward(yd.data, slot.data, topGate.data, dy.data, dyd.data, dgate.data, n, k, C);
  }
  moeRouteBackward(probs: Tensor, lse: Tensor, topIdx: IntTensor, topGate: Tensor, dgate: Tensor,
    balanceGrad: Tensor | null, zGrad: number, dlogits: Tensor,
    n: number, E: number, k: number, renormalize: boolean): void {
    tx.moeRouteBackward(probs.data, lse.data, topIdx.data, topGate.data, dgate.data, balanceGrad?.data ?? null,
      zGrad, dlogits.data, n, E, k, renormalize);
  }
  moeAuxLoss(probs: Tensor, lse: Tensor, offsets: IntTensor, routed: IntTensor, n: number, E: number, k: number,
    balanceCoef: number, zLossCoef: number, balanceGrad: Tensor, loss: Tensor, counts: IntTensor, accumulate: boolean): void {
    moeAuxLoss(probs.data, lse.data, offsets.data, routed.data, n, E, k, balanceCoef, zLossCoef, balanceGrad.data,
      loss.data, counts.data, accumulate);
  }

  // The associative-memory recurrence; the maths lives in ./memory-recurrence.ts.
  memoryForward(k: Tensor, v: Tensor, q: Tensor, y: Tensor, saved: Tensor, s: MemoryShape): void {
    memory.memoryForward(k.data, v.data, q.data, y.data, saved.data, s);
  }
  memoryBackward(k: Tensor, v: Tensor, q: Tensor, saved: Tensor, dy: Tensor, dk: Tensor, dv: Tensor, dq: Tensor,
    s: MemoryShape): void {
    memory.memoryBackward(k.data, v.data, q.data, saved.data, dy.data, dk.data, dv.data, dq.data, s);
  }
}

// Every op checks its arguments first (src/ops/checked.ts).
installArgumentChecks(ReferenceOps.prototype);

function sigmoid(x: number): number {
  return activate('sigmoid', x);
}

function logSumExp(d: FloatArray, o: number, n: number): number {
  let max = -Infinity;
  for (let c = 0; c < n; c++) max = Math.max(max, d[o + c]);
  let sum = 0;
  for (let c = 0; c < n; c++) sum += Math.exp(d[o + c] - max);
  return max + Math.log(sum);
}
