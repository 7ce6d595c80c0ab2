// src/tasks/training.ts: the backend the tasks run on is disposed however the task ends, and
// fitCosine is fit() with a cosine schedule from lr to minLr.
import { describe, expect, it, vi } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { makeParam } from '../../src/layers/param.js';
import type { Ops } from '../../src/ops/types.js';
import { fit } from '../../src/train/fit.js';
import { createSchedule } from '../../src/train/schedules.js';
import { fitCosine, onTaskBackend } from '../../src/tasks/training.js';
import { Rng } from '../../src/util/rng.js';

describe('onTaskBackend', () => {
  it('gives the body a one-thread WASM backend, returns its result and disposes the backend', async () => {
    let dispose: ReturnType<typeof vi.fn> | null = null;
    const name = await onTaskBackend((ops) => { dispose = vi.spyOn(ops, 'dispose') as never; return ops.name; });
    expect(name).toMatch(/^wasm/);
    expect(dispose).toHaveBeenCalledOnce();
  });

  it('disposes the backend when the body throws, and passes the error on', async () => {
    let dispose: ReturnType<typeof vi.fn> | null = null;
    await expect(onTaskBackend(async (ops) => { dispose = vi.spyOn(ops, 'dispose') as never; throw new Error('task failed'); }))
      .rejects.toThrow('task failed');
    expect(dispose).toHaveBeenCalledOnce();
  });
});

describe('fitCosine', () => {
  /** L = (w − 3)², one parameter. */
  function quadratic(ops: Ops) {
    const w = makeParam(ops, 'w', [1], { kind: 'constant', value: 0 }, new Rng(1));
    return {
      params: [w],
      forwardBackward(_batch: null, train: boolean) {
        const d = w.value.data[0] - 3;
        if (train) w.grad.data[0] += 2 * d;
        return d * d;
      },
    };
  }

  it('is fit() with the cosine schedule from lr to minLr over the steps, and the clip', () => {
    const ops = new ReferenceOps('f64');
    const a = quadratic(ops), b = quadratic(ops);
    const ra = fitCosine(ops, a, () => null, { steps: 40, lr: 0.3, minLr: 0.01, clip: 0.5 });
    const rb = fit(ops, b, () => null, { steps: 40, lr: createSchedule({ kind: 'cosine', lr: 0.3, totalSteps: 40, minLr: 0.01 }), clip: 0.5 });
    expect(ra).toEqual(rb);
    expect(a.params[0].value.data[0]).toBe(b.params[0].value.data[0]);
    const c = quadratic(ops);
    fitCosine(ops, c, () => null, { steps: 40, lr: 0.3, minLr: 0.3, clip: 0.5 }); // a different schedule ends elsewhere
    expect(c.params[0].value.data[0]).not.toBe(a.params[0].value.data[0]);
  });
});
