// A token file whose disk turns read-only as it is renamed into place: the writer's clean-up of its
// temporary file fails on such a disk too (Node 24's rmSync throws an error with an empty code
// there, nodejs/node#65884, reproduced by the mock below), and must not replace the error that
// stopped the write: the caller reports that one (EROFS), in one line.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { TokenFileWriter, writeTokenFile } from '../../src/data/token-file.js';

const disk = vi.hoisted(() => ({ readOnly: false }));

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const wrapped = {
    ...fs,
    // The rename is the first change the disk refuses, with the kernel's EROFS; from then on it is read-only.
    renameSync: ((from: string, to: string) => {
      if (disk.readOnly) throw Object.assign(new Error(`EROFS: read-only file system, rename '${from}' -> '${to}'`), { code: 'EROFS', syscall: 'rename' });
      return fs.renameSync(from, to);
    }) as typeof fs.renameSync,
    rmSync: ((path: string, options?: import('node:fs').RmOptions) => {
      if (disk.readOnly && fs.existsSync(path)) {
        throw Object.assign(new Error(`, Unknown error: Read-only file system '${path}'`), { code: '', errno: -4094, syscall: 'rm', path });
      }
      return fs.rmSync(path, options);
    }) as typeof fs.rmSync,
  };
  return { ...wrapped, default: wrapped };
});

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-token-readonly-'));
afterAll(() => { disk.readOnly = false; rmSync(tmp, { recursive: true, force: true }); });
const tok = { vocabSize: 5000, hash: 'cd'.repeat(32) };

describe('a token file on a disk that turns read-only', () => {
  it('reports the rename\'s EROFS, not the failed clean-up', () => {
    const path = join(tmp, 'a.tokens');
    const w = new TokenFileWriter(path, tok);
    w.write(Uint16Array.from([1, 2, 3]));
    disk.readOnly = true;
    try {
      expect(() => w.finish()).toThrow(expect.objectContaining({ code: 'EROFS' }));
      expect(existsSync(path)).toBe(false);
    } finally {
      disk.readOnly = false;
    }
  });

  it('abort() never throws, and removes the temporary file where the disk allows', () => {
    const w = new TokenFileWriter(join(tmp, 'b.tokens'), tok);
    disk.readOnly = true;
    expect(() => w.abort()).not.toThrow();
    disk.readOnly = false;
    const left = readdirSync(tmp).filter((f) => f.startsWith('b.tokens.tmp-'));
    expect(left).toHaveLength(1); // kept by the read-only disk: a later run's clean-up takes it
    const w2 = new TokenFileWriter(join(tmp, 'c.tokens'), tok);
    w2.abort();
    expect(readdirSync(tmp).filter((f) => f.startsWith('c.tokens'))).toEqual([]);
    expect(() => writeTokenFile(join(tmp, 'd.tokens'), [0, 1], tok)).not.toThrow();
  });
});
