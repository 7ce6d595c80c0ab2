import { describe, expect, it } from 'vitest';
import { constantLr, createSchedule, warmupCosineLr } from '../../src/train/schedules.js';

describe('warmup + cosine (lr = 1, minLr = 0.1, warmupSteps = 10, totalSteps = 110)', () => {
  const at = createSchedule({ kind: 'cosine', lr: 1, minLr: 0.1, warmupSteps: 10, totalSteps: 110 });

  it('warms up linearly from lr/warmupSteps to lr', () => {
    expect(at(0)).toBeCloseTo(0.1, 15); // 1·(0+1)/10
    expect(at(4)).toBeCloseTo(0.5, 15); // mid-warmup: 1·(4+1)/10
    expect(at(9)).toBe(1);              // last warmup step: 1·10/10
  });

  it('decays along a half cosine to minLr', () => {
    expect(at(10)).toBe(1); // progress 0: 0.1 + 0.45·(1 + cos 0) = 1
    // quarter-way, progress 25/100: 0.1 + 0.45·(1 + cos(π/4)) = 0.1 + 0.45·1.7071068 = 0.8681981
    expect(at(35)).toBeCloseTo(0.8681981, 7);
    // half-way, progress 1/2: 0.1 + 0.45·(1 + cos(π/2)) = 0.55
    expect(at(60)).toBeCloseTo(0.55, 15);
    // end, progress 1: 0.1 + 0.45·(1 + cos π) = 0.1; and the floor from then on
    expect(at(109)).toBeGreaterThan(0.1);
    expect(at(110)).toBe(0.1);
    expect(at(5000)).toBe(0.1);
  });

  it('never increases after warmup, never leaves [minLr, lr]', () => {
    for (let s = 10; s < 200; s++) {
      expect(at(s + 1)).toBeLessThanOrEqual(at(s));
      expect(at(s)).toBeGreaterThanOrEqual(0.1);
      expect(at(s)).toBeLessThanOrEqual(1);
    }
  });

  it('agrees with the pure function', () => {
    for (const s of [0, 4, 9, 10, 35, 60, 110, 111]) expect(at(s)).toBe(warmupCosineLr(s, 1, 10, 110, 0.1));
  });

  it('without warmup starts at lr and minLr defaults to 0', () => {
    const f = createSchedule({ kind: 'cosine', lr: 3e-4, totalSteps: 100 });
    expect(f(0)).toBe(3e-4);
    expect(f(50)).toBeCloseTo(1.5e-4, 15);
    expect(f(100)).toBe(0);
  });
});

describe('constant', () => {
  it('is lr at every step, after an optional warmup', () => {
    const f = createSchedule({ kind: 'constant', lr: 0.01 });
    expect([0, 1, 1e6].map(f)).toEqual([0.01, 0.01, 0.01]);
    const w = createSchedule({ kind: 'constant', lr: 0.01, warmupSteps: 4 });
    expect(w(0)).toBeCloseTo(0.0025, 15);
    expect(w(1)).toBeCloseTo(0.005, 15);
    expect(w(3)).toBe(0.01);
    expect(w(100)).toBe(0.01);
    expect(constantLr(2, 0.01, 4)).toBeCloseTo(0.0075, 15);
  });
});

describe('createSchedule validation', () => {
  it('says what is wrong', () => {
    expect(() => createSchedule({ kind: 'linear' as never, lr: 1 })).toThrow(/unknown schedule 'linear'/);
    expect(() => createSchedule({ kind: 'cosine', lr: 1 })).toThrow(/totalSteps must be an integer > warmupSteps/);
    expect(() => createSchedule({ kind: 'cosine', lr: 1, warmupSteps: 10, totalSteps: 10 })).toThrow(/totalSteps/);
    expect(() => createSchedule({ kind: 'cosine', lr: 1, totalSteps: 10, minLr: 2 })).toThrow(/minLr must be in/);
    expect(() => createSchedule({ kind: 'constant', lr: 0 })).toThrow(/positive/);
    expect(() => createSchedule({ kind: 'constant', lr: 1, warmupSteps: 1.5 })).toThrow(/warmupSteps/);
    expect(() => createSchedule({ kind: 'constant', lr: 1 })(-1)).toThrow(/step must be an integer/);
  });
});
