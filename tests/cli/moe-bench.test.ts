// `handgrad bench moe`: a smoke test on the tiny config (a few steps, not a measurement): the JSON
// line's fields, the measured compute saving of top-2 of 4 dropless experts (exactly 50%), the
// dense twin at matched active parameters, and --device cuda without a GPU.
import { describe, expect, it } from 'vitest';
import { cudaStatus } from '../../src/backends/cuda/index.js';
import { MOE_CONFIGS } from '../../bench/moe.js';
import { cli, lastJson } from './helpers.js';

describe('handgrad bench moe', () => {
  it('--config tiny --json: MoE and dense rows, FLOP rate from flopsPerToken, saving measured from the MAC counters', async () => {
    const r = await cli('bench', 'moe', '--config', 'tiny', '--threads', '1', '--steps', '2', '--decode-tokens', '4', '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j).toMatchObject({ config: 'tiny', threads: 1, shape: MOE_CONFIGS.tiny });
    const moe = j.moe as Record<string, number>, dense = j.dense as Record<string, number>;
    for (const m of [moe, dense]) {
      expect(m.steps).toBe(2);
      for (const k of ['tokensPerSec', 'modelTflops', 'decodeMsPerToken', 'peakBytes', 'flopsPerToken', 'params']) expect(m[k], k).toBeGreaterThan(0);
      expect(m.modelTflops).toBeCloseTo((m.tokensPerSec * m.flopsPerToken) / 1e12, 12);
      expect(m.decodeTokens).toBe(4);
    }
    // Dropless top-2 of 4: exactly half of the all-experts multiply-adds run.
    expect(moe.expertMacs / moe.allExpertsMacs).toBe(0.5);
    expect(moe.computeSavingPct).toBe(50);
    expect(moe.droppedFraction).toBe(0);
    expect(dense.computeSavingPct).toBe(0);
    // Matched active parameters: the same FLOPs per token up to the router (C·E per layer, ×6).
    const s = MOE_CONFIGS.tiny;
    expect(moe.flopsPerToken - dense.flopsPerToken).toBe(6 * s.layers * s.dModel * s.experts);
    expect(moe.params).toBeGreaterThan(dense.params);
    // The headline figures are the MoE model's.
    expect(j.tokensPerSec).toBe(moe.tokensPerSec);
    expect(j.computeSavingPct).toBe(50);
    expect(r.stderr).toContain('| moe |'); // --json: the table goes to stderr
    expect(r.stderr).toContain('| moe-dense |');
  });

  it.skipIf(cudaStatus().available)('--device cuda on a machine without the addon or a GPU: one line, exit 2', async () => {
    const r = await cli('bench', 'moe', '--config', 'tiny', '--device', 'cuda', '--json');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^handgrad: bench moe: --device cuda: /);
    expect(r.stdout).toBe('');
  });

  it('refuses an unknown config and disagreeing --backend/--device', async () => {
    const a = await cli('bench', 'moe', '--config', 'huge');
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('--config');
    const b = await cli('bench', 'moe', '--backend', 'wasm', '--device', 'reference');
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('disagree');
  });
});
