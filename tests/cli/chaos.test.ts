// Chaos: `handgrad train` processes killed with SIGKILL at random moments (seeded), again and
// again, most of them inside a save — the first save after a resume included. After every kill
// the run folder must load (`sample` prints from it, and from best/ once that exists), and the run
// resumed to its end must be bit-identical to one that was never interrupted.
//
// HANDGRAD_TEST_SAVE_DELAY_MS (src/train/checkpoint.ts) makes each save pause a few ms between its
// phases, so a save lasts far longer than a step of this tiny model and the kills land inside
// saves. The folder is in memory (/dev/shm) where there is one: a kill -9 does not need fsync.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEmbeddedCorpus } from '../../src/data/corpus.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { Rng } from '../../src/util/rng.js';
import { cli, cliEnv, handgradScript, node, root, runHandgrad } from './helpers.js';

const tmp = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'handgrad-chaos-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const data = join(tmp, 'tiny.txt');
writeFileSync(data, loadEmbeddedCorpus().text.slice(0, 3000));

const TRIALS = 20;
const STEPS = 30;
const model = ['bigram', '--data', data, '--batch', '4', '--seq', '8', '--val-every', '3', '--val-batches', '2', '--seed', '5', '--backend', 'reference'];
const saving = ['--checkpoint-every', '1', '--keep-checkpoints', '2'];

/**
 * Starts `handgrad …args` and SIGKILLs it `delayMs` after it prints its first progress line
 * (training has begun); resolves with whether the kill came before the process finished by itself.
 */
function killAfter(args: string[], delayMs: number): Promise<boolean> {
  const child = spawn(node, [handgradScript, ...args], {
    cwd: root, env: { ...cliEnv, HANDGRAD_TEST_SAVE_DELAY_MS: '4' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '', timer: NodeJS.Timeout | null = null;
  // Progress goes to stderr (stdout has only the closing result line).
  child.stderr.once('data', () => { timer = setTimeout(() => child.kill('SIGKILL'), delayMs); });
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((done, fail) => {
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal === 'SIGKILL') done(true);
      else if (code === 0) done(false);
      else fail(new Error(`train exited ${code}: ${stderr}`));
    });
  });
}

/** The file of the checkpoint the folder's pointer leads to. */
const file = (dir: string, f: string) => readFileSync(join(readCheckpoint(dir).dir, f));
const leftovers = (dir: string) => (readdirSync(dir, { recursive: true }) as string[]).filter((p) => /\.tmp-\d+$/.test(p));

describe('kill -9 at random moments, over and over', () => {
  it(`${TRIALS} kills, each followed by a load; the resumed run ends bit-identical to an uninterrupted one`, async () => {
    const straight = join(tmp, 'straight'), run = join(tmp, 'run');
    expect(runHandgrad(['train', ...model, '--steps', String(STEPS), '--out', straight]).code).toBe(0);
    // The first leg runs to its end, so every kill after it has a checkpoint to fall back on.
    expect(runHandgrad(['train', ...model, '--steps', '2', ...saving, '--out', run]).code).toBe(0);
    const rng = new Rng(2024);
    let cutSaves = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const killed = await killAfter(['train', '--resume', run, '--steps', String(STEPS), ...saving], Math.floor(rng.next() * 150));
      if (killed && leftovers(run).length > 0) cutSaves++;
      const where = `after kill ${trial + 1} (step ${readCheckpoint(run).state.step})`;
      const s = await cli('sample', run, '--length', '20', '--backend', 'reference');
      expect(s.code, `${where}: ${s.stderr}`).toBe(0);
      expect(s.stdout.length, where).toBeGreaterThan(0);
      if (existsSync(join(run, 'best'))) {
        const b = await cli('sample', join(run, 'best'), '--length', '20', '--backend', 'reference');
        expect(b.code, `${where}, best/: ${b.stderr}`).toBe(0);
      }
    }
    expect(cutSaves).toBeGreaterThan(0); // (some kills really landed inside a save)
    // The last leg, left alone.
    const last = runHandgrad(['train', '--resume', run, '--steps', String(STEPS), ...saving]);
    expect(last.code, last.stderr).toBe(0);
    expect(readCheckpoint(run).state.step).toBe(STEPS);
    for (const f of ['model.safetensors', 'state.safetensors']) expect(file(run, f).equals(file(straight, f)), f).toBe(true);
    expect(leftovers(run)).toEqual([]);
    expect(readCheckpoint(join(run, 'best')).state.step % 3).toBe(0);
  }, 120_000);
});
