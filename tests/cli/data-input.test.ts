// `--data` as a user types it: repeated for several files, `-` for standard input (and what a
// resume of such a run says), and the values that used to hang or silently train on something
// else: a FIFO (blocked forever) and '' (trained on the embedded Moby Dick). Separate processes.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { loadEmbeddedCorpus } from '../../src/data/corpus.js';
import { cliEnv, handgradScript, node, root } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-cli-data-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const text = loadEmbeddedCorpus().text.slice(0, 8000);
const a = join(tmp, 'a.txt'), b = join(tmp, 'b.txt');
writeFileSync(a, text.slice(0, 4000));
writeFileSync(b, text.slice(4000));

function handgrad(args: string[], input?: string) {
  const r = spawnSync(node, [handgradScript, ...args], { cwd: root, env: cliEnv, encoding: 'utf8', timeout: 60_000, input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const small = ['--steps', '3', '--batch', '2', '--seq', '8', '--val-every', '0', '--json'];
const oneLine = (r: { code: number | null; stderr: string }, re: RegExp) => {
  expect(r.code).toBe(2);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(re);
};

describe('handgrad train --data', () => {
  it('repeated: trains on the files in order, and state.json keeps every value', () => {
    const out = join(tmp, 'two');
    const r = handgrad(['train', 'bigram', '--data', a, '--data', b, ...small, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const data = (readCheckpoint(out).state.training as { data: unknown }).data;
    expect(data).toMatchObject({ arg: [a, b], name: 'a+b', sources: [a, b], tokens: text.length });
  });

  it('- reads standard input; a resume without it is refused with one line, with it continues', () => {
    const out = join(tmp, 'stdin');
    const r = handgrad(['train', 'bigram', '--data', '-', ...small, '--out', out], text);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(`read ${(Buffer.byteLength(text) / 1000).toFixed(2)} kB from standard input (a resumed run needs the same text piped in again)\n`);
    oneLine(handgrad(['train', '--resume', out, '--steps', '5']), /the checkpoint was trained on standard input \(--data -\); pipe the same text in again/);
    oneLine(handgrad(['train', '--resume', out, '--steps', '5', '--data', '-'], 'other text entirely, not the same'), /is not the text the checkpoint was trained on/);
    const again = handgrad(['train', '--resume', out, '--steps', '5', '--data', '-', '--json'], text);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout.trim().split('\n').pop()!).steps).toBe(5);
  });

  it("'' is refused, not taken for the embedded default", () => {
    oneLine(handgrad(['train', 'bigram', '--data', '', ...small, '--out', join(tmp, 'empty')]), /^handgrad: train: --data '': empty, expected a file/);
    expect(existsSync(join(tmp, 'empty'))).toBe(false);
  });

  it.skipIf(process.platform === 'win32')('a FIFO is refused at once instead of blocking forever', () => {
    const fifo = join(tmp, 'fifo');
    spawnSync('mkfifo', [fifo]);
    const r = handgrad(['train', 'bigram', '--data', fifo, ...small, '--out', join(tmp, 'fifo-run')]);
    oneLine(r, /is a FIFO \(named pipe\), expected a regular file \(to read a pipe or a device, send it to standard input and give --data -\)/);
  });
});
