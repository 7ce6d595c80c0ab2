// The MoE transformer's statistics without host reads in the step (ops.moeAuxLoss): stats(),
// expertLoad() and lastAuxLoss equal what the host computed per forward before (the old code's
// sumRows / sumSquares / offsets read, replayed here from every moeAuxLoss call's inputs) over
// training, validation and sampling forwards, dropless and with a capacity; and, on CudaOps over the
// emulated addon, a dropless training step reads nothing from the device but the loss, while
// the statistics cost one read of each model-wide tensor when asked.
import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { CudaOps } from '../../src/backends/cuda/ops.js';
import type { IntTensor, Ops, Tensor } from '../../src/ops/types.js';
import { MoeTransformer } from '../../src/models/moe-transformer.js';
import { randomBatch } from '../../src/gradcheck/model-checks.js';
import { tinyMoeConfig } from '../../src/gradcheck/moe-checks.js';
import { zeroGrads } from '../../src/layers/param.js';
import { Rng } from '../../src/util/rng.js';
import { emulatedAddon } from '../backends/cuda-emulated-addon.js';

/** Per layer, what the old forward computed on the host: its aux loss, kept and routed counts. */
interface HostForward { aux: number; kept: number[]; routed: number[]; counted: boolean }

/** Wraps ops.moeAuxLoss to recompute each call's values the way the layer did on the host before. */
function spyOldHostValues(ops: Ops): HostForward[] {
  const log: HostForward[] = [];
  const op = ops.moeAuxLoss.bind(ops);
  ops.moeAuxLoss = (probs: Tensor, lse: Tensor, offsets: IntTensor, routed: IntTensor, n: number, E: number, k: number,
    alpha: number, beta: number, grad: Tensor, loss: Tensor, counts: IntTensor, accumulate: boolean) => {
    const off = offsets.data, rt = routed.data, P = ops.tensor(E);
    ops.sumRows(probs, P, n, E);
    let bal = 0;
    for (let e = 0; e < E; e++) bal += (rt[e] / (n * k)) * P.data[e] / n;
    const z = beta !== 0 ? beta * ops.sumSquares(lse.view(0, n)) / n : 0;
    log.push({
      aux: (alpha !== 0 ? alpha * E * bal : 0) + z, counted: accumulate,
      kept: Array.from({ length: E }, (_, e) => off[e + 1] - off[e]), routed: Array.from(rt),
    });
    op(probs, lse, offsets, routed, n, E, k, alpha, beta, grad, loss, counts, accumulate);
  };
  return log;
}

describe('moe transformer statistics on the backend', () => {
  it.each([['dropless', null], ['capacity 0.75', 0.75]] as const)(
    '%s: stats(), expertLoad() and lastAuxLoss equal the per-forward host computation', (_, capacityFactor) => {
      const ops = new ReferenceOps('f64');
      const log = spyOldHostValues(ops);
      const L = 2, E = 4, k = 2;
      const m = new MoeTransformer(ops, tinyMoeConfig({ capacityFactor, balanceCoef: 0.1, zLossCoef: 0.01 }), new Rng(3));
      for (const b of m.blocks) new Rng(4).fillNormal(b.ffn.router!.W.value.data, 0, 2); // uneven loads, drops
      const batches = [1, 2, 3].map((s) => randomBatch(ops, new Rng(10 + s), 7, 2, 5));
      const n = 10;
      // What the old code accumulated, replayed from the log.
      let tokens = 0, forwards = 0, aux = 0;
      const perExpert = () => Array.from({ length: L }, () => new Array<number>(E).fill(0));
      let kept = perExpert(), routed = perExpert(), load = perExpert();
      const replay = (from: number) => {
        for (let i = from; i < log.length; i += L) {
          if (!log[i].counted) continue;
          tokens += n; forwards++;
          for (let l = 0; l < L; l++) {
            aux += log[i + l].aux;
            log[i + l].kept.forEach((v, e) => { kept[l][e] += v; load[l][e] += v; });
            log[i + l].routed.forEach((v, e) => { routed[l][e] += v; });
          }
        }
      };
      const lastAux = () => log.slice(-L).reduce((s, f) => s + f.aux, 0);
      const check = () => {
        const st = m.stats();
        expect(st.tokens).toBe(tokens);
        st.layers.forEach((sl, l) => {
          expect(sl.tokensPerExpert).toEqual(kept[l]);
          expect(sl.routedPerExpert).toEqual(routed[l]);
          expect(sl.dropped).toBe(tokens * k - kept[l].reduce((a, b) => a + b, 0));
        });
        expect(st.auxLoss).toBeCloseTo(forwards > 0 ? aux / forwards : 0, 12);
        expect(st.expertMacs).toBe(3 * 8 * 6 * kept.flat().reduce((a, b) => a + b, 0));
      };

      let seen = 0;
      for (const b of batches) { zeroGrads(ops, m.params); m.forwardBackward(b, true); }
      replay(seen); seen = log.length;
      expect(m.lastAuxLoss).toBeCloseTo(lastAux(), 12);
      check();
      const shares = m.expertLoad();
      shares.forEach((row, l) => row.forEach((v, e) => expect(v).toBeCloseTo(load[l][e] / load[l].reduce((a, b) => a + b, 0), 12)));
      load = perExpert();
      if (capacityFactor !== null) expect(m.stats().layers.some((l) => l.dropped > 0)).toBe(true);

      m.forwardBackward(batches[0], false); // validation: the last aux loss changes, the statistics do not
      expect(m.lastAuxLoss).toBeCloseTo(lastAux(), 12);
      zeroGrads(ops, m.params);
      m.forwardBackward(batches[1], true);
      replay(seen); seen = log.length;
      check();
      m.expertLoad().forEach((row, l) => row.forEach((v, e) => expect(v).toBeCloseTo(load[l][e] / load[l].reduce((a, b) => a + b, 0), 12)));

      m.nextLogProbs([1, 2, 3]); // sampling: no auxiliary losses, no counts
      expect(log.length).toBe(seen);
      expect(m.lastAuxLoss).toBe(0);
      check();

      m.resetStats();
      tokens = 0; forwards = 0; aux = 0; kept = perExpert(); routed = perExpert();
      check();
      zeroGrads(ops, m.params);
      m.forwardBackward(batches[2], true);
      replay(seen);
      check();
      // The layer keeps its own cumulative counters and last counts, read on demand.
      const layer = m.blocks[1].ffn;
      expect(Array.from(layer.lastCounts)).toEqual(log[log.length - 1].kept);
      expect(Array.from(layer.lastRouted)).toEqual(log[log.length - 1].routed);
      expect(layer.counters.forwards).toBe(5);
    });

  it('on CudaOps (emulated addon): a dropless training step reads only the loss; statistics cost one read per tensor', () => {
    const emu = emulatedAddon(64 << 20);
    const ops = new CudaOps(emu, 'Emulated');
    let downloads = 0;
    const syncs: string[] = [];
    const download = emu.download.bind(emu);
    emu.download = (ptr, a) => { downloads++; download(ptr, a); };
    for (const name of ['softmaxCrossEntropy', 'sumSquares', 'sumSquaresList'] as const) {
      const f = (emu as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
      (emu as unknown as Record<string, unknown>)[name] = (...a: unknown[]) => { syncs.push(name); return f(...a); };
    }
    const run = (capacityFactor: number | null) => {
      const cfg = tinyMoeConfig({ capacityFactor, balanceCoef: 0.1, zLossCoef: 0.01 });
      const m = new MoeTransformer(ops, cfg, new Rng(3));
      const batch = randomBatch(ops, new Rng(4), 7, 2, 5);
      zeroGrads(ops, m.params);
      const first = m.forwardBackward(batch, true);
      downloads = 0; syncs.length = 0;
      zeroGrads(ops, m.params);
      const loss = m.forwardBackward(batch, true);
      const step = { downloads, syncs: [...syncs] };
      downloads = 0;
      const aux = m.lastAuxLoss;
      const lastAuxReads = downloads;
      const st = m.stats();
      const statsReads = downloads - lastAuxReads;
      m.expertLoad();
      return { m, first, loss, step, aux, lastAuxReads, statsReads, st, afterLoad: downloads - lastAuxReads - statsReads };
    };
    const dropless = run(null);
    expect(dropless.step).toEqual({ downloads: 0, syncs: ['softmaxCrossEntropy'] });
    expect(dropless.lastAuxReads).toBe(1);  // the model's loss tensor, every layer at once
    expect(dropless.statsReads).toBe(1);    // the counts tensor (the losses were just read)
    expect(dropless.afterLoad).toBe(0);     // nothing new since: no read
    expect(dropless.loss).toBe(dropless.first);
    // With a capacity each layer reads its kept-row count S (2 layers).
    expect(run(1).step).toEqual({ downloads: 2, syncs: ['softmaxCrossEntropy'] });

    // The same numbers as the reference backend in f32 (whose kernels the emulated addon runs).
    const ref = new ReferenceOps('f32');
    const r = new MoeTransformer(ref, tinyMoeConfig({ capacityFactor: null, balanceCoef: 0.1, zLossCoef: 0.01 }), new Rng(3));
    const batch = randomBatch(ref, new Rng(4), 7, 2, 5);
    for (let s = 0; s < 2; s++) { zeroGrads(ref, r.params); r.forwardBackward(batch, true); }
    const rs = r.stats();
    expect(dropless.st.layers).toEqual(rs.layers);
    expect(dropless.st.auxLoss).toBeCloseTo(rs.auxLoss, 6);
    expect(dropless.aux).toBeCloseTo(r.lastAuxLoss, 6);
    ops.dispose();
  });
});
