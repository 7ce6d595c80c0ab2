#!/usr/bin/env node
// The `handgrad` command. Any Node >= 20 runs it; on an older Node than 24 it first starts itself
// again on Node 24 where it can find one (./node24.mjs says where it looks), for the faster kernel
// path. Then it hands the arguments to the CLI: the compiled dist/ in the npm package, or the
// TypeScript sources through tsx in a checkout (where src/ is, and tsx is a dev dependency).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { relaunchOnNode24 } from './node24.mjs';

const args = process.argv.slice(2);
await relaunchOnNode24(fileURLToPath(import.meta.url), args);

let main;
if (existsSync(fileURLToPath(new URL('../src/cli/main.ts', import.meta.url)))) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
} else {
  ({ main } = await import('../dist/src/cli/main.js'));
}
process.exitCode = await main(args);
