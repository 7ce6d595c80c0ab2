// `handgrad train --resume / --checkpoint-every`, Ctrl-C and kill -9, as a user meets them: child
// processes on the Node in node_modules/.bin, a tiny corpus in a temporary file.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEmbeddedCorpus } from '../../src/data/corpus.js';
import { listGenerations, readCheckpoint } from '../../src/train/checkpoint.js';
import { LOCK_FILE, readLock } from '../../src/train/run-folder.js';
import { cliEnv, handgradScript, node, root, runHandgrad } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-cli-resume-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const data = join(tmp, 'tiny.txt');
writeFileSync(data, loadEmbeddedCorpus().text.slice(0, 6000));
const handgrad = (...args: string[]) => runHandgrad(args, 60_000);

/** Starts a training run in the background; resolves with its exit once `until` holds, after sending `signal`. */
function startThenSignal(args: string[], until: () => boolean, signal: NodeJS.Signals) {
  const child = spawn(node, [handgradScript, ...args], { cwd: root, env: cliEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((done, fail) => {
    const t0 = Date.now();
    const poll = setInterval(() => {
      if (until()) {
        clearInterval(poll);
        child.kill(signal);
      } else if (Date.now() - t0 > 60_000) {
        clearInterval(poll);
        child.kill('SIGKILL');
        fail(new Error(`timed out waiting; stderr: ${stderr}`));
      }
    }, 20);
    child.on('exit', (code, sig) => {
      clearInterval(poll);
      // Let the pipes drain.
      setTimeout(() => done({ code, signal: sig, stdout, stderr }), 50);
    });
  });
}

const lstm = ['lstm', '--hidden', '16', '--embed', '8', '--data', data, '--batch', '4', '--seq', '16', '--val-every', '0',
  '--backend', 'reference'];
const stepOf = (dir: string) => readCheckpoint(dir).state.step;
/** A file of the checkpoint the run folder's pointer leads to. */
const file = (dir: string, f: string) => readFileSync(join(readCheckpoint(dir).dir, f));

describe('handgrad train --resume', () => {
  it('survives kill -9: the last checkpoint loads, and --resume continues from it exactly', async () => {
    const dir = join(tmp, 'killed');
    const r = await startThenSignal([...'train'.split(' '), ...lstm, '--steps', '1000000', '--checkpoint-every', '5', '--out', dir, '--json'],
      () => existsSync(join(dir, 'latest.json')), 'SIGKILL');
    expect(r.signal).toBe('SIGKILL');
    const step = stepOf(dir);
    const lock = readLock(join(dir, LOCK_FILE))!;
    expect(step % 5).toBe(0);
    expect(step).toBeGreaterThanOrEqual(5);
    // The limit saved is a million steps: give the new total.
    const resumed = handgrad('train', '--resume', dir, '--steps', String(step + 5), '--json');
    // The killed run's lock is stale (its pid is gone): taken over, with one line saying so.
    expect(resumed.stderr).toBe(`--resume ${dir}: took over the lock of a run that is gone (pid ${lock.pid} on ${lock.hostname}, since ${lock.startedAt})\n`);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout.trimEnd().split('\n').pop()!)).toMatchObject({ model: 'lstm', steps: step + 5, out: dir });
    expect(stepOf(dir)).toBe(step + 5);
    // Same bits as a straight run of that many steps.
    const straight = join(tmp, 'straight');
    expect(handgrad('train', ...lstm, '--steps', String(step + 5), '--out', straight, '--json').code).toBe(0);
    expect(file(dir, 'model.safetensors').equals(file(straight, 'model.safetensors'))).toBe(true);
    expect(file(dir, 'state.safetensors').equals(file(straight, 'state.safetensors'))).toBe(true);
    // And the checkpoint samples.
    expect(handgrad('sample', dir, '--length', '20', '--backend', 'reference').code).toBe(0);
  }, 120_000);

  it('Ctrl-C finishes the step, saves and exits 0, saying so', async () => {
    const dir = join(tmp, 'interrupted');
    const r = await startThenSignal(['train', ...lstm, '--steps', '1000000', '--checkpoint-every', '3', '--out', dir, '--json'],
      () => existsSync(join(dir, 'latest.json')), 'SIGINT');
    expect(r.code).toBe(0);
    const step = stepOf(dir);
    expect(step).toBeGreaterThanOrEqual(3);
    expect(r.stderr).toBe('interrupted: finishing this step and saving a checkpoint (Ctrl-C again quits at once; the last checkpoint stays)\n' +
      `interrupted after step ${step}: checkpoint saved to ${dir} (continue with --resume ${dir})\n`);
    expect(JSON.parse(r.stdout.trimEnd().split('\n').pop()!)).toMatchObject({ steps: step, out: dir });
    expect((readCheckpoint(dir).state.training as { finished: boolean }).finished).toBe(false);
  }, 120_000);

  it('saves on a time interval with --checkpoint-every <duration>, keeping --keep-checkpoints generations', () => {
    const dir = join(tmp, 'timed');
    const r = handgrad('train', ...lstm, '--steps', '30', '--checkpoint-every', '1ms', '--keep-checkpoints', '3', '--out', dir, '--json');
    expect(r.code).toBe(0);
    expect(stepOf(dir)).toBe(30);
    // Timed saves land wherever a step ends past the interval, and a tiny step can finish within 1 ms of the
    // last save (CI once kept 27, 29, 30), so only the shape is fixed: three generations, the newest the final.
    const steps = listGenerations(dir).map((g) => g.step);
    expect(steps).toHaveLength(3);
    expect(steps[2]).toBe(30);
    expect(steps[0]).toBeGreaterThan(0);
    expect(steps[0]).toBeLessThan(steps[1]);
    expect(steps[1]).toBeLessThan(steps[2]);
  });

  it('resumes from the newest generation that verifies when the newest is damaged, and says so', () => {
    const dir = join(tmp, 'damaged');
    cpSync(join(tmp, 'timed'), dir, { recursive: true }); // three generations, the newest at step 30
    const previous = listGenerations(dir).map((g) => g.step)[1];
    truncateSync(join(dir, 'ckpt-000000030', 'model.safetensors'), 64);
    const r = handgrad('train', '--resume', dir, '--steps', '31', '--json');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(String.raw`^train: --resume: .*ckpt-000000030/model\.safetensors: 64 bytes, manifest\.json says \d+ \(truncated or altered\); resuming from .*ckpt-0+${previous} \(step ${previous}\)\n$`));
    expect(stepOf(dir)).toBe(31);
  });

  it.each([
    [['train', '--resume', join(tmp, 'nothing')], /^handgrad: train: --resume: .*nothing: not a checkpoint folder \(no latest\.json and no ckpt-\* generation/],
    [['train'], /^handgrad: train: missing model \(expected one of .*, or --resume <dir>\)/],
    [['train', 'lstm', '--checkpoint-every', '0'], /^handgrad: --checkpoint-every expects a step count ≥ 1 or a duration like 30s, 2m, 1h; got '0'/],
    [['train', 'lstm', '--checkpoint-every', 'often'], /^handgrad: --checkpoint-every expects/],
    [['train', 'gru', '--resume', join(tmp, 'timed')], /^handgrad: train: --resume .*timed: the checkpoint is a lstm model, not gru/],
    [['train', '--resume', join(tmp, 'timed'), '--lr', '0.5'], /^handgrad: train: --resume .*: the checkpoint was trained with --lr 0\.002, not 0\.5/],
    [['train', 'lstm', '--keep-checkpoints', '0'], /^handgrad: .*--keep-checkpoints/],
    [['train', 'lstm', '--data', data, '--lr', '1e300', '--steps', '2', '--out', join(tmp, 'never')],
      /^handgrad: train: --lr 1e\+300: the wasm backend computes in f32, which holds learning rates from 1\.4e-45 to 3\.4e\+38 only\n$/],
  ])('exits 2 with one line for %j', (args, message) => {
    const r = handgrad(...(args as string[]));
    expect(r.stderr).toMatch(message as RegExp);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});
