// Row-wise kernels on row-major rows×cols f32 matrices: bias add and its gradient, row sums,
// softmax / log-softmax and their backward passes, and the fused softmax cross-entropy.
// Each row is processed with a 4-lane body and one partial vector for the last cols mod 4
// columns (see loadTail in math.ts). Rows never interact, so y may alias x where allowed: within
// a row every element is read (or its exp saved) before its position is overwritten.
import { hsum, ln, loadTail, rowDot, rowMax, rowSum, storeTail, vexp } from './math';

// @ts-ignore: decorator
@inline function rowPtr(base: usize, r: i32, cols: i32): usize {
  return base + ((<usize>r * <usize>cols) << 2);
}

// y: rows×cols, bias: cols. y[r,c] += bias[c]. 8 columns a step with the loads before the
// stores, so that V8's revectorizer pairs them into 256-bit code (the same sum per element in
// every loop). Rows are independent: src/backends/wasm/row-split.ts runs ranges of rows on
// several threads by moving y.
export function addBias(y: usize, bias: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const yr = rowPtr(y, r, cols);
    let c = 0;
    for (; c + 8 <= cols; c += 8) {
      const o = <usize>c << 2;
      const y0 = v128.load(yr + o), y1 = v128.load(yr + o, 16);
      const b0 = v128.load(bias + o), b1 = v128.load(bias + o, 16);
      v128.store(yr + o, f32x4.add(y0, b0));
      v128.store(yr + o, f32x4.add(y1, b1), 16);
    }
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      v128.store(yr + o, f32x4.add(v128.load(yr + o), v128.load(bias + o)));
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      store<f32>(yr + o, load<f32>(yr + o) + load<f32>(bias + o));
    }
  }
}

// x: rows×cols, out: cols. out[c] += Σ_r x[r,c] (the bias gradient: a column sum; ACCUMULATES).
export function sumRows(x: usize, out: usize, rows: i32, cols: i32): void {
  sumRowsOf(x, out, rows, cols, 0, cols);
}

// sumRows on columns c0 ≤ c < c1 only. Each column's sum is the same whichever range holds it
// (zero, plus the rows in order, then added to out), so the column ranges that
// src/backends/wasm/row-split.ts runs on several threads give sumRows's bits exactly.
export function sumRowsRange(x: usize, out: usize, rows: i32, cols: i32, c0: i32, c1: i32): void {
  sumRowsOf(x, out, rows, cols, c0, c1);
}

// Columns are taken 16 at a time with four accumulators held in registers while walking down
// the rows, so out is read and written once per block instead of once per row. out's loads come
// before its stores, so that V8's revectorizer can pair the block into 256-bit code.
// @ts-ignore: decorator
@inline function sumRowsOf(x: usize, out: usize, rows: i32, cols: i32, c0: i32, c1: i32): void {
  const stride = <usize>cols << 2;
  let c = c0;
  for (; c + 16 <= c1; c += 16) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let p = x + (<usize>c << 2);
    for (let r = 0; r < rows; r++, p += stride) {
      a0 = f32x4.add(a0, v128.load(p));
      a1 = f32x4.add(a1, v128.load(p, 16));
      a2 = f32x4.add(a2, v128.load(p, 32));
      a3 = f32x4.add(a3, v128.load(p, 48));
    }
    const q = out + (<usize>c << 2);
    const o0 = v128.load(q), o1 = v128.load(q, 16), o2 = v128.load(q, 32), o3 = v128.load(q, 48);
    v128.store(q, f32x4.add(o0, a0));
    v128.store(q, f32x4.add(o1, a1), 16);
    v128.store(q, f32x4.add(o2, a2), 32);
    v128.store(q, f32x4.add(o3, a3), 48);
  }
  for (; c + 4 <= c1; c += 4) {
    let a0 = f32x4.splat(0);
    let p = x + (<usize>c << 2);
    for (let r = 0; r < rows; r++, p += stride) a0 = f32x4.add(a0, v128.load(p));
    const q = out + (<usize>c << 2);
    v128.store(q, f32x4.add(v128.load(q), a0));
  }
  if (c < c1) {
    const k = c1 - c;
    let a0 = f32x4.splat(0);
    let p = x + (<usize>c << 2);
    for (let r = 0; r < rows; r++, p += stride) a0 = f32x4.add(a0, loadTail(p, k, 0));
    const q = out + (<usize>c << 2);
    storeTail(q, f32x4.add(loadTail(q, k, 0), a0), k);
  }
}

// x: rows×cols, out: rows. out[r] = Σ_c x[r,c] (a row sum; OVERWRITES).
export function sumCols(x: usize, out: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) store<f32>(out + (<usize>r << 2), rowSum(rowPtr(x, r, cols), cols));
}

// Σ_c exp(x[c] − m) over one row; when save ≠ 0 each exp is also stored to y[c] (y may be x).
// Lanes past the end of the row are padded with −∞, whose exp is exactly 0.
// @ts-ignore: decorator
@inline function expSum(x: usize, y: usize, cols: i32, m: f32, save: bool): f32 {
  const mv = f32x4.splat(m);
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  let c = 0;
  for (; c + 8 <= cols; c += 8) {
    const o = <usize>c << 2;
    const e0 = vexp(f32x4.sub(v128.load(x + o), mv));
    const e1 = vexp(f32x4.sub(v128.load(x + o, 16), mv));
    if (save) { v128.store(y + o, e0); v128.store(y + o, e1, 16); }
    s0 = f32x4.add(s0, e0);
    s1 = f32x4.add(s1, e1);
  }
  for (; c + 4 <= cols; c += 4) {
    const o = <usize>c << 2;
    const e0 = vexp(f32x4.sub(v128.load(x + o), mv));
    if (save) v128.store(y + o, e0);
    s0 = f32x4.add(s0, e0);
  }
  if (c < cols) {
    const o = <usize>c << 2;
    const e0 = vexp(f32x4.sub(loadTail(x + o, cols - c, <f32>-Infinity), mv));
    if (save) storeTail(y + o, e0, cols - c);
    s1 = f32x4.add(s1, e0);
  }
  return hsum(f32x4.add(s0, s1));
}

// p[c] *= a over one row.
// @ts-ignore: decorator
@inline function scaleRow(p: usize, cols: i32, a: f32): void {
  const av = f32x4.splat(a);
  let c = 0;
  for (; c + 4 <= cols; c += 4) {
    const o = <usize>c << 2;
    v128.store(p + o, f32x4.mul(v128.load(p + o), av));
  }
  for (; c < cols; c++) {
    const o = <usize>c << 2;
    store<f32>(p + o, load<f32>(p + o) * a);
  }
}

// x, y: rows×cols. y[r,:] = softmax(x[r,:]); y may alias x.
// The row max is subtracted before exp: softmax is invariant to it, and it makes every exp
// argument ≤ 0, so nothing overflows (softmax([1000, 0, −1000]) = [1, 0, 0], not NaN) and the
// largest term is exactly 1, so the sum is ≥ 1 and the division is safe.
export function softmax(x: usize, y: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const xr = rowPtr(x, r, cols), yr = rowPtr(y, r, cols);
    const m = rowMax(xr, cols);
    const sum = expSum(xr, yr, cols, m, true); // y holds exp(x − m) now
    scaleRow(yr, cols, <f32>1 / sum);
  }
}

// x, y: rows×cols. y[r,:] = x[r,:] − logsumexp(x[r,:]); y may alias x.
// logsumexp = m + ln Σ exp(x − m) with m the row max (no overflow, see softmax). The output is
// formed as (x − m) − ln Σ, never as x − (m + ln Σ): for large logits (|x| ~ 1e3) m + ln Σ would
// be rounded to the f32 spacing of m (~6e-5) before the subtraction.
export function logSoftmax(x: usize, y: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const xr = rowPtr(x, r, cols), yr = rowPtr(y, r, cols);
    const m = rowMax(xr, cols);
    const lsum = <f32>ln(<f64>expSum(xr, 0, cols, m, false));
    const mv = f32x4.splat(m), lv = f32x4.splat(lsum);
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      v128.store(yr + o, f32x4.sub(f32x4.sub(v128.load(xr + o), mv), lv));
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      store<f32>(yr + o, (load<f32>(xr + o) - m) - lsum);
    }
  }
}

// y, dy, dx: rows×cols, y = softmax(x). dx = y ⊙ (dy − Σ_c dy·y) per row (OVERWRITES; dx may
// alias dy: the dot product is finished before any dx is written).
export function softmaxBackward(y: usize, dy: usize, dx: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const yr = rowPtr(y, r, cols), dyr = rowPtr(dy, r, cols), dxr = rowPtr(dx, r, cols);
    const dot = rowDot(dyr, yr, cols);
    const dv = f32x4.splat(dot);
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      v128.store(dxr + o, f32x4.mul(v128.load(yr + o), f32x4.sub(v128.load(dyr + o), dv)));
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      store<f32>(dxr + o, load<f32>(yr + o) * (load<f32>(dyr + o) - dot));
    }
  }
}

// y, dy, dx: rows×cols, y = logSoftmax(x). dx = dy − exp(y)·Σ_c dy per row (OVERWRITES; dx may
// alias dy). exp(y) = softmax(x) ≤ 1: y ≤ 0, so exp cannot overflow.
export function logSoftmaxBackward(y: usize, dy: usize, dx: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const yr = rowPtr(y, r, cols), dyr = rowPtr(dy, r, cols), dxr = rowPtr(dx, r, cols);
    const sv = f32x4.splat(rowSum(dyr, cols));
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      v128.store(dxr + o, f32x4.sub(v128.load(dyr + o), f32x4.mul(vexp(v128.load(yr + o)), sv)));
    }
    if (c < cols) {
      const o = <usize>c << 2, k = cols - c;
      storeTail(dxr + o, f32x4.sub(loadTail(dyr + o, k, 0), f32x4.mul(vexp(loadTail(yr + o, k, 0)), sv)), k);
    }
  }
}

// logits: rows×cols, targets: rows i32 (class per row; < 0 = padded row, ignored),
// dlogits: rows×cols or 0 for none (may alias logits). Returns Σ_r (logsumexp(x_r) − x_r[t_r])
// over the non-ignored rows, accumulated in f64. When dlogits ≠ 0 it is OVERWRITTEN with
// (softmax(x_r) − onehot(t_r))·gradScale, and with zeros on ignored rows.
// Targets ≥ cols are rejected by the JS wrapper before this runs.
export function softmaxCrossEntropy(logits: usize, targets: usize, rows: i32, cols: i32, dlogits: usize, gradScale: f64): f64 {
  let loss: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const t = load<i32>(targets + (<usize>r << 2));
    const xr = rowPtr(logits, r, cols);
    const dr = dlogits ? rowPtr(dlogits, r, cols) : 0;
    if (t < 0) {
      if (dlogits) zeroRow(dr, cols);
      continue;
    }
    // Read the target logit before dlogits (which may be the same memory) is written.
    const xt = load<f32>(xr + (<usize>t << 2));
    const m = rowMax(xr, cols);
    // Max-subtracted as in softmax: the exps are ≤ 1 and the sum is ≥ 1, so huge logits are fine.
    // With a gradient wanted, the exps go straight into dlogits and are scaled in place below.
    const sum = dlogits ? expSum(xr, dr, cols, m, true) : expSum(xr, 0, cols, m, false);
    // loss_r = logsumexp − x_t = ln Σ + (m − x_t); m − x_t is exact in f64.
    loss += ln(<f64>sum) + (<f64>m - <f64>xt);
    if (dlogits) {
      // softmax = exp(x − m)/Σ: one scale factor gradScale/Σ, computed in f64 then rounded once.
      scaleRow(dr, cols, <f32>(gradScale / <f64>sum));
      const pt = dr + (<usize>t << 2);
      store<f32>(pt, load<f32>(pt) - <f32>gradScale);
    }
  }
  return loss;
}

// p[0..cols) = 0.
// @ts-ignore: decorator
@inline function zeroRow(p: usize, cols: i32): void {
  const z = f32x4.splat(0);
  let c = 0;
  for (; c + 4 <= cols; c += 4) v128.store(p + (<usize>c << 2), z);
  for (; c < cols; c++) store<f32>(p + (<usize>c << 2), 0);
}
