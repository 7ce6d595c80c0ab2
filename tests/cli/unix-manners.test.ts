// The CLI's manners in a shell: a pipe whose reader leaves early (`| head`) ends the output
// quietly (exit 0) and never costs a training run its checkpoint; shell completion scripts that
// complete from the CLI itself; and one flag name for tied embeddings (the old one still works).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { cli, cliEnv, handgradScript, node, root, runHandgrad } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-unix-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `handgrad …args` with its stdout a pipe whose reader is gone before anything is written. */
function withClosedStdout(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, [handgradScript, ...args], { cwd: root, env: cliEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // closes our end: the child's first write to stdout fails with EPIPE
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

const small = join(tmp, 'small.txt');
const tiny = ['--batch', '2', '--seq', '8', '--backend', 'reference', '--data', small];
const bigramRun = join(tmp, 'bigram');

beforeAll(() => {
  writeFileSync(small, 'It was the best of times, it was the worst of times, it was the age of wisdom.\n'.repeat(40));
  const r = runHandgrad(['train', 'bigram', '--steps', '5', '--out', bigramRun, ...tiny]);
  if (r.code !== 0) throw new Error(`setup: train failed: ${r.stderr}`);
});

describe('a closed stdout (EPIPE)', () => {
  it('sample: exits 0 without a word on stderr', async () => {
    const r = await withClosedStdout(['sample', bigramRun, '--length', '2000']);
    expect(r.stderr).toBe('');
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
  });

  it('sample: stops generating when stdout closes, not after --length tokens', async () => {
    // 10 million tokens would take minutes; with the reader gone it ends after its first write.
    const t0 = performance.now();
    const r = await withClosedStdout(['sample', bigramRun, '--length', '10000000']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(performance.now() - t0).toBeLessThan(30_000);
  }, 120_000);

  it('sample … | head -c 50 in a shell: 50 bytes, exit 0, nothing on stderr', () => {
    const cmd = `"${node}" "${handgradScript}" sample "${bigramRun}" --length 20000 | head -c 50; exit \${PIPESTATUS[0]}`;
    const r = spawnSync('bash', ['-c', cmd], { cwd: root, env: cliEnv, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(Buffer.byteLength(r.stdout)).toBe(50);
    expect(r.status).toBe(0);
  });

  it('train: still trains to the end, writes its checkpoint and exits 0 (also with --json)', async () => {
    for (const extra of [[], ['--json']]) {
      const out = join(tmp, `closed-${extra.length}`);
      const r = await withClosedStdout(['train', 'bigram', '--steps', '20', '--val-every', '5', '--out', out, ...tiny, ...extra]);
      expect(r.stderr).not.toMatch(/EPIPE|Error|at /);
      expect(r.code).toBe(0);
      expect(readCheckpoint(out).state.step).toBe(20);
    }
  });
});

describe('a closed stderr (EPIPE on the progress log)', () => {
  it('train … 2>&1 | head -1 in a shell: trains to the end, writes its checkpoint and exits 0', () => {
    const out = join(tmp, 'closed-stderr');
    const cmd = `"${node}" "${handgradScript}" train bigram --steps 300 --val-every 50 --out "${out}" ${tiny.map((a) => `"${a}"`).join(' ')} 2>&1 | head -1; exit \${PIPESTATUS[0]}`;
    const r = spawnSync('bash', ['-c', cmd], { cwd: root, env: cliEnv, encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.status, r.stderr).toBe(0);
    expect(readCheckpoint(out).state.step).toBe(300);
  });
});

describe('handgrad completion', () => {
  it.each([
    ['bash', 'complete -F __handgrad_complete handgrad'],
    ['zsh', '#compdef handgrad'],
    ['fish', 'handgrad complete --'],
  ])('prints a %s script that asks `handgrad complete`', (shell, marker) => {
    const r = runHandgrad(['completion', shell]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(marker);
  });

  it('refuses a shell it does not know, in one line, exit 2', async () => {
    const r = await cli('completion', 'tcsh');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^handgrad: completion: .*tcsh.*\n$/);
  });

  it('completes commands, options (not the hidden former names) and model names', () => {
    // What the scripts run on each TAB: one candidate per line (name, tab, description).
    const names = (...words: string[]) => runHandgrad(['complete', '--', ...words]).stdout.split('\n').map((l) => l.split('\t')[0]);
    expect(names('tr')).toContain('train');
    const flags = names('train', '--tie');
    expect(flags).toContain('--tied-embeddings');
    expect(flags).not.toContain('--tie');
    expect(names('train', '')).toEqual(expect.arrayContaining(['lstm', 'transformer', 'moe', 'neuron']));
  });

  it('works in bash: TAB after `handgrad tr` offers train', () => {
    const script = runHandgrad(['completion', 'bash']).stdout;
    writeFileSync(join(tmp, 'handgrad.bash'), script);
    // _get_comp_words_by_ref comes from the bash-completion package; a minimal one stands in for it.
    const cmd = [
      '_get_comp_words_by_ref() { cur="${COMP_WORDS[COMP_CWORD]}"; prev="${COMP_WORDS[COMP_CWORD-1]}"; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }',
      `handgrad() { "${node}" "${handgradScript}" "$@"; }`,
      `source "${join(tmp, 'handgrad.bash')}"`,
      'COMP_WORDS=(handgrad tr); COMP_CWORD=1; COMP_LINE="handgrad tr"; COMP_POINT=${#COMP_LINE}',
      '__handgrad_complete 2>/dev/null',
      'printf "%s\\n" "${COMPREPLY[@]}"',
    ].join('\n');
    const r = spawnSync('bash', ['-c', cmd], { cwd: root, env: cliEnv, encoding: 'utf8', timeout: 60_000 });
    expect(r.stdout.split('\n')).toContain('train');
  });
});

describe('tied embeddings: one flag, --tied-embeddings, for every model that has them', () => {
  const transformer = ['train', 'transformer', '--steps', '1', '--layers', '1', '--heads', '1', '--d-model', '8', '--context', '8',
    '--val-fraction', '0', ...tiny];
  const tiedIn = (dir: string) => readCheckpoint(dir).state.config;

  it('transformer takes --tied-embeddings, and its former --tie (hidden from the help) as the same option', async () => {
    for (const [flag, dir] of [['--tied-embeddings', 'new'], ['--tie', 'old'], [null, 'none']] as const) {
      const out = join(tmp, `tied-${dir}`);
      const r = await cli(...transformer, '--out', out, ...(flag ? [flag] : []));
      expect(r.code, r.stderr).toBe(0);
      const config = tiedIn(out);
      expect(config.tiedEmbeddings).toBe(flag !== null);
      expect('tie' in config).toBe(false);
    }
    const help = await cli('train', '--help');
    expect(help.stdout).toContain('--tied-embeddings');
    expect(help.stdout).not.toMatch(/--tie\b(?!d)/);
  });
});
