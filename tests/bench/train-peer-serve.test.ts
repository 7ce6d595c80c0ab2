// The training peers' `--serve` mode (bench/peers/serve_steps.py, used by torch_rnn_train.py,
// torch_transformer_train.py and numpy_seed_lstm.py) and the client that talks to such servers
// (bench/peer-server.ts, also behind the kernel bench's numpy_gemm.py server). Tiny sizes; the
// times are checked for shape only (speed is the benchmark's business). Each script's test is
// skipped where no Python has its module.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findPython, peerEnv } from '../../bench/peer-env.js';
import { startPeerServer, type PeerServer } from '../../bench/peer-server.js';
import { startNumpyServer } from '../../bench/kernels/peers.js';

const peers = join(import.meta.dirname, '..', '..', 'bench', 'peers');
const numpyPython = findPython('numpy').python;
const torchPython = findPython('torch').python;

const TINY_LSTM = { hidden: 16, batch: 2, seq: 4, vocab: 65, threads: 1 };
const TINY_RNN = { model: 'lstm', hidden: 16, batch: 2, seq: 4, embed: 8, vocab: 65, layers: 1, threads: 1 };
const TINY_TRANSFORMER = { dModel: 16, heads: 2, layers: 1, context: 8, ffHidden: 32, batch: 2, seq: 8, vocab: 65, threads: 1 };

/** Runs `script config --serve` with these stdin lines; its exit code and stdout lines as JSON. */
function serve(script: string, python: string, config: object, requests: string[]): { code: number | null; replies: Record<string, unknown>[]; stderr: string } {
  const r = spawnSync(python, [join(peers, script), JSON.stringify(config), '--serve'],
    { input: requests.join('\n') + '\n', encoding: 'utf8', env: peerEnv(1), timeout: 60_000 });
  return { code: r.status, replies: r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>), stderr: r.stderr };
}

/** The protocol every training peer speaks: ready line, K step times per request, error lines, exit 0 at EOF. */
function checkProtocol(script: string, python: string, config: object, tokensPerStep: number, versionKey: string): void {
  const r = serve(script, python, config, ['{"id":1,"steps":3}', 'not json', '{"id":3,"steps":0}', '{"id":4}', '{"id":5,"steps":2}']);
  expect(r.code, r.stderr).toBe(0);
  const [ready, ...replies] = r.replies;
  expect(ready).toMatchObject({ ready: true, threads: 1, tokensPerStep });
  expect(ready).toHaveProperty(versionKey);
  expect(ready).toHaveProperty('blasCore');
  expect(ready.warmupSeconds as number[]).toHaveLength(3);
  expect(replies).toHaveLength(5); // one reply per request, the bad ones included
  expect(replies[0].id).toBe(1);
  expect(replies[0].times as number[]).toHaveLength(3);
  for (const t of replies[0].times as number[]) expect(t).toBeGreaterThan(0);
  expect(replies[1]).toMatchObject({ id: null, error: expect.stringMatching(/JSONDecodeError/) });
  expect(replies[2]).toMatchObject({ id: 3, error: expect.stringMatching(/steps must be a positive integer/) });
  expect(replies[3]).toMatchObject({ id: 4, error: expect.stringMatching(/steps must be a positive integer/) });
  expect(replies[4].id).toBe(5); // the server kept going after the bad requests
  expect(replies[4].times as number[]).toHaveLength(2);
}

describe('training peers: --serve', () => {
  it.skipIf(!numpyPython)(`numpy_seed_lstm.py${numpyPython ? '' : ' (skipped: no Python with numpy)'}`, () => {
    checkProtocol('numpy_seed_lstm.py', numpyPython!, TINY_LSTM, 8, 'numpy');
  });

  it.skipIf(!torchPython)(`torch_rnn_train.py${torchPython ? '' : ' (skipped: no Python with torch)'}`, () => {
    checkProtocol('torch_rnn_train.py', torchPython!, TINY_RNN, 8, 'torch');
  });

  it.skipIf(!torchPython)(`torch_transformer_train.py, a tiny config${torchPython ? '' : ' (skipped: no Python with torch)'}`, () => {
    checkProtocol('torch_transformer_train.py', torchPython!, TINY_TRANSFORMER, 16, 'torch');
  });

  it.skipIf(!numpyPython)('the one-shot mode is unchanged: one JSON line with tokens/s (and no ready line)', () => {
    const r = spawnSync(numpyPython!, [join(peers, 'numpy_seed_lstm.py'), JSON.stringify({ ...TINY_LSTM, steps: 2 })],
      { encoding: 'utf8', env: peerEnv(1), timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ tokensPerSec: expect.any(Number), threads: 1, dtype: 'float32' });
  });
});

describe('bench/peer-server.ts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'handgrad-peer-server-'));
  const started: PeerServer[] = [];
  afterAll(async () => {
    await Promise.all(started.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });
  /** A stand-in peer script (plain Python: it needs no module, but the interpreter is found through numpy's). */
  const fake = (name: string, body: string) => {
    const file = join(dir, name);
    writeFileSync(file, `import json, os, sys\n${body}\n`);
    return file;
  };

  it.skipIf(!numpyPython)('starts a training peer, asks it for steps, and closes it (exit at EOF)', async () => {
    const s = await startPeerServer({ module: 'numpy', script: join(peers, 'numpy_seed_lstm.py'), args: [JSON.stringify(TINY_LSTM)], threads: 1 });
    if (typeof s === 'string') throw new Error(s);
    started.push(s);
    expect(s.python).toBe(numpyPython);
    expect(s.ready).toMatchObject({ ready: true, tokensPerStep: 8 });
    const a = await s.ask({ id: 1, steps: 2 }, 30);
    expect(a).toMatchObject({ id: 1 });
    expect(a!.times as number[]).toHaveLength(2);
    expect(await s.ask({ id: 2, steps: -1 }, 30)).toMatchObject({ id: 2, error: expect.any(String) });
    expect(s.failure()).toBe('');
    await s.close();
    expect(await s.ask({ id: 3, steps: 1 }, 30)).toBeNull();
    expect(s.failure()).toMatch(/numpy_seed_lstm\.py --serve ended \(exit 0\)/);
  });

  it.skipIf(!numpyPython)('runs the peer in peerEnv(threads): the OpenBLAS thread variables set, the guards removed', async () => {
    const script = fake('env.py', 'print(json.dumps({"ready": True, "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "MALLOC_TOP_PAD_")}}), flush=True)\nsys.stdin.read()');
    const prev = process.env.OPENBLAS_CORETYPE;
    process.env.OPENBLAS_CORETYPE = 'Haswell';
    try {
      const s = await startPeerServer({ module: 'numpy', script, threads: 2 });
      if (typeof s === 'string') throw new Error(s);
      started.push(s);
      expect(s.ready.env).toEqual({ OPENBLAS_NUM_THREADS: '2', OPENBLAS_CORETYPE: null, MALLOC_TOP_PAD_: process.env.MALLOC_TOP_PAD_ ?? '536870912' });
    } finally {
      if (prev === undefined) delete process.env.OPENBLAS_CORETYPE; else process.env.OPENBLAS_CORETYPE = prev;
    }
  });

  it.skipIf(!numpyPython)('says in one line why a server did not start, died, or did not answer', async () => {
    const missing = await startPeerServer({ module: 'numpy', script: fake('exit3.py', 'sys.exit(3)'), threads: 1 });
    expect(missing).toMatch(/^not available \(.* -c 'import numpy' fails/);
    const broken = await startPeerServer({ module: 'numpy', script: fake('broken.py', 'print("boom: no model", file=sys.stderr); sys.exit(1)'), threads: 1 });
    expect(broken).toBe('broken.py --serve failed (exit 1: boom: no model)');

    const dies = await startPeerServer({
      module: 'numpy', threads: 1,
      script: fake('dies.py', 'print(json.dumps({"ready": True}), flush=True)\nsys.stdin.readline()\nprint("out of memory", file=sys.stderr)\nsys.exit(7)'),
    });
    if (typeof dies === 'string') throw new Error(dies);
    started.push(dies);
    expect(await dies.ask({ id: 1, steps: 1 }, 30)).toBeNull();
    expect(dies.failure()).toBe('dies.py --serve ended (exit 7: out of memory)');

    const mute = await startPeerServer({ module: 'numpy', threads: 1, script: fake('mute.py', 'print(json.dumps({"ready": True}), flush=True)\nsys.stdin.read()') });
    if (typeof mute === 'string') throw new Error(mute);
    started.push(mute);
    expect(await mute.ask({ id: 1, steps: 1 }, 0.3)).toBeNull();
    expect(mute.failure()).toBe('mute.py --serve: no answer within 0.3 s');
  });

  it.skipIf(!numpyPython)('ask returns the reply with the request\'s id: a stray line or a late reply does not shift the later ones', async () => {
    const script = fake('chatty.py', [
      'print(json.dumps({"ready": True}), flush=True)',
      'for line in sys.stdin:',
      '    req = json.loads(line)',
      '    print("a library warning on stdout", flush=True)',
      '    print(json.dumps({"id": -1, "times": [9.9]}), flush=True)',
      '    print(json.dumps({"id": req["id"], "times": [req["id"] / 10]}), flush=True)',
    ].join('\n'));
    const s = await startPeerServer({ module: 'numpy', script, threads: 1 });
    if (typeof s === 'string') throw new Error(s);
    started.push(s);
    expect(await s.ask({ id: 1, steps: 1 }, 30)).toEqual({ id: 1, times: [0.1] });
    expect(await s.ask({ id: 2, steps: 1 }, 30)).toEqual({ id: 2, times: [0.2] });
    expect(s.failure()).toBe('');
  });

  it.skipIf(!numpyPython)('the kernel bench\'s numpy_gemm.py server runs through it', async () => {
    const s = await startNumpyServer(1);
    if (typeof s === 'string') throw new Error(s);
    try {
      const reply = await s.ask({ id: 1, m: 16, k: 16, n: 16, variant: 'nn', seconds: 0.02, minRepSeconds: 0.005 }, 30);
      expect(reply).toMatchObject({ id: 1, m: 16, gflops: expect.any(Number) });
      expect(await s.ask({ id: 2, m: 0, k: 1, n: 1 }, 30)).toMatchObject({ id: 2, error: expect.stringMatching(/bad request/) });
      expect(await s.ask({ id: 3, quit: true }, 5)).toBeNull(); // "quit" ends it
    } finally {
      await s.close();
    }
  });
});
