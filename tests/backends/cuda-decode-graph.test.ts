// Decode steps as CUDA graphs (src/ops/decode-graph.ts, src/backends/cuda/decode-graphs.ts) on
// CudaOps over the emulated addon, whose capture RECORDS the kernel calls with their arguments and
// whose launch replays them: so a per-token value passed as an argument instead of read from device
// memory would replay stale, as on a GPU. KV-cached sampling with graphs must give the same
// log-probabilities, bit for bit, as without them, through the window slide past the context; a
// stale graph (buffers allocated since) is recaptured; a step with a host transfer in the middle is
// not captured but run eagerly; dispose frees the graphs.
import { describe, expect, it } from 'vitest';
import { CudaOps } from '../../src/backends/cuda/ops.js';
import { decodeGraphOps } from '../../src/ops/decode-graph.js';
import { MoeTransformer } from '../../src/models/moe-transformer.js';
import { tinyMoeConfig } from '../../src/gradcheck/moe-checks.js';
import { Rng } from '../../src/util/rng.js';
import { emulatedAddon } from './cuda-emulated-addon.js';

const config = tinyMoeConfig({ vocabSize: 13, context: 6, dModel: 8, heads: 2, layers: 2, experts: 4, expertHidden: 6 });

function model(graphs: boolean, bf16 = false) {
  const emu = emulatedAddon(32 << 20);
  const ops = new CudaOps(emu, 'Emulated', false, false, bf16, graphs);
  return { emu, ops, m: new MoeTransformer(ops, config, new Rng(3)) };
}

// A prompt, then one token at a time (the graph path) past the context of 6 (the slide rebuilds
// the caches with a 6-row forward, outside the graph), then a reset and a second sequence.
function sample(m: MoeTransformer): Float64Array[] {
  const out: Float64Array[] = [];
  out.push(m.nextLogProbs([1, 2]));
  for (const t of [3, 4, 5, 6, 7, 8, 9]) out.push(m.nextLogProbs([t]));
  m.resetSampling();
  for (const t of [10, 11, 12]) out.push(m.nextLogProbs([t]));
  return out;
}

describe('decode steps as CUDA graphs (emulated addon)', () => {
  it('is off unless asked for, and then offered to models', () => {
    const off = model(false), on = model(true);
    expect(decodeGraphOps(off.ops)).toBeNull();
    expect(decodeGraphOps(on.ops)).toBe(on.ops);
    off.ops.dispose(); on.ops.dispose();
  });

  it('samples the same log-probabilities as the eager steps, replaying one graph', () => {
    const eager = model(false), graphed = model(true);
    const want = sample(eager.m), got = sample(graphed.m);
    expect(got.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) expect(Array.from(got[i])).toEqual(Array.from(want[i]));
    const c = graphed.ops.graphs!.counts;
    // One-token steps at positions 2 (warm-up), 3 (capture), 4, 5 (replays); the slides past the
    // context are 6-row forwards that grow the buffers (so the graph is stale); after the reset,
    // positions 0 (warm-up), 1 (capture), 2 (replay).
    expect(c.captures).toBe(2);
    expect(c.replays).toBe(3);
    expect(graphed.emu.liveGraphs()).toBe(1);
    graphed.ops.dispose();
    expect(graphed.emu.liveGraphs()).toBe(0);
    eager.ops.dispose();
  });

  it('with the bf16 copies on as well, still the eager results', () => {
    const eager = model(false, true), graphed = model(true, true);
    const want = sample(eager.m), got = sample(graphed.m);
    for (let i = 0; i < want.length; i++) expect(Array.from(got[i])).toEqual(Array.from(want[i]));
    eager.ops.dispose(); graphed.ops.dispose();
  });

  it('recaptures after an allocation (a buffer may have moved), with the same results', () => {
    const eager = model(false), graphed = model(true);
    const step = (m: MoeTransformer, ops: CudaOps, t: number, alloc: boolean) => {
      if (alloc) ops.tensor(16);
      return Array.from(m.nextLogProbs([t]));
    };
    for (const [i, t] of [1, 2, 3, 4, 5].entries()) {
      expect(step(graphed.m, graphed.ops, t, i === 3)).toEqual(step(eager.m, eager.ops, t, i === 3));
    }
    const c = graphed.ops.graphs!.counts;
    expect(c.captures).toBe(2); // tokens 1 (warm-up) 2 (capture) 3 (replay) 4 (stale: warm-up again) 5 (capture)
    expect(c.replays).toBe(1);
    expect(step(graphed.m, graphed.ops, 6, false)).toEqual(step(eager.m, eager.ops, 6, false));
    expect(c.replays).toBe(2);
    eager.ops.dispose(); graphed.ops.dispose();
  });

  it('runs a step with a host transfer inside eagerly instead of capturing it', () => {
    const { ops, emu } = model(true);
    const x = ops.tensorFrom([1, 2]);
    const key = {};
    const body = () => { ops.scale(x, 2); void x.data; ops.scale(x, 2); };
    for (let i = 0; i < 3; i++) ops.graphStep(key, body);
    expect(Array.from(x.data)).toEqual([64, 128]); // every call ran both scales
    expect(ops.graphs!.eagerReason(key)).toMatch(/download/);
    expect(ops.graphs!.counts.replays).toBe(0);
    expect(emu.liveGraphs()).toBe(0);
    ops.dispose();
  });
});
