// PLACEHOLDER (replaced by the packed BLIS-style GEMM): scalar triple loop.
export function gemmNaive(ta: i32, tb: i32, m: i32, n: i32, k: i32, alpha: f32, a: usize, b: usize, beta: f32, c: usize): void {
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s: f32 = 0;
    for (let p = 0; p < k; p++) {
      const av = ta ? load<f32>(a + (<usize>(p * m + i) << 2)) : load<f32>(a + (<usize>(i * k + p) << 2));
      const bv = tb ? load<f32>(b + (<usize>(j * k + p) << 2)) : load<f32>(b + (<usize>(p * n + j) << 2));
      s += av * bv;
    }
    const ci = c + (<usize>(i * n + j) << 2);
    store<f32>(ci, beta == 0 ? alpha * s : alpha * s + beta * load<f32>(ci));
  }
}
