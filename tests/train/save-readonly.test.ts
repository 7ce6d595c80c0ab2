// A disk that turns read-only at any point of a save: after the k-th change a save makes to the
// disk, every further change is refused with EROFS, as the kernel does once a file system is
// remounted read-only; for k = 0, 1, 2, … until a save gets through. Each time the save must fail
// with the one-line CheckpointWriteError (the CLI: exit 2) or succeed, and the folder must still
// hold a complete checkpoint. The clean-up of a failed save fails on such a disk too, and must not
// replace the error to report: Node 24's rmSync throws an error with an empty code there (", Unknown
// error: Read-only file system '…'", nodejs/node#65884), which the mock below reproduces — it once
// surfaced from `handgrad train` as exit 1 (tests/cli/run-safety.test.ts does it with real remounts).
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { createModel } from '../../src/models/registry.js';
import { buildTokenizer } from '../../src/data/tokenizer.js';
import { Rng } from '../../src/util/rng.js';
import { CheckpointWriteError, readCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';

const disk = vi.hoisted(() => ({ budget: Infinity, readOnly: false }));

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  /** Whether this change is refused: the disk is (or has just turned) read-only. */
  const refused = () => disk.readOnly || (disk.readOnly = disk.budget-- <= 0);
  const erofs = (syscall: string, path: unknown) =>
    Object.assign(new Error(`EROFS: read-only file system, ${syscall} '${String(path)}'`), { code: 'EROFS', errno: -30, syscall, path: String(path) });
  const change = <F extends (...a: never[]) => unknown>(f: F, syscall: string, counts: (...a: Parameters<F>) => boolean = () => true) =>
    ((...args: Parameters<F>) => {
      if (counts(...args) && refused()) throw erofs(syscall, args[0]);
      return f(...args);
    }) as unknown as F;
  const wrapped = {
    ...fs,
    openSync: change(fs.openSync, 'open', (_p, flags) => typeof flags === 'string' && /[wa+]/.test(flags)),
    writeFileSync: change(fs.writeFileSync, 'open'),
    renameSync: change(fs.renameSync, 'rename'),
    unlinkSync: change(fs.unlinkSync, 'unlink'),
    rmdirSync: change(fs.rmdirSync, 'rmdir'),
    mkdirSync: change(fs.mkdirSync, 'mkdir'),
    // What Node 24's rmSync really throws on a read-only disk (for a path that exists).
    rmSync: ((path: string, options?: import('node:fs').RmOptions) => {
      if (fs.existsSync(path) && refused()) {
        throw Object.assign(new Error(`, Unknown error: Read-only file system '${path}'`), { code: '', errno: -4094, syscall: 'rm', path });
      }
      return fs.rmSync(path, options);
    }) as typeof fs.rmSync,
  };
  return { ...wrapped, default: wrapped };
});

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-save-readonly-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ops = new ReferenceOps('f64');
const tokenizer = buildTokenizer('hello world, hello whale', { kind: 'char' });
const model = createModel(ops, 'lstm', { vocabSize: tokenizer.vocabSize, hidden: 4, layers: 1, embed: 3 }, new Rng(3));
const save = (dir: string, step: number) => saveCheckpoint(dir, { model, tokenizer, step, seed: 3, training: {} }, { keep: 2 });

describe('a disk that turns read-only in the middle of a save', () => {
  it('at every point: one EROFS line or success, the newest complete checkpoint kept, the leftovers taken by the next save', () => {
    let through = false;
    for (let k = 0; !through && k < 200; k++) {
      const dir = join(tmp, `k${k}`);
      save(dir, 5);
      save(dir, 10);
      disk.budget = k;
      disk.readOnly = false;
      let error: unknown = null;
      try {
        save(dir, 15);
      } catch (e) {
        error = e;
      } finally {
        through = !disk.readOnly;
        disk.budget = Infinity;
        disk.readOnly = false;
      }
      if (error !== null) {
        expect(error, `k=${k}: ${(error as Error).message}`).toBeInstanceOf(CheckpointWriteError);
        expect((error as Error).message).toBe(`cannot save the checkpoint in ${dir}: the file system is read-only (EROFS); choose another --out`);
      }
      expect([10, 15], `k=${k}`).toContain(readCheckpoint(dir).state.step);
      // Writable again: the next save removes what the refused one could not.
      save(dir, 20);
      expect(readCheckpoint(dir).state.step).toBe(20);
      expect(readdirSync(dir).filter((f) => /\.tmp-\d+$/.test(f)), `k=${k}`).toEqual([]);
    }
    expect(through, 'no save got through: the loop bound is too small').toBe(true);
  });
});
