// The CUDA kernel files' logic, checked on the CPU: native/tests/host-emu/run.sh compiles each GPU
// check program (native/tests/<target>_check.cu) with its kernel file against a host emulation of
// CUDA (one fiber per CUDA thread, ldmatrix/mma emulated in native/mma.h) and runs it. Slow-ish
// (5–20 s of CPU per target, plus compiling), so one test per target with a generous timeout.
// Needs g++ (C++20) and python3; skipped with the reason where either is missing, or when
// HANDGRAD_SKIP_HOST_EMU=1 (a quick local run).
import { describe, expect, it } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('../..', import.meta.url));
const script = join(root, 'native/tests/host-emu/run.sh');

function missingTool(): string | null {
  for (const tool of ['g++', 'python3', 'bash']) {
    const r = spawnSync(tool, ['--version'], { stdio: 'ignore' });
    if (r.error || r.status !== 0) return tool;
  }
  return null;
}
// HANDGRAD_SKIP_HOST_EMU=1 leaves them out of a local run (~100 s of CPU); CI runs them.
const skipAsked = process.env.HANDGRAD_SKIP_HOST_EMU === '1';
const missing = skipAsked ? 'HANDGRAD_SKIP_HOST_EMU=1' : missingTool();
const why = missing ? ` (skipped: ${skipAsked ? missing : `${missing} not found`})` : '';

interface Run {
  code: number;
  out: string;
}
function runTarget(...targets: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile('bash', [script, ...targets], { cwd: root, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: stdout + stderr });
    });
  });
}

// What to show when a target fails: its FAIL lines and the end of its output.
function failureSummary(out: string): string {
  const lines = out.split('\n');
  const fails = lines.filter((l) => /FAIL|error|emu:/.test(l)).slice(0, 40);
  return [...fails, '--- last lines ---', ...lines.slice(-15)].join('\n');
}

// Each check program's own last line on success.
const targets: [string, RegExp][] = [
  ['gemm', /^ALL PASS$/m],
  ['attention', /^all attention checks passed$/m],
  ['moe', /^all moe checks passed$/m],
  ['elementwise', /^elementwise_check: (\d+)\/\1 passed$/m],
];

describe.skipIf(missing !== null)(`CUDA kernels under host emulation${why}`, () => {
  for (const [target, success] of targets) {
    it(`${target}_check.cu passes against ${target}.cu`, async () => {
      const r = await runTarget(target);
      if (r.code !== 0 || !success.test(r.out)) expect.fail(`run.sh ${target} exited ${r.code}\n${failureSummary(r.out)}`);
    }, 900_000);
  }

  it('run.sh refuses an unknown target', async () => {
    const r = await runTarget('nosuchkernel');
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/unknown target 'nosuchkernel'/);
  });
});
