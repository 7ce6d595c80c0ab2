// Argument checks shared by every backend, so a shape mistake fails the same way everywhere:
// a clear message naming the operand, instead of silently reading past a buffer.
import type { Tensor } from './types.js';

export function checkGemmArgs(m: number, n: number, k: number, A: Tensor, B: Tensor, C: Tensor): void {
  for (const [name, v] of [['m', m], ['n', n], ['k', k]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`gemm: ${name} must be a non-negative integer, got ${v}`);
  }
  if (A.size < m * k) throw new RangeError(`gemm: A holds ${A.size} elements, needs m·k = ${m}·${k} = ${m * k}`);
  if (B.size < k * n) throw new RangeError(`gemm: B holds ${B.size} elements, needs k·n = ${k}·${n} = ${k * n}`);
  if (C.size < m * n) throw new RangeError(`gemm: C holds ${C.size} elements, needs m·n = ${m}·${n} = ${m * n}`);
}

export function checkRows(op: string, rows: number, cols: number, ...tensors: [string, Tensor][]): void {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 0) {
    throw new RangeError(`${op}: rows and cols must be non-negative integers, got ${rows}×${cols}`);
  }
  for (const [name, t] of tensors) {
    if (t.size < rows * cols) throw new RangeError(`${op}: ${name} holds ${t.size} elements, needs ${rows}×${cols} = ${rows * cols}`);
  }
}

export function checkSameSize(op: string, ...tensors: [string, { size: number }][]): void {
  const [n0, t0] = tensors[0];
  for (const [name, t] of tensors.slice(1)) {
    if (t.size < t0.size) throw new RangeError(`${op}: ${name} holds ${t.size} elements, ${n0} holds ${t0.size}`);
  }
}
