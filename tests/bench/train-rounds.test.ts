// The paired rounds of `bench train --rounds N` (bench/train.ts benchTrainRounds) when peers fail:
// a peer that cannot start, one that dies mid-run and one that answers a request with an error.
// The peer servers are stand-ins (bench/peer-server.ts mocked) with made-up step times, so this
// runs without Python; ours is the real session at a tiny size.
import { describe, expect, it, vi } from 'vitest';
import type { PeerServer, PeerServerOptions } from '../../bench/peer-server.js';
import { describePeerMalloc } from '../../bench/peer-env.js';

/** What each stand-in server does per request: step seconds, an error reply, or death. */
type Script = ('ok' | 'error' | 'die')[];
const scripts: Record<string, Script | string> = {};
const closed: string[] = [];
const asks: Record<string, number> = {};

vi.mock('../../bench/peer-server.js', () => ({
  startPeerServer: async (opts: PeerServerOptions): Promise<PeerServer | string> => {
    const key = `${opts.module}${opts.threads}t`;
    const script = scripts[key];
    if (typeof script === 'string') return script;
    let asked = 0, dead = false;
    const stepSeconds = opts.module === 'torch' ? 0.004 : 0.002 / opts.threads; // numpy: 2 threads faster
    return {
      python: '/fake/python3',
      ready: { ready: true, warmupSeconds: [0.01, 0.01, 0.01], tokensPerStep: 8, threads: opts.threads, blasCore: null,
        ...(opts.module === 'torch' ? { torch: '9.9' } : { numpy: '9.9', dtype: 'float32' }) },
      ask: async (req) => {
        asks[key] = (asks[key] ?? 0) + 1;
        if (dead) return null;
        const what = script[asked++] ?? 'ok';
        if (what === 'die') { dead = true; return null; }
        if (what === 'error') return { id: req.id, error: 'ValueError: something odd' };
        return { id: req.id, times: Array.from({ length: req.steps as number }, () => stepSeconds) };
      },
      failure: () => (dead ? `${key}.py --serve ended (exit 9: killed)` : ''),
      close: async () => { closed.push(key); },
    };
  },
}));

const { benchTrainRounds } = await import('../../bench/train.js');

describe('paired rounds with failing peers', () => {
  it('says why in the notes, leaves a dead peer out from then on, and still gives our figures; every server is closed', async () => {
    Object.assign(scripts, {
      torch1t: 'not available (/fake/python3 -c \'import torch\' fails: it is not installed there)',
      torch2t: 'not available (/fake/python3 -c \'import torch\' fails: it is not installed there)',
      numpy1t: ['ok', 'error', 'ok'],
      numpy2t: ['ok', 'die'],
    });
    const progress: string[] = [];
    const { rounds, summary } = await benchTrainRounds({
      model: 'lstm', config: 'seed', sizes: { hidden: 8, batch: 1, seq: 3 }, threads: 1, steps: 2, rounds: 3, spinDownSeconds: 0,
      onProgress: (l) => progress.push(l),
    });
    expect(rounds).toHaveLength(3);
    for (const r of rounds) expect(r.tokensPerSec).toBeGreaterThan(0);
    // torch never started: one note per round, tried once (a missing module is not retried at 2 threads)
    for (const r of rounds) {
      expect(r.torchTokensPerSec).toBeNull();
      expect(r.peerNote).toBe('1 thread(s): not available (/fake/python3 -c \'import torch\' fails: it is not installed there)');
    }
    // round 1: both NumPy servers answer; 2 threads (made up twice as fast) is the best
    expect(rounds[0].numpyRuns).toEqual([{ threads: 1, tokensPerSec: 4000 }, { threads: 2, tokensPerSec: 8000 }]);
    expect(rounds[0]).toMatchObject({ numpyTokensPerSec: 8000, numpyThreads: 2, numpyNote: `NumPy 9.9 via /fake/python3, fp32, ${describePeerMalloc()}` });
    // round 2: 1 thread answers with an error, 2 threads dies: no NumPy figure this round, both reasons given
    expect(rounds[1].numpyTokensPerSec).toBeNull();
    expect(rounds[1].numpyNote).toContain('1 thread(s) failed in round 2: ValueError: something odd');
    expect(rounds[1].numpyNote).toContain('2 thread(s) failed in round 2: numpy2t.py --serve ended (exit 9: killed); left out from then on');
    // round 3: 1 thread is back; the dead one is not asked again, and the note still says why
    expect(rounds[2].numpyRuns).toEqual([{ threads: 1, tokensPerSec: 4000 }]);
    expect(rounds[2].numpyNote).not.toContain('something odd');
    expect(rounds[2].numpyNote).toContain('left out from then on');
    expect(asks).toEqual({ numpy1t: 3, numpy2t: 2 });
    // a peer missing in a round gives no summary ratio, but ours is summarised
    expect(summary.ratioVsNumpyBest).toBeNull();
    expect(summary.tokensPerSec.rounds).toEqual(rounds.map((r) => r.tokensPerSec));
    expect(summary.stepsPerRound).toEqual({ ours: 2, numpy1t: 2, numpy2t: 2 });
    expect(closed.sort()).toEqual(['numpy1t', 'numpy2t']);
    expect(progress).toContain('round 3 of 3');
  }, 60_000);

  it('closes every server when the run stops with an error mid-way', async () => {
    closed.length = 0;
    Object.assign(scripts, { torch1t: ['ok'], torch2t: ['ok'] });
    await expect(benchTrainRounds({
      model: 'gru', config: 'small', sizes: { hidden: 8, batch: 1, seq: 3 }, threads: 1, steps: 1, rounds: 3, spinDownSeconds: 0,
      onRound: () => { throw new Error('the report could not be written'); },
    })).rejects.toThrow('the report could not be written');
    expect(closed.sort()).toEqual(['torch1t', 'torch2t']);
  }, 60_000);
});
