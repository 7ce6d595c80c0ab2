#!/usr/bin/env node
// What installing handgrad costs a user: packs this checkout (`npm pack`, which compiles dist/),
// installs the tarball into an empty project with the machine's npm, and prints the download (the
// compressed size of every package installed, read from npm's cache, where npm keeps each tarball
// it fetched), the size on disk of the project's node_modules, and the packages that weigh most.
// The figures in README.md and docs/install-size.md come from it:
//   node scripts/install-size.mjs [path/to/handgrad-x.y.z.tgz]   (default: pack this checkout)
// Packages are taken from npm's cache when they are there (--prefer-offline).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(join(tmpdir(), 'handgrad-install-size-'));
const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

try {
  let tarball = process.argv[2] ? resolve(process.argv[2]) : null;
  if (!tarball) {
    npm(['pack', '--pack-destination', tmp], root);
    tarball = join(tmp, readdirSync(tmp).find((f) => f.endsWith('.tgz')));
  }
  const project = join(tmp, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  npm(['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], project);

  // npm's cache is content-addressed by integrity: cacache (npm's own copy) says each tarball's size.
  const npmRoot = npm(['root', '-g']).trim();
  const cacache = createRequire(join(npmRoot, 'npm', 'package.json'))('cacache');
  const cache = join(npm(['config', 'get', 'cache']).trim(), '_cacache');
  const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8'));
  const packages = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path || entry.link || !existsSync(join(project, path))) continue;
    const info = entry.integrity ? await cacache.get.hasContent(cache, entry.integrity) : null;
    packages.push({ name: path.replace(/^.*node_modules\//, ''), version: entry.version, bytes: info ? info.size : null, scripts: !!entry.hasInstallScript });
  }
  const du = (dir) => readdirSync(dir, { withFileTypes: true }).reduce((n, e) => {
    const p = join(dir, e.name);
    return n + (e.isDirectory() ? du(p) : e.isFile() ? statSync(p).size : 0);
  }, 0);
  const download = packages.reduce((n, p) => n + (p.bytes ?? 0), 0);
  const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
  console.log(`tarball      ${mb(statSync(tarball).size)}  (${tarball.split('/').pop()})`);
  console.log(`packages     ${packages.length}${packages.some((p) => p.bytes === null) ? ' (some not in the cache: download incomplete)' : ''}`);
  console.log(`download     ${mb(download)}`);
  console.log(`on disk      ${mb(du(join(project, 'node_modules')))}  (node_modules, files only)`);
  console.log(`.bin         ${readdirSync(join(project, 'node_modules', '.bin')).join(' ')}`);
  console.log(`scripts      ${packages.filter((p) => p.scripts).map((p) => p.name).join(' ') || 'none'}`);
  console.log('largest      ' + packages.sort((a, b) => (b.bytes ?? 0) - (a.bytes ?? 0)).slice(0, 6)
    .map((p) => `${p.name}@${p.version} ${mb(p.bytes ?? 0)}`).join(', '));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
