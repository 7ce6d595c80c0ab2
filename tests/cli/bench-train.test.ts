// `handgrad bench train`: runs as a user runs it (a separate process), prints the report and the
// JSON line, and counts model FLOPs as documented. Small step counts: a smoke test, not a measurement.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  benchTrain, benchTrainRounds, buildModel, CONFIGS, flopsPerToken, formatRoundsSummary, formatTrainReport, MEMORY_LM_CONFIG, memoryLmFlopsPerToken,
  stepsPerRound, summariseRounds, TRANSFORMER_CONFIG, transformerFlopsPerToken, type TrainBenchResult,
} from '../../bench/train.js';
import { autoFfHidden } from '../../src/models/transformer.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { Rng } from '../../src/util/rng.js';
import { lastJson, runHandgrad } from './helpers.js';
import { findPython } from '../../bench/peer-env.js';

const numpyPython = findPython('numpy').python;

const handgrad = (...args: string[]) => runHandgrad(args);

describe('handgrad bench train', () => {
  it('--json prints {model, config, threads, tokensPerSec, modelGflops, gemmGflops, utilisation} last', () => {
    const r = handgrad('bench', 'train', '--model', 'gru', '--config', 'small', '--threads', '1', '--steps', '2', '--no-peer', '--json');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const out = JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
    expect(out).toMatchObject({ model: 'gru', config: 'small', threads: 1 });
    for (const k of ['tokensPerSec', 'modelGflops', 'gemmGflops', 'utilisation']) expect(out[k], k).toBeGreaterThan(0);
    expect(out.modelGflops as number).toBeCloseTo((out.tokensPerSec as number) * flopsPerToken('gru', CONFIGS.small) / 1e9, 1);
    expect(r.stderr).toContain('PyTorch peer not run');
  });

  it('--model transformer runs the transformer config and counts its attention FLOPs', () => {
    const r = handgrad('bench', 'train', '--model', 'transformer', '--threads', '1', '--steps', '1', '--no-peer', '--json');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const out = JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
    expect(out).toMatchObject({ model: 'transformer', config: 'transformer', threads: 1 });
    for (const k of ['tokensPerSec', 'modelGflops', 'gemmGflops', 'utilisation']) expect(out[k], k).toBeGreaterThan(0);
    expect(out.modelGflops as number).toBeCloseTo((out.tokensPerSec as number) * transformerFlopsPerToken(TRANSFORMER_CONFIG) / 1e9, 1);
    expect(r.stdout + r.stderr).toContain('attention counted causally');
  });

  it('--model memory-lm runs the Alice config and says it has no PyTorch peer', () => {
    const r = handgrad('bench', 'train', '--model', 'memory-lm', '--threads', '1', '--steps', '1', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson(r.stdout);
    expect(out).toMatchObject({ model: 'memory-lm', config: 'memory-lm', threads: 1, torchTokensPerSec: null, torchRuns: [] });
    for (const k of ['tokensPerSec', 'modelGflops', 'gemmGflops', 'utilisation']) expect(out[k], k).toBeGreaterThan(0);
    expect(out.modelGflops as number).toBeCloseTo((out.tokensPerSec as number) * memoryLmFlopsPerToken(MEMORY_LM_CONFIG) / 1e9, 1);
    expect(out.peerNote).toMatch(/no standard PyTorch version/);
    expect(r.stdout + r.stderr).toContain('d_model 56');
  });

  it('--config seed runs the seed notebooks\' LSTM sizes (hidden 100, batch 1, BPTT 25) and says the peers were left out', () => {
    const r = handgrad('bench', 'train', '--model', 'lstm', '--config', 'seed', '--threads', '1', '--steps', '3', '--no-peer', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson(r.stdout);
    expect(out).toMatchObject({
      model: 'lstm', config: 'seed', threads: 1, sizes: { hidden: 100, batch: 1, seq: 25, embed: 65, vocab: 65, layers: 1 },
      torchTokensPerSec: null, numpyTokensPerSec: null, ratioVsNumpyBest: null, torchBlasCore: null, numpyBlasCore: null,
    });
    expect(out.modelGflops as number).toBeCloseTo((out.tokensPerSec as number) * flopsPerToken('lstm', CONFIGS.seed) / 1e9, 1);
    expect(out.numpyNote).toMatch(/NumPy peer not run/);
    expect(r.stdout + r.stderr).toContain('lstm seed (hidden 100, batch 1, BPTT 25, embed 65)');
  });

  it('--hidden, --batch and --seq override a recurrent config; the fixed-config models refuse them in one line', () => {
    const r = handgrad('bench', 'train', '--model', 'rnn', '--hidden', '24', '--batch', '1', '--seq', '5', '--threads', '1', '--steps', '2', '--no-peer', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson(r.stdout);
    expect(out).toMatchObject({ model: 'rnn', config: 'small', sizes: { hidden: 24, batch: 1, seq: 5, embed: 64 } });
    expect(out.numpyNote).toMatch(/none for rnn/);
    expect(r.stdout + r.stderr).toContain('rnn small with overrides (hidden 24, batch 1, BPTT 5, embed 64)');
    const bad = handgrad('bench', 'train', '--model', 'transformer', '--hidden', '64');
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('--hidden applies to the recurrent models');
  });

  it.skipIf(!numpyPython)('the LSTM reports ours vs the NumPy seed style (and PyTorch where run) with ratios and the OpenBLAS core', async () => {
    const r = await benchTrain({ model: 'lstm', config: 'seed', sizes: { hidden: 16, seq: 5 }, threads: 1, steps: 3, peerThreads: [1], peerKinds: ['numpy'] });
    expect(r.sizes).toMatchObject({ hidden: 16, batch: 1, seq: 5 });
    expect(r.numpyTokensPerSec!).toBeGreaterThan(0);
    expect(r.numpyRuns.map((x) => x.threads)).toEqual([1]);
    expect(r.ratioVsNumpyBest!).toBeCloseTo(r.tokensPerSec / r.numpyTokensPerSec!, 1);
    expect(r.numpyNote).toMatch(/^NumPy \S+ via \S+, fp32, glibc MALLOC_TOP_PAD_=\d+$/);
    expect(r).toHaveProperty('numpyBlasCore');
    expect(r).toMatchObject({ torchTokensPerSec: null, torchVsNumpy: null }); // only the NumPy peer was asked for
    const text = formatTrainReport(r).join('\n');
    expect(text).toMatch(/NumPy seed-style best: 1 thread\(s\), .* OpenBLAS core /);
    expect(text).toMatch(/tokens\/s ours .* vs PyTorch .* vs NumPy seed style .* ours\/NumPy /);
  }, 120_000);

  it.skipIf(!numpyPython)('paired rounds (NumPy peer only, tiny): per-round ratios against the best thread setting of that round, ' +
    'their median and best ÷ best, every server closed', async () => {
    const rounds: number[] = [];
    const { rounds: results, summary } = await benchTrainRounds({
      model: 'lstm', config: 'seed', sizes: { hidden: 16, batch: 2, seq: 4 }, threads: 1, steps: 2, rounds: 2,
      peerThreads: [1, 2], peerKinds: ['numpy'], spinDownSeconds: 0, onRound: (_r, n) => rounds.push(n),
    });
    expect(rounds).toEqual([1, 2]);
    expect(results).toHaveLength(2);
    expect(summary).toMatchObject({ rounds: 2, paired: true, stepsPerRound: { ours: 2, numpy1t: 2, numpy2t: 2 } });
    for (const r of results) {
      expect(r.steps).toBe(2);
      expect(r.numpyRuns.map((x) => x.threads)).toEqual([1, 2]);
      const best = Math.max(...r.numpyRuns.map((x) => x.tokensPerSec));
      expect(r.numpyTokensPerSec).toBe(best);
      expect(r.numpyThreads).toBe(r.numpyRuns.find((x) => x.tokensPerSec === best)!.threads);
      expect(r.ratioVsNumpyBest!).toBeCloseTo(r.tokensPerSec / r.numpyTokensPerSec!, 2);
      expect(r.numpyNote).toMatch(/^NumPy \S+ via \S+, fp32, glibc MALLOC_TOP_PAD_=\d+$/);
      expect(r).toMatchObject({ torchTokensPerSec: null, peerNote: 'PyTorch peer not run' });
    }
    const ratios = results.map((r) => r.ratioVsNumpyBest!);
    const s = summary.ratioVsNumpyBest!;
    expect(s.rounds).toEqual(ratios);
    // The summary rounds to 3 decimals: within half a unit of the last place (toBeCloseTo(x, 3) wants
    // strictly less, and failed on an exact …5).
    const near = (got: number, want: number) => expect(Math.abs(got - want)).toBeLessThanOrEqual(0.0005 + 1e-9);
    near(s.median, (ratios[0] + ratios[1]) / 2);
    expect([s.min, s.max]).toEqual([Math.min(...ratios), Math.max(...ratios)]);
    near(s.bestOverBest, Math.max(...results.map((r) => r.tokensPerSec)) / Math.max(...results.map((r) => r.numpyTokensPerSec!)));
    expect(summary.tokensPerSec.rounds).toEqual(results.map((r) => r.tokensPerSec));
    expect(summary.ratioVsTorchBest).toBeNull();
    // every peer server was closed (none of this process's children is left)
    const ps = spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
    expect(ps.status === 0 || ps.status === 1, ps.stderr).toBe(true); // 1: no children at all (procps); anything else: ps could not tell
    expect(ps.stdout).not.toMatch(/numpy_seed_lstm/);
  }, 120_000);

  it('--rounds 2 repeats the measurement: every round in the JSON, and the summary over them', () => {
    const r = handgrad('bench', 'train', '--model', 'rnn', '--hidden', '24', '--batch', '1', '--seq', '5', '--threads', '1', '--steps', '2',
      '--no-peer', '--rounds', '2', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson(r.stdout) as { rounds: { tokensPerSec: number }[]; summary: { rounds: number; tokensPerSec: { rounds: number[] } }; tokensPerSec: number };
    expect(out.rounds).toHaveLength(2);
    expect(out.summary.rounds).toBe(2);
    expect(out.summary.tokensPerSec.rounds).toEqual(out.rounds.map((x) => x.tokensPerSec));
    expect(out.tokensPerSec).toBe(out.rounds[1].tokensPerSec);
    expect(out.summary).toMatchObject({ paired: true, stepsPerRound: { ours: 2 } });
    expect(r.stderr).toContain('round 2 of 2');
    const bad = handgrad('bench', 'train', '--rounds', '0');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--rounds/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('summarises rounds as per-round ratios, their median and range, and best ÷ best', () => {
    const round = (ours: number, torch: number | null, numpy: number | null) => ({
      tokensPerSec: ours, utilisation: 0.5, torchTokensPerSec: torch, ratioVsTorchBest: torch === null ? null : ours / torch,
      numpyTokensPerSec: numpy, ratioVsNumpyBest: numpy === null ? null : ours / numpy,
    }) as TrainBenchResult;
    const s = summariseRounds([round(100, 50, 10), round(90, 30, 10), round(120, 80, 12)]);
    expect(s.tokensPerSec).toEqual({ rounds: [100, 90, 120], median: 100, best: 120 });
    expect(s.ratioVsTorchBest).toMatchObject({ rounds: [2, 3, 1.5], median: 2, min: 1.5, max: 3, bestOverBest: 1.5 });
    expect(s.ratioVsNumpyBest).toMatchObject({ median: 10, bestOverBest: 10 });
    expect(formatRoundsSummary(s).join('\n')).toMatch(/PyTorch .*median 2\.00, range 1\.50–3\.00; best ÷ best 1\.50/);
    // A peer missing from any round gives no ratio rather than one over fewer rounds.
    expect(summariseRounds([round(100, 50, null), round(90, null, null)]).ratioVsTorchBest).toBeNull();
    expect(() => summariseRounds([])).toThrow(/no rounds/);
    // Paired rounds carry each contender's steps per round, and the summary says so.
    expect(s).toMatchObject({ paired: false, stepsPerRound: null });
    const paired = summariseRounds([round(100, 50, 10), round(90, 30, 10)], { ours: 12, torch1t: 3, torch2t: 4 });
    expect(paired).toMatchObject({ paired: true, stepsPerRound: { ours: 12, torch1t: 3, torch2t: 4 } });
    expect(paired.ratioVsTorchBest).toMatchObject({ rounds: [2, 3], median: 2.5, bestOverBest: 2 });
    expect(formatRoundsSummary(paired)[0]).toBe('2 paired rounds, each: ours 12 steps, torch1t 3 steps, torch2t 4 steps, back to back ' +
      '(order rotated each round; every contender a process started once and warmed up)');
  });

  it('sizes a paired round at about 1.5 s of steps per contender (3 to 5000 steps), or --steps', () => {
    expect(stepsPerRound(0.1)).toBe(15);
    expect(stepsPerRound(1)).toBe(3);
    expect(stepsPerRound(1e-6)).toBe(5000);
    expect(stepsPerRound(0.1, 7)).toBe(7);
  });

  it('rejects an unknown model or config with one usage line', () => {
    for (const args of [['--model', 'nosuchmodel'], ['--config', 'large']]) {
      const r = handgrad('bench', 'train', ...args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(args[0]);
    }
  });

  it('counts 6 × (multiply-adds of the GEMMs) per token', () => {
    // lstm medium: input 64·1024 + recurrent 256·1024 + head 256·65 multiply-adds, ×2 flops, ×3 (fwd + bwd)
    expect(flopsPerToken('lstm', CONFIGS.medium)).toBe(6 * (64 * 1024 + 256 * 1024 + 256 * 65));
    expect(flopsPerToken('rnn', CONFIGS.small)).toBe(6 * (64 * 128 + 128 * 128 + 128 * 65));
    // transformer: per layer 4C² (qkv, out) + 3CF (SwiGLU) + 2TC (QKᵀ, P·V, full T×T); head C·V
    const C = 128, F = 512, T = 128, L = 4, V = 65;
    expect(flopsPerToken('transformer', TRANSFORMER_CONFIG)).toBe(6 * (L * (4 * C * C + 3 * C * F + 2 * T * C) + C * V));
    // memory-lm: per layer 3·levels·C² (k, v, q of every level) + C² (out) + 3CF + 3·H·levels·d² (recurrence); head C·V
    const M = MEMORY_LM_CONFIG, d = M.dModel / M.heads;
    expect(M.ffHidden).toBe(autoFfHidden(M.dModel, 'swiglu')); // the width the Alice run got from --ff-hidden 0
    const alice = buildModel(new ReferenceOps(), 'memory-lm', 'small', new Rng(1));
    expect(alice.params.reduce((s, p) => s + p.value.size, 0)).toBe(122_528); // the Alice row's parameter count
    expect(flopsPerToken('memory-lm', M)).toBe(6 * (2 * (3 * 3 * 56 * 56 + 56 * 56 + 3 * 56 * 152 + 3 * 4 * 3 * d * d) + 56 * 73));
    expect(transformerFlopsPerToken(TRANSFORMER_CONFIG, true)).toBe(6 * (L * (4 * C * C + 3 * C * F + 2 * ((T + 1) / 2) * C) + C * V));
  });
});
