// The run folder (src/train/run-folder.ts): refused places, non-empty folders, the lock (held,
// stale, taken over), the writability probe, and what a failed run leaves behind — in this
// process; tests/cli/run-safety.test.ts runs the same as a user meets it, with real processes.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCK_FILE, openRunFolder, readLock, RunFolderError, type LockInfo } from '../../src/train/run-folder.js';
import { CheckpointWriteError } from '../../src/train/checkpoint.js';
import { train, TrainConfigError, TrainingDivergedError } from '../../src/train/trainer.js';
import { BigramLM } from '../../src/models/bigram.js';
import { registerModel } from '../../src/models/registry.js';
import { CorpusError } from '../../src/data/corpus.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-run-folder-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(tmp, `f${n++}`);

/** The pid of a process that has exited (its pid is free). */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;
function writeLock(dir: string, info: Partial<LockInfo>): LockInfo {
  mkdirSync(dir, { recursive: true });
  const lock = { pid: deadPid(), hostname: hostname(), startedAt: '2026-01-02T03:04:05.000Z', token: 'theirs', ...info };
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify(lock));
  return lock;
}
const listing = (dir: string) => readdirSync(dir).sort();

describe('openRunFolder', () => {
  it('creates the folder and its parents, locks it with pid, host and start time, and releases the lock', () => {
    const dir = join(fresh(), 'a', 'run');
    const f = openRunFolder(dir);
    expect(f.created).toBe(true);
    expect(f.dir).toBe(dir);
    const lock = readLock(join(dir, LOCK_FILE))!;
    expect(lock).toMatchObject({ pid: process.pid, hostname: hostname() });
    expect(Date.now() - Date.parse(lock.startedAt)).toBeLessThan(60_000);
    expect(listing(dir)).toEqual([LOCK_FILE]); // the probe file is gone again
    f.release();
    f.release();
    expect(listing(dir)).toEqual([]);
  });

  it('refuses a second run while the first holds the lock, naming the holder, even with --force or as the resumed folder', () => {
    const dir = fresh();
    const first = openRunFolder(dir);
    const since = readLock(join(dir, LOCK_FILE))!.startedAt;
    const message = `--out ${dir}: in use by another run (pid ${process.pid} on ${hostname()}, since ${since}); ` +
      `wait for it to finish or choose another --out (if no run uses it, remove ${join(dir, LOCK_FILE)})`;
    expect(() => openRunFolder(dir)).toThrow(message);
    expect(() => openRunFolder(dir, { force: true })).toThrow(message);
    expect(() => openRunFolder(dir, { resumeDir: dir })).toThrow(RunFolderError);
    expect(listing(dir)).toEqual([LOCK_FILE]);
    first.release();
    openRunFolder(dir).release();
  });

  it('takes over a stale lock with a notice: a dead pid, or our own pid that this process does not hold (a reused pid)', () => {
    for (const pid of [deadPid(), process.pid]) {
      const dir = fresh();
      const stale = writeLock(dir, { pid });
      const notes: string[] = [];
      const f = openRunFolder(dir, { notice: (l) => notes.push(l) });
      expect(notes).toEqual([`--out ${dir}: took over the lock of a run that is gone (pid ${pid} on ${hostname()}, since ${stale.startedAt})`]);
      expect(readLock(join(dir, LOCK_FILE))!.token).not.toBe('theirs');
      f.release();
      expect(listing(dir)).toEqual([]);
    }
  });

  it('a live process on this host or any process on another host holds its lock', () => {
    const dir = fresh();
    writeLock(dir, { pid: process.ppid }); // our parent: alive
    expect(() => openRunFolder(dir)).toThrow(new RegExp(`in use by another run \\(pid ${process.ppid} on `));
    writeLock(dir, { hostname: 'elsewhere.example' });
    expect(() => openRunFolder(dir)).toThrow(/in use by another run \(pid \d+ on elsewhere\.example, since 2026-01-02T03:04:05\.000Z\)/);
    expect(readLock(join(dir, LOCK_FILE))!.token).toBe('theirs');
  });

  it.skipIf(!existsSync(`/proc/${process.ppid}/stat`))('a live pid that started after the lock was taken (pid reuse) is stale', () => {
    const dir = fresh();
    writeLock(dir, { pid: process.ppid, procStart: 1 }); // not our parent's start time
    const notes: string[] = [];
    openRunFolder(dir, { notice: (l) => notes.push(l) }).release();
    expect(notes).toHaveLength(1);
  });

  it('an unreadable lock is held while fresh (being written) and taken over once old (debris)', () => {
    const dir = fresh();
    mkdirSync(dir);
    writeFileSync(join(dir, LOCK_FILE), '{"pid":');
    expect(() => openRunFolder(dir)).toThrow(/in use by another run \(its lock is being written\)/);
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(dir, LOCK_FILE), old, old);
    const notes: string[] = [];
    openRunFolder(dir, { notice: (l) => notes.push(l) }).release();
    expect(notes).toEqual([`--out ${dir}: took over the lock of a run that is gone (an unreadable lock file)`]);
  });

  it('what killed runs leave of the lock (a staging file, a lock moved aside, a probe) blocks nothing and is removed', () => {
    const dir = fresh();
    mkdirSync(dir);
    writeFileSync(join(dir, `${LOCK_FILE}.tmp-${deadPid()}`), '{"pid":');
    writeFileSync(join(dir, `${LOCK_FILE}.stale-${deadPid()}`), '{}');
    writeFileSync(join(dir, `.handgrad-probe-${deadPid()}`), '');
    const f = openRunFolder(dir);
    expect(readLock(join(dir, LOCK_FILE))!.pid).toBe(process.pid);
    expect(listing(dir)).toEqual([LOCK_FILE]); // the leftovers of processes that are gone are removed
    f.release();
  });

  it('refuses a folder that holds anything, unless it is the resumed folder or --force is given', () => {
    const dir = fresh();
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    expect(() => openRunFolder(dir)).toThrow(`--out ${dir}: is not empty (notes.txt); choose a new folder, or add --force to replace handgrad's files in it`);
    writeFileSync(join(dir, 'manifest.json'), '{}');
    expect(() => openRunFolder(dir)).toThrow(`--out ${dir}: is not empty (manifest.json, notes.txt), another run is there; ` +
      `choose a new folder, continue that run with --resume ${dir}, or add --force to replace handgrad's files in it`);
    const resumed = openRunFolder(dir, { resumeDir: join(dir, '.') });
    expect(resumed.created).toBe(false);
    resumed.release();
    openRunFolder(dir, { force: true }).release();
    expect(listing(dir)).toEqual(['manifest.json', 'notes.txt']);
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
    // A folder holding only a stale lock is empty.
    const empty = fresh();
    writeLock(empty, {});
    openRunFolder(empty, { notice: () => {} }).release();
  });

  it('--force does not reach files of others in .incoming (a save clears that folder)', () => {
    const dir = fresh();
    mkdirSync(join(dir, '.incoming'), { recursive: true });
    writeFileSync(join(dir, '.incoming', 'notes.txt'), 'mine');
    expect(() => openRunFolder(dir, { force: true })).toThrow(`--out ${dir}: --force replaces only handgrad's own files, and ` +
      `${join(dir, '.incoming')} holds others (notes.txt); move them away or choose another --out`);
    expect(readFileSync(join(dir, '.incoming', 'notes.txt'), 'utf8')).toBe('mine');
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('refuses what is not a normal folder: a file, a file on the way, a FIFO, a device, /proc, /sys, /dev', () => {
    const file = join(tmp, 'file.txt');
    writeFileSync(file, 'x');
    const link = join(tmp, 'proc-link');
    symlinkSync('/proc', link);
    const cases: [string, RegExp][] = [
      [file, /: is a file, expected a folder for the checkpoint$/],
      [join(file, 'sub', 'run'), /: .*file\.txt is a file, so the folder cannot be created there$/],
      ['', /^--out must name a folder, got an empty string$/],
    ];
    if (process.platform === 'linux') {
      cases.push(['/proc/x', /^--out \/proc\/x: is under \/proc, a system folder, not a place for files; choose a normal folder$/]);
      cases.push(['/sys/kernel/x', /is under \/sys, a system folder/]);
      cases.push(['/dev/x', /is under \/dev, a system folder/]);
      cases.push([join(link, 'self', 'x'), /is under \/proc, a system folder/]);
      cases.push(['/dev/null', /^--out \/dev\/null: is not a folder \(a device, FIFO or socket\), expected a folder/]);
      const fifo = join(tmp, 'fifo');
      if (spawnSync('mkfifo', [fifo]).status === 0) cases.push([join(fifo, 'run'), /fifo is not a folder \(a device, FIFO or socket\), so the folder cannot be created there$/]);
    }
    for (const [dir, message] of cases) expect(() => openRunFolder(dir), dir).toThrow(message);
    expect(readFileSync(file, 'utf8')).toBe('x');
    expect(existsSync('/dev/x')).toBe(false);
  });

  it('a name of our own choosing that is taken meanwhile becomes <name>-2', () => {
    const dir = fresh();
    mkdirSync(dir);
    const f = openRunFolder(dir, { unique: true });
    expect(f.dir).toBe(`${dir}-2`);
    expect(f.created).toBe(true);
    f.release();
  });
});

describe('a failed run', () => {
  it('leaves no folder behind when it saved nothing, and removes only the parents it made', () => {
    const top = fresh();
    const dir = join(top, 'a', 'run');
    const f = openRunFolder(dir);
    const e = new Error('the corpus could not be read');
    expect(f.fail(e)).toBe(e);
    expect(existsSync(top)).toBe(false);
  });

  it('keeps the metrics of a run that diverged, but not its lock', () => {
    const dir = fresh();
    const f = openRunFolder(dir);
    writeFileSync(join(dir, 'metrics.jsonl'), '{"step":1}\n');
    f.fail(new Error('diverged'));
    expect(listing(dir)).toEqual(['metrics.jsonl']);
  });

  it('a refused write removes what the run wrote in a folder it made, and nothing of anyone else', () => {
    const dir = fresh();
    const f = openRunFolder(dir);
    for (const own of ['metrics.jsonl', 'model.safetensors.tmp-12', 'state.json']) writeFileSync(join(dir, own), 'x');
    mkdirSync(join(dir, '.incoming'));
    writeFileSync(join(dir, '.incoming', 'model.safetensors'), 'x');
    writeFileSync(join(dir, 'notes.txt'), 'put there meanwhile');
    f.fail(new CheckpointWriteError('cannot save the checkpoint'));
    expect(listing(dir)).toEqual(['notes.txt']);
    // Without notes.txt the folder goes too.
    const g = openRunFolder(fresh());
    writeFileSync(join(g.dir, 'metrics.jsonl'), 'x');
    g.fail(new CheckpointWriteError('cannot save the checkpoint'));
    expect(existsSync(g.dir)).toBe(false);
  });

  it('never removes files of a folder it did not make, not even its own kinds (a forced run)', () => {
    const dir = fresh();
    mkdirSync(dir);
    writeFileSync(join(dir, 'metrics.jsonl'), 'the other run\n');
    const f = openRunFolder(dir, { force: true });
    f.fail(new CheckpointWriteError('cannot save the checkpoint'));
    expect(listing(dir)).toEqual(['metrics.jsonl']);
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')).toBe('the other run\n');
  });

  it('reports a refused write as one line naming the file; a permission error elsewhere is left as it is', () => {
    const dir = fresh();
    const errno = (code: string, path: string) => Object.assign(new Error(`${code}: raw, write '${path}'`), { code, path });
    const f = openRunFolder(dir);
    const full = f.fail(errno('ENOSPC', join(dir, 'model.safetensors.tmp-9')));
    expect(full).toBeInstanceOf(RunFolderError);
    expect((full as Error).message).toBe(`cannot write ${join(dir, 'model.safetensors.tmp-9')}: no space left on the device (ENOSPC); free some space or choose another --out`);
    const g = openRunFolder(fresh());
    expect((g.fail(errno('EROFS', join(g.dir, 'state.json'))) as Error).message).toMatch(/: the file system is read-only \(EROFS\); choose another --out$/);
    const h = openRunFolder(fresh());
    const elsewhere = errno('EACCES', '/etc/shadow');
    expect(h.fail(elsewhere)).toBe(elsewhere);
  });
});

describe('train() in its run folder', () => {
  const text = 'the quick brown fox jumps over the lazy dog. '.repeat(40);
  const corpus = { name: 'fox', source: 'test:fox', text };
  const base = { model: 'bigram', data: corpus, batch: 2, seq: 8, valEvery: 0, backend: 'reference' as const };
  /** Every file under `dir`, by relative path, with its bytes. */
  const snapshot = (dir: string): Record<string, string> => Object.fromEntries(
    (readdirSync(dir, { recursive: true }) as string[]).sort().map((f) => [f, statSync(join(dir, f)).isDirectory() ? 'dir' : readFileSync(join(dir, f)).toString('base64')]));

  it('a run that fails at step 1 leaves the folder it was forced into as it was (metrics.jsonl included)', async () => {
    class FailsAtOnce extends BigramLM {
      override forwardBackward(): number { return Number.NaN; }
    }
    registerModel({
      name: 'nan-at-1-test', description: 'diverges at once', stateful: false, defaults: {}, options: [],
      create: (ops, c, rng) => new FailsAtOnce(ops, { vocabSize: c.vocabSize as number }, rng),
    });
    const dir = fresh();
    await train({ ...base, steps: 5, out: dir });
    const before = snapshot(dir);
    expect(before['metrics.jsonl']).not.toBe('');
    await expect(train({ ...base, model: 'nan-at-1-test', steps: 5, out: dir })).rejects.toThrow(/is not empty/);
    await expect(train({ ...base, model: 'nan-at-1-test', steps: 5, out: dir, force: true })).rejects.toThrow(TrainingDivergedError);
    expect(snapshot(dir)).toEqual(before);
  });

  it('writes nothing for a mistake found in setup: no folder, no parents', async () => {
    const top = fresh();
    await expect(train({ ...base, data: join(tmp, 'no-such-corpus.txt'), steps: 2, out: join(top, 'run') })).rejects.toThrow(CorpusError);
    expect(existsSync(top)).toBe(false);
  });

  it('checks --d-model against --heads, and --seq against --context, before the data is read', async () => {
    const missing = join(tmp, 'never-read.txt');
    const out = fresh();
    const t = { model: 'transformer', data: missing, steps: 2, out, backend: 'reference' as const };
    await expect(train({ ...t, modelOptions: { dModel: 30, heads: 4 } })).rejects.toThrow(
      new TrainConfigError('--d-model 30 must be a multiple of --heads 4 (each head gets d-model / heads dimensions)'));
    await expect(train({ ...t, seq: 64, modelOptions: { context: 16 } })).rejects.toThrow(/^--seq 64 is longer than the model's --context 16/);
    await expect(train({ ...t, model: 'moe', modelOptions: { context: 32 }, seq: 33 })).rejects.toThrow(/--seq 33 is longer than the model's --context 32/);
    expect(existsSync(out)).toBe(false);
  });
});
