// The prebuilt WASM kernels that the npm package ships are checked at pack time (prepack runs
// `scripts/build-wasm.mjs --check`) against build/wasm/manifest.json: the SHA-256 of the
// assembly/ sources (with the compiler version and build options) they were built from, and of
// each .wasm file. Here on a copy of the checkout's layout: the check passes as built, and fails,
// in one line, when a source changed since the build or a .wasm file is not the one built.
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'handgrad-wasm-manifest-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const built = existsSync(join(root, 'build', 'wasm', 'manifest.json'));

function check(): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [join(tmp, 'scripts', 'build-wasm.mjs'), '--check'], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe.skipIf(!built)('build/wasm/manifest.json (skipped: the WASM is not built here)', () => {
  beforeEach(() => {
    rmSync(tmp, { recursive: true, force: true });
    for (const dir of ['scripts', 'assembly', 'build/wasm']) cpSync(join(root, dir), join(tmp, dir), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(tmp, 'node_modules'), 'dir'); // the same assemblyscript
  });

  it('passes for the kernels as built', () => {
    const r = check();
    expect(r.out).toMatch(/build\/wasm matches assembly\//);
    expect(r.code).toBe(0);
  });

  it('fails when a source changed since the build', () => {
    appendFileSync(join(tmp, 'assembly', 'math.ts'), '\n// changed\n');
    const r = check();
    expect(r.out).toMatch(/^handgrad: the prebuilt WASM kernels do not match assembly\/ \(the kernel sources changed since the last build\); run `npm run build`\n$/);
    expect(r.code).toBe(1);
  });

  it('fails when a .wasm file is not the one the build wrote', () => {
    writeFileSync(join(tmp, 'build', 'wasm', 'handgrad.simd.wasm'), new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    const r = check();
    expect(r.out).toMatch(/handgrad\.simd\.wasm is not the file that build wrote/);
    expect(r.code).toBe(1);
  });
});
