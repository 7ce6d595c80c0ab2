// Reference LayerNorm (Ops.layerNorm, Ops.layerNormBackward; the same family as
// assembly/layernorm.ts and native/layernorm.cu), on raw typed arrays (the conventions of every
// reference family file: ./index.ts).
import type { FloatArray } from '../../ops/types.js';

export function layerNorm(x: FloatArray, gamma: FloatArray, beta: FloatArray, y: FloatArray, mean: FloatArray,
  rstd: FloatArray, rows: number, cols: number, eps: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let mu = 0;
    for (let c = 0; c < cols; c++) mu += x[o + c];
    mu /= cols;
    let v = 0;
    for (let c = 0; c < cols; c++) { const d = x[o + c] - mu; v += d * d; }
    v /= cols;
    const s = 1 / Math.sqrt(v + eps);
    for (let c = 0; c < cols; c++) y[o + c] = (x[o + c] - mu) * s * gamma[c] + beta[c];
    mean[r] = mu;
    rstd[r] = s;
  }
}

/** Accumulates into dx, dgamma and dbeta. */
export function layerNormBackward(x: FloatArray, gamma: FloatArray, mean: FloatArray, rstd: FloatArray, dy: FloatArray,
  dx: FloatArray, dgamma: FloatArray, dbeta: FloatArray, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols, mu = mean[r], s = rstd[r];
    // With x̂ = (x−μ)·rstd and g = dy ⊙ gamma:
    // dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂))
    let gMean = 0, gxMean = 0;
    for (let c = 0; c < cols; c++) {
      const xhat = (x[o + c] - mu) * s;
      const g = dy[o + c] * gamma[c];
      gMean += g;
      gxMean += g * xhat;
      dgamma[c] += dy[o + c] * xhat;
      dbeta[c] += dy[o + c];
    }
    gMean /= cols;
    gxMean /= cols;
    for (let c = 0; c < cols; c++) {
      const xhat = (x[o + c] - mu) * s;
      dx[o + c] += s * (dy[o + c] * gamma[c] - gMean - xhat * gxMean);
    }
  }
}
