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
export function layerNormBackward(x: usize, gamma: usize, mean: usize, rstd: usize, dy: usize,
  dx: usize, dgamma: usize, dbeta: usize, rows: i32, cols: i32): void {
  const invCols: f32 = <f32>(1.0 / <f64>cols);
  for (let r = 0; r < rows; r++) {
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
      v128.store(dgamma + o, f32x4.add(v128.load(dgamma + o), f32x4.mul(d, xhat)));
      v128.store(dbeta + o, f32x4.add(v128.load(dbeta + o), d));
    }
    if (c < cols) {
      // Padded lanes: dy = 0, so g = 0 and they add nothing to the sums.
      const o = <usize>c << 2, k = cols - c;
      const xhat = f32x4.mul(f32x4.sub(loadTail(xr + o, k, 0), mv), sv);
      const d = loadTail(dyr + o, k, 0);
      const g = f32x4.mul(d, loadTail(gamma + o, k, 0));
      gs = f32x4.add(gs, g);
      gxs = f32x4.add(gxs, f32x4.mul(g, xhat));
      storeTail(dgamma + o, f32x4.add(loadTail(dgamma + o, k, 0), f32x4.mul(d, xhat)), k);
      storeTail(dbeta + o, f32x4.add(loadTail(dbeta + o, k, 0), d), k);
    }
    const gMean = f32x4.splat(hsum(gs) * invCols);
    const gxMean = f32x4.splat(hsum(gxs) * invCols);
    c = 0;
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
}
