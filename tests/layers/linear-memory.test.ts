// Linear attention as an associative memory (src/layers/linear-memory.ts): its registered gradient
// checks 'memory-hebbian', 'memory-hebbian-normalized', 'memory-delta', 'memory-delta-raw',
// 'memory-momentum', 'memory-adam' and 'memory-delta-period3' (BPTT through every update), the
// delta rule storing orthonormal key→value pairs exactly in one pass at η = 1, and the Hebbian
// recurrence M_t = M_{t−1} + v_t k_tᵀ written out.
import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { LinearMemory, MemoryCore } from '../../src/layers/linear-memory.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { Rng } from '../../src/util/rng.js';

/** n orthonormal vectors of length d (Gram–Schmidt on Gaussian draws), row-major [n, d]. */
function orthonormal(n: number, d: number, rng: Rng): Float64Array {
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const v = new Float64Array(d);
    rng.fillNormal(v);
    for (let j = 0; j < i; j++) {
      let dot = 0;
      for (let c = 0; c < d; c++) dot += v[c] * out[j * d + c];
      for (let c = 0; c < d; c++) v[c] -= dot * out[j * d + c];
    }
    const nrm = Math.hypot(...v);
    for (let c = 0; c < d; c++) out[i * d + c] = v[c] / nrm;
  }
  return out;
}

function matVec(M: Float64Array, x: ArrayLike<number>, rows: number, cols: number, xo = 0): number[] {
  return Array.from({ length: rows }, (_, i) => {
    let s = 0;
    for (let j = 0; j < cols; j++) s += M[i * cols + j] * x[xo + j];
    return s;
  });
}

const f64 = new ReferenceOps('f64');

describe('linear memory', () => {
  it.each(['memory-hebbian', 'memory-hebbian-normalized', 'memory-delta', 'memory-delta-raw', 'memory-momentum',
    'memory-adam', 'memory-delta-period3'])("passes the registered gradient check '%s'", (name) => {
    const [r] = runGradChecks([name]);
    expect(r.tensors.map((t) => t.name)).toEqual(['mem.Wk.W', 'mem.Wv.W', 'mem.Wq.W', 'x']);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
  });

  it('the delta rule at η = 1 stores orthonormal key→value pairs exactly after one pass', () => {
    const d = 8, dv = 5, T = 8, rng = new Rng(4);
    const K = orthonormal(T, d, rng), V = new Float64Array(T * dv);
    rng.fillNormal(V);
    const delta = new MemoryCore(f64, d, dv, { rule: 'delta', optimizer: 'gd', eta: 1 });
    const Kt = f64.tensorFrom(K), Y = f64.tensor(T * dv);
    delta.forward(Kt, f64.tensorFrom(V), Kt, Y, 1, T);
    const M = delta.state(0, T);
    for (let i = 0; i < T; i++) {
      matVec(M, K, dv, d, i * d).forEach((y, c) => expect(y).toBeCloseTo(V[i * dv + c], 12));
    }
    // Each step reads what it has just written.
    Y.data.forEach((y, i) => expect(y).toBeCloseTo(V[i], 12));
  });

  it('the delta rule overwrites a key: writing k→v1 then k→v2 retrieves v2 (Hebbian retrieves v1 + v2)', () => {
    const d = 4, dv = 3;
    const K = Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0]), V = Float64Array.from([1, 2, 3, -1, 0, 5]);
    const read = (rule: 'delta' | 'hebbian') => {
      const core = new MemoryCore(f64, d, dv, { rule, eta: 1 }), Y = f64.tensor(2 * dv), Kt = f64.tensorFrom(K);
      core.forward(Kt, f64.tensorFrom(V), Kt, Y, 1, 2);
      return Array.from(Y.data.subarray(dv));
    };
    expect(read('delta')).toEqual([-1, 0, 5]);
    expect(read('hebbian')).toEqual([0, 2, 8]);
  });

  it('Hebbian at η = 1 is M_t = M_{t−1} + v_t k_tᵀ, read y_t = M_t q_t', () => {
    const d = 3, dv = 2, T = 4, rng = new Rng(9);
    const K = new Float64Array(T * d), V = new Float64Array(T * dv), Q = new Float64Array(T * d);
    rng.fillNormal(K); rng.fillNormal(V); rng.fillNormal(Q);
    const core = new MemoryCore(f64, d, dv, { rule: 'hebbian', eta: 1 }), Y = f64.tensor(T * dv);
    core.forward(f64.tensorFrom(K), f64.tensorFrom(V), f64.tensorFrom(Q), Y, 1, T);
    const M = new Float64Array(d * dv);
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < dv; i++) for (let j = 0; j < d; j++) M[i * d + j] += V[t * dv + i] * K[t * d + j];
      Array.from(core.state(0, t + 1)).forEach((m, x) => expect(m).toBeCloseTo(M[x], 13));
      matVec(M, Q, dv, d, t * d).forEach((y, i) => expect(Y.data[t * dv + i]).toBeCloseTo(y, 13));
    }
  });

  it('sequences of a batch are independent (each starts from M = 0)', () => {
    const ops = new ReferenceOps('f64');
    const inDim = 4, T = 5;
    const mem = new LinearMemory(ops, 'm', inDim, 3, 2, new Rng(1), { rule: 'delta', optimizer: 'momentum', eta: 0.5, normalize: true });
    const x = ops.tensor(2 * T * inDim);
    new Rng(2).fillNormal(x.data);
    const y2 = ops.tensor(2 * T * 2), y1 = ops.tensor(T * 2);
    mem.forward(x, y2, 2, T);
    mem.forward(x.view(T * inDim, T * inDim), y1, 1, T);
    Array.from(y1.data).forEach((v, i) => expect(y2.data[T * 2 + i]).toBeCloseTo(v, 14));
  });
});
