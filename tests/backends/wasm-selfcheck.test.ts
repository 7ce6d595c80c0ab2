// Kernel-path choice: the fastest path this process supports that passes its self-check, with a
// one-line notice and a fallback when a path fails.
import { describe, expect, it } from 'vitest';
import { createWasmOps } from '../../src/backends/wasm/index.js';
import { availablePaths } from '../../src/backends/wasm/runtime.js';

describe('WASM kernel-path self-check and fallback', () => {
  it('picks the fastest available path when every path is sound', async () => {
    const notices: string[] = [];
    const ops = await createWasmOps({ threads: 2, onNotice: (l) => notices.push(l) });
    try {
      expect(ops.path).toBe(availablePaths(true)[0]);
      expect(ops.selfCheck()).toBeNull();
      expect(notices).toEqual([]);
    } finally {
      ops.dispose();
    }
  });

  it('the self-check catches a single wrong element', async () => {
    const ops = await createWasmOps({ threads: 1 });
    try {
      expect(ops.selfCheck(true)).toMatch(/relative error/);
    } finally {
      ops.dispose();
    }
  });

  it('falls back to the next path with a one-line notice when the first fails', async () => {
    const paths = availablePaths(true);
    const notices: string[] = [];
    const ops = await createWasmOps({ threads: 2, injectSelfCheckFault: [paths[0]], onNotice: (l) => notices.push(l) });
    try {
      expect(ops.path).toBe(paths[1]);
      expect(notices).toHaveLength(1);
      expect(notices[0]).toMatch(new RegExp(`kernel path ${paths[0]} failed its self-check .*; falling back to ${paths[1]}`));
      expect(notices[0]).not.toContain('\n');
      // the fallback path really computes: a product checked by hand
      const A = ops.tensorFrom([1, 2, 3, 4]), B = ops.tensorFrom([5, 6, 7, 8]), C = ops.tensor(4);
      ops.gemm(false, false, 2, 2, 2, 1, A, B, 0, C);
      expect(Array.from(C.data)).toEqual([19, 22, 43, 50]);
    } finally {
      ops.dispose();
    }
  });

  it('throws when no path passes', async () => {
    const paths = availablePaths(true);
    await expect(createWasmOps({ threads: 1, injectSelfCheckFault: paths, onNotice: () => {} }))
      .rejects.toThrow(/no WASM kernel path passed its self-check/);
  });
});
