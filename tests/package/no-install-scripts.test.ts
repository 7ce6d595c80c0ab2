// A consumer's `npm install handgrad` runs no install script: neither handgrad itself nor any
// package it pulls in (its dependencies, optional ones included, and theirs, all the way down) may
// have a preinstall/install/postinstall script or a binding.gyp (npm then runs node-gyp). npm
// records exactly that as `hasInstallScript: true` in package-lock.json, so this reads the lock:
// fast, offline, and the same tree `npm ci` installs. (onnx-proto failed it: protobufjs 6's
// postinstall; the ONNX export now uses @bufbuild/protobuf, which has none.)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

interface LockEntry {
  version?: string;
  hasInstallScript?: boolean;
  link?: boolean;
  resolved?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}
type LockPackages = Record<string, LockEntry>;

/**
 * Install scripts known and not yet removed: each must still be there (a test below says so), so an
 * exception goes as soon as its script does. None now: handgrad's own postinstall (which built the
 * WASM kernels) and esbuild's (under tsx) went when the package started shipping compiled
 * JavaScript and prebuilt kernels (tests/package/consumer.test.ts installs the packed tarball).
 */
const PENDING = new Set<string>();
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall'];

/**
 * Where `name`, required by the package at `from` ('' is the root), is installed: the nearest
 * node_modules folder up from `from`, as Node resolves it.
 */
function resolve(packages: LockPackages, from: string, name: string): string | null {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!dir) return null;
    const up = dir.lastIndexOf('/node_modules/');
    dir = up < 0 ? '' : dir.slice(0, up);
  }
}

/** The lock paths of every package a consumer's install brings in, the root's own excluded. */
function productionTree(packages: LockPackages): Set<string> {
  const seen = new Set<string>();
  const visit = (from: string) => {
    const entry = packages[from];
    const deps = { ...entry.dependencies, ...entry.optionalDependencies, ...(from ? entry.peerDependencies : {}) };
    for (const name of Object.keys(deps)) {
      let at = resolve(packages, from, name);
      // An optional dependency for another platform is in the lock; a missing required one is not.
      if (at === null) {
        if (entry.optionalDependencies?.[name] !== undefined || entry.peerDependencies?.[name] !== undefined) continue;
        throw new Error(`package-lock.json: ${from || 'the root'} needs ${name}, which the lock does not have (run npm install)`);
      }
      if (packages[at].link && packages[at].resolved) at = packages[at].resolved!;
      if (seen.has(at)) continue;
      seen.add(at);
      visit(at);
    }
  };
  visit('');
  return seen;
}

const nameOf = (lockPath: string): string => lockPath.slice(lockPath.lastIndexOf('node_modules/') + 'node_modules/'.length);

/** `name@version (lock path)` of every package in the consumer's tree with an install script. */
function withInstallScripts(packages: LockPackages): string[] {
  return [...productionTree(packages)]
    .filter((p) => packages[p].hasInstallScript && !PENDING.has(nameOf(p)))
    .map((p) => `${nameOf(p)}@${packages[p].version} (${p})`)
    .sort();
}

const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { lockfileVersion: number; packages: LockPackages };
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string; scripts?: Record<string, string>; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>;
};
const ownInstallScripts = INSTALL_SCRIPTS.filter((s) => pkg.scripts?.[s] !== undefined);

describe("a consumer's install", () => {
  it('reads a lockfile with the packages map (lockfileVersion 2 or 3) that matches package.json', () => {
    expect(lock.lockfileVersion).toBeGreaterThanOrEqual(2);
    // A stale lock would check a tree that `npm install` no longer makes.
    expect(lock.packages[''].dependencies ?? {}).toEqual(pkg.dependencies ?? {});
    expect(lock.packages[''].optionalDependencies ?? {}).toEqual(pkg.optionalDependencies ?? {});
  });

  it('runs no preinstall, install or postinstall script of handgrad itself', () => {
    if (!PENDING.has(pkg.name)) expect(ownInstallScripts).toEqual([]);
  });

  it('pulls in no package with a preinstall, install or postinstall script', () => {
    expect(withInstallScripts(lock.packages)).toEqual([]);
  });

  it('still has each pending exception (drop it from PENDING once it is gone)', () => {
    const names = new Set([...productionTree(lock.packages)].filter((p) => lock.packages[p].hasInstallScript).map(nameOf));
    if (ownInstallScripts.length > 0) names.add(pkg.name);
    const gone = [...PENDING].filter((name) => !names.has(name));
    expect(gone, 'these no longer run an install script for a consumer: remove them from PENDING').toEqual([]);
  });

  it('finds a script where there is one: a dependency, nested, of a dependency', () => {
    const packages: LockPackages = {
      '': { dependencies: { a: '1' }, optionalDependencies: { 'other-platform': '1' } },
      'node_modules/a': { version: '1.0.0', dependencies: { b: '1', c: '1' } },
      'node_modules/a/node_modules/b': { version: '6.0.0', hasInstallScript: true },
      'node_modules/b': { version: '7.0.0' }, // the root's b would be clean: the nested one is a's
      'node_modules/c': { version: '1.0.0' },
      'node_modules/dev-only': { version: '1.0.0', hasInstallScript: true }, // nobody at run time needs it
    };
    expect(withInstallScripts(packages)).toEqual(['b@6.0.0 (node_modules/a/node_modules/b)']);
  });
});
