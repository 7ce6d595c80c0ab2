// The structure drawn from the imports of src/ and bench/ has no cycles and no arrow that runs upward (the layer
// order and its reasons: tests/structure/import-graph.ts). A failure lists every offending edge.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { importCycles, importEdges, importSpecifiers, layerViolations, type Edge } from './import-graph.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const edges = importEdges(root);

describe('the import structure of src/', () => {
  it('reads the imports (a sanity floor: the checks below would pass on an empty graph)', () => {
    expect(edges.length).toBeGreaterThan(300);
    expect(edges).toContainEqual({ from: 'src/layers/linear.ts', to: 'src/ops/types.ts', spec: '../ops/types.js' });
  });

  it('has no import cycles', () => {
    const cycles = importCycles(edges).map((c) => `cycle: ${c.join(' -> ')}`);
    expect(cycles, `import cycles (move the shared type below both ends):\n${cycles.join('\n')}`).toEqual([]);
  });

  it('has no upward imports: util → ops → backends → layers → models → data → train → interop → gradcheck → viz → tasks → bench → cli → index', () => {
    const bad = layerViolations(edges);
    expect(bad, `imports that break the layer order:\n${bad.join('\n')}`).toEqual([]);
  });
});

describe('the checker itself', () => {
  const e = (from: string, to: string): Edge => ({ from, to, spec: to });

  it('reads every form of import, and none in comments', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      'import {',
      '  c,',
      '  type D,',
      "} from './c.js';",
      "export { e } from './e.js';",
      "export type { F } from './f.js';",
      "export * from './g.js';",
      "import './side-effect.js';",
      "const m = await import('./dynamic.js');",
      "type R = typeof import('./typeof.js');",
      "// import { x } from './commented.js';",
      "/* export { y } from './block-commented.js'; */",
      " *   import { z } from './doc-comment.js';",
      "const s = 'import { w } from \"./in-a-string.js\"';",
      "const u = 'https://example.com'; import { v } from './after-url.js';",
    ].join('\n');
    expect(importSpecifiers(text).sort()).toEqual(['../b.js', './a.js', './c.js', './dynamic.js', './e.js', './f.js', './g.js',
      './side-effect.js', './typeof.js'].sort());
  });

  it('finds a cycle and names its files', () => {
    const cycles = importCycles([e('src/models/a.ts', 'src/models/b.ts'), e('src/models/b.ts', 'src/models/c.ts'),
      e('src/models/c.ts', 'src/models/a.ts'), e('src/models/c.ts', 'src/ops/types.ts')]);
    expect(cycles).toEqual([['src/models/a.ts', 'src/models/b.ts', 'src/models/c.ts', 'src/models/a.ts']]);
    expect(importCycles([e('src/models/a.ts', 'src/models/b.ts'), e('src/models/a.ts', 'src/ops/types.ts')])).toEqual([]);
  });

  it('rejects upward arrows, layers or models importing a backend, and imports of src/cli', () => {
    const bad = layerViolations([
      e('src/ops/index.ts', 'src/backends/reference/index.ts'),
      e('src/models/registry.ts', 'src/train/optimizers.ts'),
      e('src/layers/linear-memory.ts', 'src/backends/reference/memory-ops.ts'),
      e('src/train/trainer.ts', 'src/cli/main.ts'),
      e('src/cli/main.ts', 'src/cli/commands/train.ts'),
      e('src/train/trainer.ts', 'src/backends/index.ts'),
    ]);
    expect(bad).toHaveLength(4);
    expect(bad[0]).toMatch(/^src\/ops\/index\.ts -> src\/backends\/reference\/index\.ts .*runs upward/);
    expect(bad[1]).toMatch(/^src\/models\/registry\.ts -> src\/train\/optimizers\.ts .*runs upward/);
    expect(bad[2]).toMatch(/never a backend/);
    expect(bad[3]).toMatch(/nothing outside src\/cli imports src\/cli/);
  });
});
