// The crow task (src/tasks/crow.ts): sentence → next sentence on the thirsty-crow story. The
// training run needs $HANDGRAD_DATA/thirsty_crow_v2.txt and is skipped, saying so, without it.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { CROW_FILE, crowPairs, crowPath, editDistance, heldOutIndices, pairBatch } from '../../src/tasks/crow.js';
import { getTask, runTask } from '../../src/tasks/registry.js';

const dataDir = process.env.HANDGRAD_DATA;
const available = !!dataDir && existsSync(join(dataDir, CROW_FILE));
const why = available ? '' : ` [SKIPPED: needs HANDGRAD_DATA naming a folder with ${CROW_FILE}; HANDGRAD_DATA=${dataDir ?? '(unset)'}]`;

describe('crow task', () => {
  it('pairs consecutive lines and batches them time-major with eos and −1 padding', () => {
    const pairs = crowPairs('a b .\n\nc .\r\nd e f .\n');
    expect(pairs).toEqual([['a b .', 'c .'], ['c .', 'd e f .']]);
    const chars = ' .abcdef', b = pairBatch(new ReferenceOps('f64'), pairs, chars);
    expect([b.S, b.T, b.B]).toEqual([5, 8, 2]);
    expect(Array.from(b.srcLen)).toEqual([5, 3]);
    const row = (r: number) => Array.from({ length: b.T }, (_, t) => b.tgt.data[t * 2 + r]);
    expect(row(0)).toEqual([...'c .'].map((c) => chars.indexOf(c)).concat([8, -1, -1, -1, -1]));
  });

  it('a missing variable or file is one line naming it', () => {
    expect(() => crowPath('')).toThrow(/^crow: HANDGRAD_DATA is not set .*thirsty_crow_v2\.txt/);
    const dir = mkdtempSync(join(tmpdir(), 'hg-crow-'));
    try {
      expect(() => crowPath(dir)).toThrow(new RegExp(`^crow: no thirsty_crow_v2\\.txt in HANDGRAD_DATA=`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(getTask('crow').defaultSteps).toBeGreaterThan(0);
  });

  it('holds out evenly spaced pairs, and measures characters right by edit distance', () => {
    expect(heldOutIndices(36, 6)).toEqual([3, 9, 15, 21, 27, 33]);
    expect(heldOutIndices(36, 0)).toEqual([]);
    expect(() => heldOutIndices(36, 36)).toThrow(/--holdout must be an integer from 0 to 35/);
    expect(editDistance('the crow', 'the crow')).toBe(0);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it.skipIf(!available)(`learns the next sentence of the training pairs with reduced steps, and scores 6 held-out pairs${why}`, async () => {
    const r = await runTask('crow', { seed: 1, steps: 150 });
    expect(r.trainLoss as number).toBeLessThan(0.1 * (r.uniformLoss as number));
    // 36 pairs: 30 trained on, 6 held out and scored (teacher-forced loss, exact match, characters right).
    expect(r.metric).toMatch(/on the 30 training pairs .*; 6 more held out/);
    const h = r.heldOut as { pairs: number; loss: number; exactMatch: number; charAccuracy: number; examples: string[] };
    expect(h.pairs).toBe(6);
    expect(h.loss).toBeGreaterThan(r.trainLoss as number); // sentences it never read are harder than the ones it learnt
    expect(h.charAccuracy).toBeGreaterThan(0);
    expect(h.charAccuracy).toBeLessThanOrEqual(1);
    expect(h.exactMatch).toBeGreaterThanOrEqual(0);
    expect(h.examples.length).toBe(3);
    expect(r.notes.some((n) => /^6 held-out pairs: loss \d/.test(n))).toBe(true);
    expect(r.value).toBeGreaterThanOrEqual(0.8);
    expect((r.examples as string[]).length).toBeGreaterThan(0);
    const a = r.alignment as number[][];
    for (const row of a) expect(row.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 4);
  }, 120_000);
});
