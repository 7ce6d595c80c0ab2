// Reference row-wise ops on rows×cols matrices (Ops.addBias … Ops.softmaxCrossEntropy; the same
// family as assembly/rows.ts and native/rows.cu), on raw typed arrays (the conventions of every
// reference family file: ./index.ts).
import type { FloatArray } from '../../ops/types.js';

export function addBias(y: FloatArray, bias: FloatArray, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) y[r * cols + c] += bias[c];
}
export function sumRows(x: FloatArray, out: FloatArray, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c] += x[r * cols + c];
}
export function sumCols(x: FloatArray, out: FloatArray, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[r * cols + c];
    out[r] = s;
  }
}
export function softmax(x: FloatArray, y: FloatArray, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let max = -Infinity;
    for (let c = 0; c < cols; c++) max = Math.max(max, x[o + c]);
    let sum = 0;
    for (let c = 0; c < cols; c++) { const e = Math.exp(x[o + c] - max); y[o + c] = e; sum += e; }
    for (let c = 0; c < cols; c++) y[o + c] /= sum;
  }
}
export function logSoftmax(x: FloatArray, y: FloatArray, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const lse = logSumExp(x, r * cols, cols);
    for (let c = 0; c < cols; c++) y[r * cols + c] = x[r * cols + c] - lse;
  }
}
export function softmaxBackward(y: FloatArray, dy: FloatArray, dx: FloatArray, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let dot = 0;
    for (let c = 0; c < cols; c++) dot += dy[o + c] * y[o + c];
    for (let c = 0; c < cols; c++) dx[o + c] = y[o + c] * (dy[o + c] - dot);
  }
}
export function logSoftmaxBackward(y: FloatArray, dy: FloatArray, dx: FloatArray, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += dy[o + c];
    for (let c = 0; c < cols; c++) dx[o + c] = dy[o + c] - Math.exp(y[o + c]) * sum;
  }
}
/** The summed loss over rows with a target ≥ 0; dlogits (when given) overwritten (see Ops.softmaxCrossEntropy). */
export function softmaxCrossEntropy(logits: FloatArray, targets: Int32Array, rows: number, cols: number,
  dlogits: FloatArray | null, gradScale: number): number {
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * cols, t = targets[r];
    if (t < 0) { if (dlogits) dlogits.fill(0, o, o + cols); continue; }
    const lse = logSumExp(logits, o, cols);
    loss += lse - logits[o + t];
    if (dlogits) {
      for (let c = 0; c < cols; c++) dlogits[o + c] = Math.exp(logits[o + c] - lse) * gradScale;
      dlogits[o + t] -= gradScale;
    }
  }
  return loss;
}

function logSumExp(d: FloatArray, o: number, n: number): number {
  let max = -Infinity;
  for (let c = 0; c < n; c++) max = Math.max(max, d[o + c]);
  let sum = 0;
  for (let c = 0; c < n; c++) sum += Math.exp(d[o + c] - max);
  return max + Math.log(sum);
}
