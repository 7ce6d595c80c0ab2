// The CLI as a user runs it: a separate process, `node bin/handgrad.mjs …`, judged by its exit
// code, its stdout (JSON is the last line) and its stderr (one line for a usage error, no stack).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lastJson, root, runHandgrad } from './helpers.js';

const handgrad = (...args: string[]) => runHandgrad(args);

function expectUsageError(r: ReturnType<typeof handgrad>, mentions: string): void {
  expect(r.code).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^handgrad: /);
  expect(lines[0]).toContain(mentions);
  expect(r.stderr).not.toContain('    at ');
  expect(r.stdout).toBe('');
}

describe('handgrad CLI', () => {
  it('--help exits 0 and lists the commands', () => {
    const r = handgrad('--help');
    expect(r.code).toBe(0);
    for (const c of ['info', 'gradcheck', 'bench']) expect(r.stdout).toContain(c);
  });

  it('every command has --help', () => {
    for (const args of [['info'], ['gradcheck'], ['bench'], ['bench', 'kernels']]) {
      const r = handgrad(...args, '--help');
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: handgrad /);
    }
    expect(handgrad('bench', 'kernels', '--help').stdout).toContain('--threads');
  });

  it('no option states its default twice (our "(default 5m)" text and commander\'s "(default: 300000)")', () => {
    for (const args of [['train'], ['sample'], ['eval'], ['bench', 'kernels'], ['bench', 'train'], ['bench', 'quality'], ['export']]) {
      const help = handgrad(...args, '--help').stdout;
      // One option's text runs from its "  -" line to the next; joined, so a wrapped default counts.
      const options = help.split(/\n(?= {2}-)/).map((o) => o.replace(/\s+/g, ' '));
      for (const o of options) expect(o, args.join(' ')).not.toMatch(/\(default [^)]*\).*\(default: /);
    }
  });

  it('info --json prints one JSON object with the machine and kernel path as the last line', () => {
    const r = handgrad('info', '--json');
    expect(r.code).toBe(0);
    const info = lastJson(r.stdout);
    for (const key of ['node', 'v8', 'kernelPath', 'threads', 'cpu', 'revectorize', 'availablePaths', 'platform', 'arch']) {
      expect(info, key).toHaveProperty(key);
    }
    expect(info.availablePaths).toContain(info.kernelPath);
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(info.node).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('an unknown command is a one-line usage error, exit 2', () => {
    expectUsageError(handgrad('frobnicate'), "unknown command 'frobnicate'");
  });

  it('an unknown option is a one-line usage error, exit 2', () => {
    expectUsageError(handgrad('info', '--frobnicate'), "unknown option '--frobnicate'");
  });

  it('a value that is not a number, or out of range, is a one-line usage error, exit 2', () => {
    expectUsageError(handgrad('bench', 'kernels', '--threads', 'zero'), '--threads');
    expectUsageError(handgrad('bench', 'kernels', '--threads', '0'), '--threads');
    expectUsageError(handgrad('bench', 'kernels', '--reps', '2.5'), '--reps');
    expectUsageError(handgrad('info', '--threads', '-1'), '--threads');
  });

  it('a missing subcommand is a one-line usage error, exit 2', () => {
    expectUsageError(handgrad('bench'), 'kernels');
  });

  it('gradcheck --json: every registered check passes', () => {
    const r = handgrad('gradcheck', '--json');
    expect(r.code).toBe(0);
    const out = lastJson(r.stdout) as { passed: boolean; count: number; checks: { name: string; passed: boolean }[] };
    expect(out.count).toBeGreaterThan(0);
    expect(out.checks.filter((c) => !c.passed).map((c) => c.name)).toEqual([]);
    expect(out.passed).toBe(true);
  });

  it('gradcheck --list names the checks; an unknown name exits 2', () => {
    const r = handgrad('gradcheck', '--list');
    expect(r.code).toBe(0);
    const names = r.stdout.trim().split('\n');
    expect(names.length).toBeGreaterThan(0);
    const one = handgrad('gradcheck', names[0]);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain('PASS');
    expectUsageError(handgrad('gradcheck', 'no-such-check'), 'no-such-check');
  });

  it('bench kernels --quick --json measures every kernel path (the non-revectorized ones in a child process)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'handgrad-cli-'));
    try {
      const file = join(dir, 'out', 'kernels.json');
      const r = handgrad('bench', 'kernels', '--quick', '--sizes', '16,32', '--variants', 'nn,nt', '--json', '--out', file);
      expect(r.code, r.stderr).toBe(0);
      const rep = lastJson(r.stdout) as {
        op: string; machine: { cpu: string }; rows: Record<string, unknown>[]; ratios: Record<string, { value: number | null }>;
        gflops: number | null;
      };
      expect(rep.op).toBe('gemm');
      expect(rep.machine.cpu).toBeTruthy();
      const info = lastJson(handgrad('info', '--json').stdout) as { availablePaths: string[]; revectorize: { on: boolean } };
      // Every path this machine supports (revec4x16 here, the others from the child process).
      const paths = new Set(rep.rows.filter((x) => x.path).map((x) => x.path));
      for (const p of info.availablePaths) expect(paths, String(p)).toContain(p);
      for (const row of rep.rows) {
        expect(Object.keys(row).sort()).toEqual(
          row.path ? ['gflops', 'k', 'm', 'n', 'op', 'path', 'threads', 'variant'] : ['gflops', 'k', 'm', 'n', 'op', 'peer', 'threads', 'variant']);
        expect(row.gflops as number).toBeGreaterThan(0);
      }
      expect(rep.rows.some((x) => x.peer === 'reference')).toBe(true);
      // no 512³ figure in quick mode, so the ratios say "not measured" instead of inventing one
      expect(rep.gflops).toBeNull();
      expect(rep.ratios.wasmVsOpenblas.value).toBeNull();
      // quick leaves out the paired, interleaved phase: the ratios come from the table
      expect((rep as unknown as { paired: unknown }).paired).toBeNull();
      expect(rep.ratios.wasmVsOpenblas).toHaveProperty('method', 'table');
      expect(r.stdout.trim().split('\n')).toHaveLength(1); // --json: the table goes to stderr
      expect(r.stderr).toContain('GFLOP/s');
      expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(rep);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The OpenBLAS peer's server mode (the paired phase of `bench kernels` talks to two of these).
const python = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
const numpyMissing = python.error ? 'python3 not found' : python.status !== 0 ? 'python3 has no numpy' : null;
if (numpyMissing) console.warn(`skipping the numpy_gemm.py --serve test: ${numpyMissing}`);

describe('bench/peers/numpy_gemm.py --serve', () => {
  it.skipIf(numpyMissing !== null)(`answers one JSON line per request line${numpyMissing ? ` (skipped: ${numpyMissing})` : ''}`, () => {
    const requests = [
      { id: 1, m: 16, k: 32, n: 24, variant: 'nn', seconds: 0.02, minRepSeconds: 0.002 },
      { id: 2, m: 16, k: 32, n: 24, variant: 'nt', seconds: 0.02, minRepSeconds: 0.002 },
      'not json',
      { id: 4, m: 8, k: 8, n: 8, variant: 'xx', seconds: 0.02 },
      { id: 5, m: 16, k: 32, n: 24, variant: 'tn', seconds: 0.02, minRepSeconds: 0.002 },
      { quit: true },
      { id: 7, m: 8, k: 8, n: 8, variant: 'nn', seconds: 0.02 }, // after quit: never answered
    ];
    const r = spawnSync('python3', [join(root, 'bench', 'peers', 'numpy_gemm.py'), '--serve'], {
      input: requests.map((q) => (typeof q === 'string' ? q : JSON.stringify(q))).join('\n') + '\n',
      encoding: 'utf8', timeout: 60_000, env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
    });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1 + 5); // the ready line, then one answer per request before quit
    expect(lines[0]).toMatchObject({ ready: true, threads: 1 });
    expect(typeof lines[0].blas).toBe('string');
    for (const [i, variant] of [[1, 'nn'], [2, 'nt'], [5, 'tn']] as const) {
      const a = lines[i]; // line 0 is the ready line, so answer i is line i
      expect(a).toMatchObject({ id: i, m: 16, k: 32, n: 24, variant });
      expect(a.gflops as number).toBeGreaterThan(0);
      expect(a.reps as number).toBeGreaterThanOrEqual(3);
      expect(a.iters as number).toBeGreaterThanOrEqual(1);
    }
    expect(lines[3]).toHaveProperty('error');
    expect(lines[4]).toMatchObject({ id: 4 });
    expect(lines[4]).toHaveProperty('error');
  });
});
