// Reference elementwise ops (Ops.fill … Ops.activationBackward; the same family as
// assembly/elementwise.ts and native/elementwise.cu), on raw typed arrays (the conventions of every
// reference family file: ./index.ts). Each works on the first `n` elements.
import type { Activation, FloatArray } from '../../ops/types.js';

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

export function scale(x: FloatArray, n: number, alpha: number): void {
  for (let i = 0; i < n; i++) x[i] *= alpha;
}
export function axpy(alpha: number, x: FloatArray, y: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) y[i] += alpha * x[i];
}
export function add(a: FloatArray, b: FloatArray, out: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
}
export function mul(a: FloatArray, b: FloatArray, out: FloatArray, n: number, accumulate: boolean): void {
  if (accumulate) for (let i = 0; i < n; i++) out[i] += a[i] * b[i];
  else for (let i = 0; i < n; i++) out[i] = a[i] * b[i];
}
export function activation(kind: Activation, x: FloatArray, y: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) y[i] = activate(kind, x[i]);
}
export function activationBackward(kind: Activation, x: FloatArray, y: FloatArray, dy: FloatArray, dx: FloatArray,
  n: number, accumulate: boolean): void {
  for (let i = 0; i < n; i++) {
    const g = dy[i] * activateDerivative(kind, x[i], y[i]);
    dx[i] = accumulate ? dx[i] + g : g;
  }
}
