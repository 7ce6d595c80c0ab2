import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // One process per test file: V8's wasm flags are process-wide and set before the first
    // compile, so a file that runs the non-revectorized kernel paths needs a process of its own.
    pool: 'forks',
    isolate: true,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
