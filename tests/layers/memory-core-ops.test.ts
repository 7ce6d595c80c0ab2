// MemoryCore (src/layers/linear-memory.ts) takes Ops.memoryForward/memoryBackward only as a pair: a
// backend that has just one of them must give the host path's results, not a backward that reads
// states the forward never left on the host.
import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { MemoryCore } from '../../src/layers/linear-memory.js';
import type { Ops } from '../../src/ops/types.js';
import { Rng } from '../../src/util/rng.js';

/** The reference backend with some of its methods hidden (as a backend that never had them). */
function without(names: (keyof Ops)[]): Ops {
  const ops = new ReferenceOps('f64');
  return new Proxy(ops, { get: (t, p, r) => (names.includes(p as keyof Ops) ? undefined : Reflect.get(t, p, r)) });
}

function run(ops: Ops): Float64Array[] {
  const B = 2, T = 7, dk = 3, dv = 4, rng = new Rng(11);
  const draw = (n: number) => { const a = new Float64Array(n); rng.fillNormal(a); return ops.tensorFrom(a); };
  const K = draw(B * T * dk), V = draw(B * T * dv), Q = draw(B * T * dk), dY = draw(B * T * dv);
  const Y = ops.tensor(B * T * dv), dK = ops.tensor(B * T * dk), dV = ops.tensor(B * T * dv), dQ = ops.tensor(B * T * dk);
  const core = new MemoryCore(ops, dk, dv, { rule: 'delta', optimizer: 'momentum', period: 2, eta: 0.5 });
  core.forward(K, V, Q, Y, B, T);
  core.backward(K, V, Q, dY, dK, dV, dQ);
  return [Y, dK, dV, dQ].map((t) => Float64Array.from(t.data));
}

describe('MemoryCore and the memory op pair', () => {
  const host = run(without(['memoryForward', 'memoryBackward']));
  for (const hidden of [['memoryBackward'], ['memoryForward']] as (keyof Ops)[][]) {
    it(`a backend without ${hidden[0]} gives the host path's outputs and gradients`, () => {
      const got = run(without(hidden));
      got.forEach((a, i) => expect(Array.from(a)).toEqual(Array.from(host[i])));
      expect(host[1].some((x) => x !== 0)).toBe(true); // the gradients are not trivially zero
    });
  }
  it('with both, the op gives the same results (the reference op is the host loop)', () => {
    const got = run(new ReferenceOps('f64'));
    got.forEach((a, i) => expect(Array.from(a)).toEqual(Array.from(host[i])));
  });
});
