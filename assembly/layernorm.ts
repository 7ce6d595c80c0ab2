// LayerNorm over each row of a rows×cols f32 matrix, forward and backward, with the same
// formulas as the reference backend. Per row: a 4-lane body plus one partial vector for the
// last cols mod 4 columns (lanes past the end are zero-padded and never stored).
import { hsum, loadTail, rowSum, storeTail } from './math';

// @ts-ignore: decorator
@inline function rowPtr(base: usize, r: i32, cols: i32): usize {
  return base + ((<usize>r * <usize>cols) << 2);
}

// Σ_c (x[c] − mu)² over one row. Two-pass variance (mean first, then squared deviations):
// E[x²] − μ² would cancel catastrophically when |μ| ≫ σ. Padded lanes are set to mu so that
// they contribute exactly 0.
// @ts-ignore: decorator
@inline function sumSqDev(p: usize, n: i32, mu: f32): f32 {
  const mv = f32x4.splat(mu);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const q = p + (<usize>i << 2);
    const d0 = f32x4.sub(v128.load(q), mv), d1 = f32x4.sub(v128.load(q, 16), mv);
    a0 = f32x4.add(a0, f32x4.mul(d0, d0));
    a1 = f32x4.add(a1, f32x4.mul(d1, d1));
  }
  for (; i + 4 <= n; i += 4) {
    const d0 = f32x4.sub(v128.load(p + (<usize>i << 2)), mv);
    a0 = f32x4.add(a0, f32x4.mul(d0, d0));
  }
  if (i < n) {
    const d1 = f32x4.sub(loadTail(p + (<usize>i << 2), n - i, mu), mv);
    a1 = f32x4.add(a1, f32x4.mul(d1, d1));
  }
  return hsum(f32x4.add(a0, a1));
}

// x, y: rows×cols; gamma, beta: cols; mean, rstd: rows (saved for the backward pass).
// μ = mean(x_r), var = mean((x_r − μ)²) (biased, as PyTorch), rstd = 1/√(var + eps),
// y = (x − μ)·rstd·gamma + beta.
// Rows are independent: src/backends/wasm/row-split.ts runs ranges of rows on several threads by
// moving the pointers.
export function layerNorm(x: usize, gamma: usize, beta: usize, y: usize, mean: usize, rstd: usize,
  rows: i32, cols: i32, eps: f64): void {
  const invCols: f64 = 1.0 / <f64>cols;
  for (let r = 0; r < rows; r++) {
    const xr = rowPtr(x, r, cols), yr = rowPtr(y, r, cols);
    const mu = <f32>(<f64>rowSum(xr, cols) * invCols);
    const v = <f64>sumSqDev(xr, cols, mu) * invCols;
    const s = <f32>(1.0 / sqrt<f64>(v + eps));
    store<f32>(mean + (<usize>r << 2), mu);
    store<f32>(rstd + (<usize>r << 2), s);
    const mv = f32x4.splat(mu), sv = f32x4.splat(s);
    let c = 0;
    // 8 columns a step, all loads before the stores: V8's revectorizer pairs them into 256-bit
    // code. Each element's arithmetic is the same in every loop.
    for (; c + 8 <= cols; c += 8) {
      const o = <usize>c << 2;
      const x0 = v128.load(xr + o), x1 = v128.load(xr + o, 16);
      const g0 = v128.load(gamma + o), g1 = v128.load(gamma + o, 16);
      const b0 = v128.load(beta + o), b1 = v128.load(beta + o, 16);
      const y0 = f32x4.add(f32x4.mul(f32x4.mul(f32x4.sub(x0, mv), sv), g0), b0);
      const y1 = f32x4.add(f32x4.mul(f32x4.mul(f32x4.sub(x1, mv), sv), g1), b1);
      v128.store(yr + o, y0);
      v128.store(yr + o, y1, 16);
    }
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      const xhat = f32x4.mul(f32x4.sub(v128.load(xr + o), mv), sv);
      v128.store(yr + o, f32x4.add(f32x4.mul(xhat, v128.load(gamma + o)), v128.load(beta + o)));
    }
    if (c < cols) {
      const o = <usize>c << 2, k = cols - c;
      const xhat = f32x4.mul(f32x4.sub(loadTail(xr + o, k, 0), mv), sv);
      storeTail(yr + o, f32x4.add(f32x4.mul(xhat, loadTail(gamma + o, k, 0)), loadTail(beta + o, k, 0)), k);
    }
  }
}

// x, dy, dx: rows×cols; gamma, dgamma, dbeta: cols; mean, rstd: rows (from layerNorm).
// ACCUMULATES into dx, dgamma and dbeta. With x̂ = (x − μ)·rstd and g = dy ⊙ gamma:
//   dbeta += Σ_r dy,   dgamma += Σ_r dy ⊙ x̂,
//   dx += rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂))
// (the two means are the gradient flowing through μ and through rstd). Pass 1 gathers the two
// row means and updates dgamma/dbeta; pass 2 needs them and writes dx.
//
// Split across threads (src/backends/wasm/row-split.ts) the same work runs as two kernels:
// layerNormBackwardDx on ranges of rows and layerNormBackwardParams on ranges of columns, so that
// each dgamma/dbeta element still sums its rows in row order, from its old value, with the same
// operations: bit-identical to this one (dx: the same row code, backwardRow below).
export function layerNormBackward(x: usize, gamma: usize, mean: usize, rstd: usize, dy: usize,
  dx: usize, dgamma: usize, dbeta: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) backwardRow(x, gamma, mean, rstd, dy, dx, dgamma, dbeta, r, cols, true);
}

// dx of rows r0 ≤ r < r1 only (dgamma, dbeta untouched): layerNormBackward's row code.
export function layerNormBackwardDx(x: usize, gamma: usize, mean: usize, rstd: usize, dy: usize,
  dx: usize, r0: i32, r1: i32, cols: i32): void {
  for (let r = r0; r < r1; r++) backwardRow(x, gamma, mean, rstd, dy, dx, 0, 0, r, cols, false);
}

// One row of layerNormBackward; params: whether pass 1 also updates dgamma and dbeta.
// @ts-ignore: decorator
@inline function backwardRow(x: usize, gamma: usize, mean: usize, rstd: usize, dy: usize,
  dx: usize, dgamma: usize, dbeta: usize, r: i32, cols: i32, params: bool): void {
  const invCols: f32 = <f32>(1.0 / <f64>cols);
  const xr = rowPtr(x, r, cols), dyr = rowPtr(dy, r, cols), dxr = rowPtr(dx, r, cols);
  const mv = f32x4.splat(load<f32>(mean + (<usize>r << 2)));
  const s = load<f32>(rstd + (<usize>r << 2));
  const sv = f32x4.splat(s);
  let gs = f32x4.splat(0), gxs = f32x4.splat(0);
  let c = 0;
  for (; c + 4 <= cols; c += 4) {
    const o = <usize>c << 2;
    const xhat = f32x4.mul(f32x4.sub(v128.load(xr + o), mv), sv);
    const d = v128.load(dyr + o);
    const g = f32x4.mul(d, v128.load(gamma + o));
    gs = f32x4.add(gs, g);
    gxs = f32x4.add(gxs, f32x4.mul(g, xhat));
    if (params) {
      v128.store(dgamma + o, f32x4.add(v128.load(dgamma + o), f32x4.mul(d, xhat)));
      v128.store(dbeta + o, f32x4.add(v128.load(dbeta + o), d));
    }
  }
  if (c < cols) {
    // Padded lanes: dy = 0, so g = 0 and they add nothing to the sums.
    const o = <usize>c << 2, k = cols - c;
    const xhat = f32x4.mul(f32x4.sub(loadTail(xr + o, k, 0), mv), sv);
    const d = loadTail(dyr + o, k, 0);
    const g = f32x4.mul(d, loadTail(gamma + o, k, 0));
    gs = f32x4.add(gs, g);
    gxs = f32x4.add(gxs, f32x4.mul(g, xhat));
    if (params) {
      storeTail(dgamma + o, f32x4.add(loadTail(dgamma + o, k, 0), f32x4.mul(d, xhat)), k);
      storeTail(dbeta + o, f32x4.add(loadTail(dbeta + o, k, 0), d), k);
    }
  }
  const gMean = f32x4.splat(hsum(gs) * invCols);
  const gxMean = f32x4.splat(hsum(gxs) * invCols);
  // dx, 8 columns a step with both loads before both stores, so that V8's revectorizer can pair
  // them into 256-bit code; each element's arithmetic is the same in every loop below.
  c = 0;
  for (; c + 8 <= cols; c += 8) {
    const o = <usize>c << 2;
    const x0 = v128.load(xr + o), x1 = v128.load(xr + o, 16);
    const g0 = f32x4.mul(v128.load(dyr + o), v128.load(gamma + o));
    const g1 = f32x4.mul(v128.load(dyr + o, 16), v128.load(gamma + o, 16));
    const p0 = v128.load(dxr + o), p1 = v128.load(dxr + o, 16);
    const t0 = f32x4.sub(f32x4.sub(g0, gMean), f32x4.mul(f32x4.mul(f32x4.sub(x0, mv), sv), gxMean));
    const t1 = f32x4.sub(f32x4.sub(g1, gMean), f32x4.mul(f32x4.mul(f32x4.sub(x1, mv), sv), gxMean));
    v128.store(dxr + o, f32x4.add(p0, f32x4.mul(sv, t0)));
    v128.store(dxr + o, f32x4.add(p1, f32x4.mul(sv, t1)), 16);
  }
  for (; c + 4 <= cols; c += 4) {
    const o = <usize>c << 2;
    const xhat = f32x4.mul(f32x4.sub(v128.load(xr + o), mv), sv);
    const g = f32x4.mul(v128.load(dyr + o), v128.load(gamma + o));
    const t = f32x4.sub(f32x4.sub(g, gMean), f32x4.mul(xhat, gxMean));
    v128.store(dxr + o, f32x4.add(v128.load(dxr + o), f32x4.mul(sv, t)));
  }
  if (c < cols) {
    const o = <usize>c << 2, k = cols - c;
    const xhat = f32x4.mul(f32x4.sub(loadTail(xr + o, k, 0), mv), sv);
    const g = f32x4.mul(loadTail(dyr + o, k, 0), loadTail(gamma + o, k, 0));
    const t = f32x4.sub(f32x4.sub(g, gMean), f32x4.mul(xhat, gxMean));
    storeTail(dxr + o, f32x4.add(loadTail(dxr + o, k, 0), f32x4.mul(sv, t)), k);
  }
}

// dgamma += Σ_r dy ⊙ x̂ and dbeta += Σ_r dy over columns c0 ≤ c < c1 only (dx untouched): each
// element's sum runs from its old value over the rows in order with layerNormBackward's
// operations, so the result is bit-identical to it. The column's sums stay in registers while
// the loop walks down the rows (16 columns a block: four vectors each, as sumRows).
export function layerNormBackwardParams(x: usize, mean: usize, rstd: usize, dy: usize,
  dgamma: usize, dbeta: usize, rows: i32, cols: i32, c0: i32, c1: i32): void {
  const stride = <usize>cols << 2;
  let c = c0;
  for (; c + 16 <= c1; c += 16) {
    const o = <usize>c << 2;
    let g0 = v128.load(dgamma + o), g1 = v128.load(dgamma + o, 16), g2 = v128.load(dgamma + o, 32), g3 = v128.load(dgamma + o, 48);
    let b0 = v128.load(dbeta + o), b1 = v128.load(dbeta + o, 16), b2 = v128.load(dbeta + o, 32), b3 = v128.load(dbeta + o, 48);
    let xr = x + o, dyr = dy + o;
    for (let r = 0; r < rows; r++, xr += stride, dyr += stride) {
      const mv = f32x4.splat(load<f32>(mean + (<usize>r << 2)));
      const sv = f32x4.splat(load<f32>(rstd + (<usize>r << 2)));
      const d0 = v128.load(dyr), d1 = v128.load(dyr, 16), d2 = v128.load(dyr, 32), d3 = v128.load(dyr, 48);
      const x0 = v128.load(xr), x1 = v128.load(xr, 16), x2 = v128.load(xr, 32), x3 = v128.load(xr, 48);
      g0 = f32x4.add(g0, f32x4.mul(d0, f32x4.mul(f32x4.sub(x0, mv), sv)));
      g1 = f32x4.add(g1, f32x4.mul(d1, f32x4.mul(f32x4.sub(x1, mv), sv)));
      g2 = f32x4.add(g2, f32x4.mul(d2, f32x4.mul(f32x4.sub(x2, mv), sv)));
      g3 = f32x4.add(g3, f32x4.mul(d3, f32x4.mul(f32x4.sub(x3, mv), sv)));
      b0 = f32x4.add(b0, d0); b1 = f32x4.add(b1, d1); b2 = f32x4.add(b2, d2); b3 = f32x4.add(b3, d3);
    }
    v128.store(dgamma + o, g0); v128.store(dgamma + o, g1, 16); v128.store(dgamma + o, g2, 32); v128.store(dgamma + o, g3, 48);
    v128.store(dbeta + o, b0); v128.store(dbeta + o, b1, 16); v128.store(dbeta + o, b2, 32); v128.store(dbeta + o, b3, 48);
  }
  for (; c < c1; c += 4) {
    // 4 columns (or the last 1–3: lanes past c1 are padded and never stored).
    const o = <usize>c << 2, k = min(c1 - c, 4);
    let g = loadTail4(dgamma + o, k), b = loadTail4(dbeta + o, k);
    let xr = x + o, dyr = dy + o;
    for (let r = 0; r < rows; r++, xr += stride, dyr += stride) {
      const mv = f32x4.splat(load<f32>(mean + (<usize>r << 2)));
      const sv = f32x4.splat(load<f32>(rstd + (<usize>r << 2)));
      const d = loadTail4(dyr, k);
      g = f32x4.add(g, f32x4.mul(d, f32x4.mul(f32x4.sub(loadTail4(xr, k), mv), sv)));
      b = f32x4.add(b, d);
    }
    if (k == 4) { v128.store(dgamma + o, g); v128.store(dbeta + o, b); } else { storeTail(dgamma + o, g, k); storeTail(dbeta + o, b, k); }
  }
}

// A whole vector when k = 4, else the first k lanes (zero-padded, nothing past them read).
// @ts-ignore: decorator
@inline function loadTail4(p: usize, k: i32): v128 {
  return k == 4 ? v128.load(p) : loadTail(p, k, 0);
}
