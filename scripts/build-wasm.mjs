#!/usr/bin/env node
// Builds the AssemblyScript kernels into WebAssembly. Runs on `npm install` (postinstall) and
// `npm run build`. Two builds of the same kernels:
//   build/wasm/handgrad.simd.wasm     128-bit SIMD only (every Node >= 20 runs it)
//   build/wasm/handgrad.relaxed.wasm  adds relaxed-SIMD fused multiply-add kernels
// Both import one shared memory (env.memory) so that worker threads can run the same kernels
// on the same buffers. Skips work when the outputs are newer than every source (use --force).
import { readdirSync, statSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'assembly');
const outDir = join(root, 'build', 'wasm');
const force = process.argv.includes('--force');

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

function newestSource() {
  let t = statSync(fileURLToPath(import.meta.url)).mtimeMs;
  for (const f of readdirSync(srcDir)) if (f.endsWith('.ts')) t = Math.max(t, statSync(join(srcDir, f)).mtimeMs);
  return t;
}

async function main() {
  mkdirSync(outDir, { recursive: true });
  const srcTime = newestSource();
  const todo = builds.filter((b) => {
    const out = join(outDir, b.out);
    return force || !existsSync(out) || statSync(out).mtimeMs < srcTime;
  });
  if (todo.length === 0) { console.log('handgrad: WASM kernels up to date (build/wasm)'); return; }
  const asc = (await import('assemblyscript/asc')).default;
  for (const b of todo) {
    const t0 = Date.now();
    const args = [join(srcDir, b.entry), '-o', join(outDir, b.out), ...common, ...b.extra];
    const { error, stderr } = await asc.main(args, {});
    if (error) {
      console.error(stderr.toString());
      console.error(`handgrad: building ${b.out} failed: ${error.message}`);
      process.exit(1);
    }
    console.log(`handgrad: built build/wasm/${b.out} in ${Date.now() - t0} ms`);
  }
}
main();
