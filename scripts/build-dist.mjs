#!/usr/bin/env node
// Compiles the TypeScript in src/ and bench/ to dist/src/ and dist/bench/ (JavaScript and .d.ts,
// tsconfig.build.json) for the npm package, which then runs without a TypeScript loader. Runs on `npm pack`/`npm publish`
// (prepack); the dev checkout runs src/ itself through tsx and needs no dist/.
// tsc emits nothing for the plain JavaScript files in src/ (the WASM worker threads and their
// shared item code, .mjs with a .d.mts beside it), so they are copied as they are.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('handgrad: compiling src/ to dist/ failed');
  process.exit(1);
}

let copied = 0;
function copyPlain(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const from = join(dir, e.name);
    if (e.isDirectory()) copyPlain(from);
    else if (e.name.endsWith('.mjs') || e.name.endsWith('.d.mts')) {
      const to = join(dist, relative(root, from));
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(from, to);
      copied++;
    }
  }
}
copyPlain(join(root, 'src'));
console.log(`handgrad: compiled src/ and bench/ to dist/ (and copied ${copied} plain .mjs/.d.mts files)`);
