// The train and sample commands end to end, as a user runs them: a child process on the Node
// in node_modules/.bin, stdout not a terminal (so no progress bar), the embedded default corpus.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHandgrad } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-cli-train-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const handgrad = (...args: string[]) => runHandgrad(args, 60_000);

const lastLine = (s: string) => s.trimEnd().split('\n').pop()!;

describe('handgrad train / sample', () => {
  const out = join(tmp, 'bigram-run');
  let train: ReturnType<typeof handgrad>;
  beforeAll(() => {
    train = handgrad('train', 'bigram', '--steps', '20', '--json', '--out', out, '--batch', '8', '--seq', '32', '--val-every', '10');
  });

  it('trains the bigram on the embedded corpus and prints only the JSON summary', () => {
    expect(train.stderr).toBe('');
    expect(train.code).toBe(0);
    expect(train.stdout.trimEnd().split('\n')).toHaveLength(1); // --json to a pipe: nothing else
    const s = JSON.parse(lastLine(train.stdout));
    expect(s).toMatchObject({ model: 'bigram', steps: 20, out, params: expect.any(Number) });
    for (const k of ['trainLoss', 'valLoss', 'tokensPerSec', 'seconds']) expect(Number.isFinite(s[k]), k).toBe(true);
    expect(s.trainLoss).toBeLessThan(Math.log(100)); // below uniform over any plausible vocabulary
    expect(existsSync(join(out, 'latest.json'))).toBe(true);
    expect(existsSync(join(out, 'ckpt-000000020', 'model.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'ckpt-000000020', 'manifest.json'))).toBe(true);
  });

  it('samples from the checkpoint, reproducibly for a seed', () => {
    const a = handgrad('sample', out, '--prime', 'The whale', '--length', '40', '--seed', '3', '--json');
    expect(a.code).toBe(0);
    const j = JSON.parse(lastLine(a.stdout));
    expect(a.stderr).toBe(j.text + '\n'); // with --json, the readable text goes to stderr
    expect(j).toMatchObject({ model: 'bigram', prime: 'The whale', tokens: 40, seed: 3 });
    expect([...j.text].length).toBe('The whale'.length + 40);
    expect(j.text.startsWith('The whale')).toBe(true);
    const b = handgrad('sample', out, '--prime', 'The whale', '--length', '40', '--seed', '3', '--json');
    expect(JSON.parse(lastLine(b.stdout)).text).toBe(j.text);
    const greedy = handgrad('sample', out, '--length', '10', '--temperature', '0', '--top-k', '5');
    expect(greedy.code).toBe(0);
  });

  it('prints plain progress lines on stderr when not a terminal, and the result line on stdout', () => {
    const r = handgrad('train', 'neuron', '--steps', '20', '--out', join(tmp, 'plain'), '--batch', '4', '--seq', '16', '--backend', 'reference');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^training bigram \(/);
    expect(r.stderr).toMatch(/step 20\/20 {2}loss \d/);
    expect(r.stderr).toMatch(/final validation loss \d+\.\d+ nats\/char \(\d+\.\d+ bits\/char\)/);
    expect(r.stdout).toMatch(/^done: 20 steps in .*; checkpoint .*plain\n$/);
    expect(r.stdout.split('\n').length).toBe(2); // one line: the progress is a log, not the result
  });

  it.each([
    [['train', 'nosuchmodel'], /^handgrad: train: unknown model 'nosuchmodel' \(known models: bigram \(neuron\)/],
    [['train', 'bigram', '--steps', '0'], /^handgrad: --steps expects an integer ≥ 1; 0 is out of range/],
    [['train', 'bigram', '--lr', 'fast'], /^handgrad: --lr expects a number > 0, got 'fast'/],
    [['train', 'bigram', '--time', '5 minutes'], /^handgrad: --time expects a duration like 30s, 5m, 1h or 1h30m/],
    [['train', 'bigram', '--optimizer', 'lion'], /^handgrad: --optimizer expects one of sgd, momentum, nesterov, adam, adamw, got 'lion'/],
    [['train', 'bigram', '--data', join(tmp, 'missing.txt')], /^handgrad: train: --data '.*missing\.txt': no such file/],
    [['train', 'bigram', '--schedule', 'cosine', '--time', '1m'], /^handgrad: train: the cosine schedule needs --steps/],
    [['sample', join(tmp, 'nothing-here')], /^handgrad: sample: .*nothing-here: not a checkpoint folder \(no latest\.json and no ckpt-\* generation/],
    [['sample', join(tmp, 'bigram-run'), '--temperature', '-1'], /^handgrad: --temperature expects a number ≥ 0, got '-1'/],
  ])('exits 2 with one line for %j', (args, message) => {
    const r = handgrad(...(args as string[]));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message as RegExp);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});
