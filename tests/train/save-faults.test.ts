// A save cut off at every point: the process "dies" at the k-th change it makes to the disk (every
// file created, write, rename, removal, folder made), for k = 1, 2, … until a run gets through.
// After each death the run folder must still load, and resuming it must end bit-identical to a
// run that was never interrupted. node:fs is wrapped for the source modules: once the budget of
// changes is spent every further change throws, so nothing after the cut reaches the disk (as
// with kill -9), and reads still work. tests/cli/chaos.test.ts does the same with real SIGKILLs.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { loadEmbeddedCorpus } from '../../src/data/corpus.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { train, type TrainOptions } from '../../src/train/trainer.js';

const disk = vi.hoisted(() => ({ budget: Infinity, dead: false }));

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const change = <F extends (...a: never[]) => unknown>(f: F, counts: (...a: Parameters<F>) => boolean = () => true) =>
    ((...args: Parameters<F>) => {
      if (counts(...args)) {
        if (disk.dead || disk.budget-- <= 0) {
          disk.dead = true;
          throw Object.assign(new Error('the process died here (simulated kill)'), { code: 'EKILLED' });
        }
      }
      return f(...args);
    }) as unknown as F;
  const wrapped = {
    ...fs,
    openSync: change(fs.openSync, (_p, flags) => typeof flags === 'string' && /[wa]/.test(flags)),
    writeSync: change(fs.writeSync),
    writeFileSync: change(fs.writeFileSync),
    appendFileSync: change(fs.appendFileSync),
    renameSync: change(fs.renameSync),
    rmSync: change(fs.rmSync),
    unlinkSync: change(fs.unlinkSync),
    rmdirSync: change(fs.rmdirSync),
    mkdirSync: change(fs.mkdirSync),
    cpSync: change(fs.cpSync),
    copyFileSync: change(fs.copyFileSync),
    truncateSync: change(fs.truncateSync),
  };
  return { ...wrapped, default: wrapped };
});

/** Runs `fn` with the disk dying after `k` changes; true when it died (false: it got through). */
async function dieAfter(k: number, fn: () => Promise<unknown>): Promise<boolean> {
  disk.budget = k;
  disk.dead = false;
  try {
    await fn();
  } catch (e) {
    if (!disk.dead) throw e;
  } finally {
    disk.budget = Infinity;
  }
  const died = disk.dead;
  disk.dead = false;
  return died;
}

// In memory where there is /dev/shm: a save's fsyncs cost nothing there (their order is not what
// is tested here), and this test makes a few hundred saves.
const tmp = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'handgrad-save-faults-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const data = join(tmp, 'tiny.txt');
writeFileSync(data, loadEmbeddedCorpus().text.slice(0, 3000));
const base: TrainOptions = {
  model: 'bigram', data, batch: 4, seq: 8, valEvery: 2, valBatches: 2, seed: 7, backend: 'reference', reporter: {},
};
/** What a resume passes: only the limits and the checkpointing (the rest comes from the checkpoint). */
const resume = (dir: string, steps: number): TrainOptions =>
  ({ model: 'bigram', backend: 'reference', resume: dir, steps, checkpointEverySteps: 1, keepCheckpoints: 2 });

const file = (dir: string, f: string) => readFileSync(join(readCheckpoint(dir).dir, f));
function expectSameBits(a: string, b: string): void {
  for (const f of ['model.safetensors', 'state.safetensors']) expect(file(a, f).equals(file(b, f)), f).toBe(true);
}
/** Temporary names left anywhere under `dir`. */
const leftovers = (dir: string): string[] =>
  (readdirSync(dir, { recursive: true }) as string[]).filter((p) => /\.tmp-\d+$|(^|\/)\.incoming$/.test(p));

describe('a save cut off at any point', () => {
  it('the double fault: a single-folder checkpoint cut in its second phase, resumed, and cut again in the first save, still loads', async () => {
    // The old layout as a cut save left it: a complete .incoming, no manifest in the folder, one
    // file already copied over (the bug: the resume read .incoming, and its first save began by
    // removing it, the only complete copy).
    const src = join(tmp, 'src'), cut = join(tmp, 'legacy-cut'), straight = join(tmp, 'straight-6');
    await train({ ...base, steps: 4, out: src });
    await train({ ...base, steps: 6, out: straight });
    const from = readCheckpoint(src).dir;
    cpSync(from, join(cut, '.incoming'), { recursive: true });
    cpSync(join(from, 'model.safetensors'), join(cut, 'model.safetensors'));
    cpSync(join(src, 'metrics.jsonl'), join(cut, 'metrics.jsonl'));
    expect(readCheckpoint(cut).state.step).toBe(4);
    let k = 1;
    for (; ; k++) {
      const work = join(tmp, `double-${k}`);
      cpSync(cut, work, { recursive: true });
      const died = await dieAfter(k, () => train(resume(work, 6)));
      expect(readCheckpoint(work).state.step, `died after ${k} changes`).toBeGreaterThanOrEqual(4);
      if (!died) break;
      await train(resume(work, 6)); // the next start
      expectSameBits(work, straight);
      expect(leftovers(work), `died after ${k} changes`).toEqual([]);
      rmSync(work, { recursive: true });
    }
    expect(k).toBeGreaterThan(20); // (the cut points were really visited)
  }, 60_000);

  it('generations and best/: every cut leaves the newest complete checkpoint (and best/) loadable, and the resume ends bit-identical', async () => {
    const start = join(tmp, 'gen-start'), straight = join(tmp, 'straight-5');
    await train({ ...base, steps: 2, out: start, checkpointEverySteps: 1 });
    await train({ ...base, steps: 5, out: straight });
    expect(readCheckpoint(join(start, 'best')).state.step).toBe(2);
    let k = 1;
    for (; ; k++) {
      const work = join(tmp, `gen-${k}`);
      cpSync(start, work, { recursive: true });
      const died = await dieAfter(k, () => train(resume(work, 5)));
      expect(readCheckpoint(work).state.step, `died after ${k} changes`).toBeGreaterThanOrEqual(2);
      expect(readCheckpoint(join(work, 'best')).state.step, `best/ after ${k} changes`).toBeGreaterThanOrEqual(2);
      if (!died) break;
      await train(resume(work, 5));
      expectSameBits(work, straight);
      expect(leftovers(work), `died after ${k} changes`).toEqual([]);
      rmSync(work, { recursive: true });
    }
    expect(k).toBeGreaterThan(30);
  }, 60_000);

  it('a second save of the same step (resuming a finished run) never leaves the folder without a checkpoint', async () => {
    const done = join(tmp, 'done');
    await train({ ...base, steps: 3, out: done, checkpointEverySteps: 1 });
    let k = 1;
    for (; ; k++) {
      const work = join(tmp, `same-${k}`);
      cpSync(done, work, { recursive: true });
      const died = await dieAfter(k, () => train(resume(work, 3)));
      expect(readCheckpoint(work).state.step, `died after ${k} changes`).toBe(3);
      expectSameBits(work, done);
      rmSync(work, { recursive: true });
      if (!died) break;
    }
    expect(k).toBeGreaterThan(10);
  }, 60_000);
});
