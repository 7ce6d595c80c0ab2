// PLACEHOLDER (replaced by the vectorised kernels)
export function fill(x: usize, n: i32, v: f32): void { for (let i = 0; i < n; i++) store<f32>(x + (<usize>i << 2), v); }
