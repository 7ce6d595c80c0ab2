// A full disk when saving: one line naming the folder and what to do, exit 2, no stack trace, and
// nothing partial left behind. The full disk is real: a 48 KiB tmpfs, which needs root (CI and
// these machines run as root); elsewhere the test skips with a message.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEmbeddedCorpus } from '../../src/data/corpus.js';
import { runHandgrad } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-disk-full-'));
const mnt = join(tmp, 'small');
const data = join(tmp, 'tiny.txt');
writeFileSync(data, loadEmbeddedCorpus().text.slice(0, 6000));

const mounted = (() => {
  if (process.platform !== 'linux') return false;
  const mk = spawnSync('mkdir', ['-p', mnt]);
  if (mk.status !== 0) return false;
  return spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=48k', 'tmpfs', mnt], { encoding: 'utf8' }).status === 0;
})();
afterAll(() => {
  if (mounted) spawnSync('umount', [mnt]);
  rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!mounted)('train on a full disk (48 KiB tmpfs)', () => {
  it('exits 2 with one line, and leaves no partial --out folder', () => {
    const out = join(mnt, 'run');
    const r = runHandgrad(['train', 'lstm', '--data', data, '--hidden', '64', '--steps', '3',
      '--batch', '2', '--seq', '16', '--val-every', '0', '--out', out], 60_000);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('npm warn'));
    expect(lines.at(-1)).toMatch(/^handgrad: train: cannot save the checkpoint in .*run: no space left on the device \(ENOSPC; .*choose another --out$/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(mnt)).toEqual([]);
  });
});

if (!mounted) {
  it.skip('full-disk test skipped: could not mount a tmpfs (needs root on Linux)', () => {});
}
