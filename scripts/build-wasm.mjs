#!/usr/bin/env node
// Builds the AssemblyScript kernels into WebAssembly. Two builds of the same kernels:
//   build/wasm/handgrad.simd.wasm     128-bit SIMD only (every Node >= 20 runs it)
//   build/wasm/handgrad.relaxed.wasm  adds relaxed-SIMD fused multiply-add kernels
// Both import one shared memory (env.memory) so that worker threads can run the same kernels
// on the same buffers.
//
// build/wasm/manifest.json records the SHA-256 of what the builds are made from (every
// assembly/*.ts, the compiler version and the options below) and of each .wasm file. A build is
// skipped when that hash is unchanged and the files are the ones recorded (use --force to rebuild).
//
// When it runs: `npm ci`/`npm install` in a checkout (the postinstall of the dev-only package
// scripts/dev-setup) and `npm run build`.
// The npm package ships the built files, so installing handgrad runs no script and needs no
// compiler; `npm pack` (prepack) runs `--check`, which fails unless the shipped .wasm files are
// exactly the ones built from the sources being packed.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'assembly');
const outDir = join(root, 'build', 'wasm');
const manifestPath = join(outDir, 'manifest.json');
const force = process.argv.includes('--force');
const checkOnly = process.argv.includes('--check');

// Memory is sized by the JS loader; these are the limits the module declares.
// 65536 pages = 4 GiB, the most a wasm32 memory can address.
const common = [
  '-O3', '--runtime', 'stub', '--noAssert',
  '--enable', 'simd', '--enable', 'threads',
  '--importMemory', '--sharedMemory', '--initialMemory', '64', '--maximumMemory', '65536',
];
const builds = [
  { entry: 'index.ts', out: 'handgrad.simd.wasm', extra: [] },
  { entry: 'index.relaxed.ts', out: 'handgrad.relaxed.wasm', extra: ['--enable', 'relaxed-simd'] },
];

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

/** The hash of everything a build depends on: sources (by name and content), compiler version, options. */
function sourcesHash() {
  const h = createHash('sha256');
  const ascVersion = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('assemblyscript/package.json'), 'utf8')).version;
  h.update(`assemblyscript ${ascVersion}\n${JSON.stringify({ common, builds })}\n`);
  for (const f of readdirSync(srcDir).filter((f) => f.endsWith('.ts')).sort()) {
    h.update(`${f}\n`).update(readFileSync(join(srcDir, f))).update('\n');
  }
  return h.digest('hex');
}

function readManifest() {
  try { return JSON.parse(readFileSync(manifestPath, 'utf8')); } catch { return null; }
}

/** Why the built files do not match `hash` (null when they do). */
function mismatch(manifest, hash) {
  if (!manifest) return `${manifestPath} is missing`;
  if (manifest.sourcesSha256 !== hash) return 'the kernel sources changed since the last build';
  for (const b of builds) {
    const file = join(outDir, b.out);
    if (!existsSync(file)) return `${file} is missing`;
    if (sha256(readFileSync(file)) !== manifest.files?.[b.out]) return `${file} is not the file that build wrote`;
  }
  return null;
}

async function main() {
  const hash = sourcesHash();
  const manifest = readManifest();
  if (checkOnly) {
    const why = mismatch(manifest, hash);
    if (why) {
      console.error(`handgrad: the prebuilt WASM kernels do not match assembly/ (${why}); run \`npm run build\``);
      process.exit(1);
    }
    console.log(`handgrad: build/wasm matches assembly/ (sources sha256 ${hash.slice(0, 12)}…)`);
    return;
  }
  if (!force && !mismatch(manifest, hash)) { console.log('handgrad: WASM kernels up to date (build/wasm)'); return; }
  mkdirSync(outDir, { recursive: true });
  const asc = (await import('assemblyscript/asc')).default;
  const files = {};
  for (const b of builds) {
    const t0 = Date.now();
    const args = [join(srcDir, b.entry), '-o', join(outDir, b.out), ...common, ...b.extra];
    const { error, stderr } = await asc.main(args, {});
    if (error) {
      console.error(stderr.toString());
      console.error(`handgrad: building ${b.out} failed: ${error.message}`);
      process.exit(1);
    }
    files[b.out] = sha256(readFileSync(join(outDir, b.out)));
    console.log(`handgrad: built build/wasm/${b.out} in ${Date.now() - t0} ms`);
  }
  writeFileSync(manifestPath, JSON.stringify({ sourcesSha256: hash, files }, null, 2) + '\n');
}
main();
