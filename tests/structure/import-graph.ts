// The import graph of src/, read as text, and the rules it must keep (tests/structure/imports.test.ts).
//
// The layers, from the bottom up. A file may import files of its own layer (without a cycle) and
// of layers below it; never one above. Where each folder stands, and why:
//
//   0 util       rng, durations: used by everything, imports nothing of ours
//   1 ops        the contract (src/ops/types.ts): types, argument checks, memory layout. No backend.
//   2 backends   the implementations of the contract, and createOps (src/backends/index.ts)
//   3 layers     building blocks written against src/ops only
//   4 models     layers composed into models (src/ops only, never a backend)
//   5 data       corpora, tokenizers, batchers: batches are shaped for the models (models/types.ts)
//   6 train      the training loop, optimisers, checkpoints (it picks a backend: createOps)
//   7 interop    export to and import from other formats (ONNX, Hugging Face, safetensors)
//   8 gradcheck  gradient checks of ops, layers and models, on the reference backend
//   9 viz        plots and reports of runs and checkpoints (reads train's checkpoints)
//  10 tasks      toy tasks that train small models end to end (train/fit, viz heatmaps)
//  11 bench      the benchmark programs (bench/, outside src/): `handgrad bench` runs them
//  12 cli        the command line: nothing outside src/cli imports it
//  13 index      src/index.ts, the npm package's entry: re-exports the layers below for library users
//
// Extra rules: layers and models import src/ops, never src/backends (they receive an `Ops`).
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

export const LAYERS = ['util', 'ops', 'backends', 'layers', 'models', 'data', 'train', 'interop', 'gradcheck', 'viz', 'tasks', 'bench', 'cli', 'index'] as const;
export type Layer = (typeof LAYERS)[number];

export interface Edge {
  /** Importing file, relative to the repository root with forward slashes (src/models/lstm.ts). */
  from: string;
  /** Imported file, the same way. */
  to: string;
  /** The specifier as written, e.g. '../ops/types.js'. */
  spec: string;
}

/** Every .ts/.mts/.mjs file under dir (recursive), sorted. */
export function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(ts|mts|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/**
 * Blanks out comments (keeping strings and line breaks), so that an example import in a comment
 * is not read as an import.
 */
export function stripComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i], n = text[i + 1];
    if (c === '/' && n === '/') {
      while (i < text.length && text[i] !== '\n') { out += ' '; i++; }
    } else if (c === '/' && n === '*') {
      out += '  '; i += 2;
      while (i < text.length && !(text[i] === '*' && text[i + 1] === '/')) { out += text[i] === '\n' ? '\n' : ' '; i++; }
      out += '  '; i += 2;
    } else if (c === "'" || c === '"' || c === '`') {
      out += c; i++;
      while (i < text.length && text[i] !== c) {
        if (text[i] === '\\') { out += text[i] + (text[i + 1] ?? ''); i += 2; continue; }
        out += text[i]; i++;
      }
      out += c; i++;
    } else {
      out += c; i++;
    }
  }
  return out;
}

/**
 * The module specifiers a file imports: `import … from '…'`, `export … from '…'` (type-only ones
 * included), `import '…'`, and `import('…')` (dynamic imports and `typeof import('…')` types).
 */
export function importSpecifiers(text: string): string[] {
  const code = stripComments(text);
  const specs: string[] = [];
  const patterns = [
    /^[ \t]*(?:import|export)\b[^;'"`]*?\bfrom\s*['"]([^'"]+)['"]/gm,
    /^[ \t]*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) specs.push(m[1]);
  return specs;
}

/** The file a relative specifier names ('./x.js' → x.ts when that exists), or null for a package. */
function resolveSpec(fromFile: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const base = resolve(dirname(fromFile), spec);
  const candidates = [base, base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`, join(base, 'index.ts')];
  for (const c of candidates) if (existsSync(c) && statSync(c).isFile()) return c;
  return base; // unresolved: kept, so that a rule still sees where it points
}

/** The import edges of the files under `root/src` and `root/bench` (packages and node: modules left out). */
export function importEdges(root: string): Edge[] {
  const edges: Edge[] = [];
  const rel = (p: string) => relative(root, p).split(sep).join('/');
  for (const file of [...sourceFiles(join(root, 'src')), ...sourceFiles(join(root, 'bench'))]) {
    for (const spec of importSpecifiers(readFileSync(file, 'utf8'))) {
      const target = resolveSpec(file, spec);
      if (target !== null) edges.push({ from: rel(file), to: rel(target), spec });
    }
  }
  return edges;
}

/** The layer of a file (its first folder under src/, or bench), or null elsewhere or in an unlisted folder. */
export function layerOf(file: string): Layer | null {
  if (file.startsWith('bench/')) return 'bench';
  if (file === 'src/index.ts') return 'index';
  const m = /^src\/([^/]+)\//.exec(file);
  if (!m) return null;
  return (LAYERS as readonly string[]).includes(m[1]) ? (m[1] as Layer) : null;
}

const show = (e: Edge) => `${e.from} -> ${e.to} (import '${e.spec}')`;

/** Edges that break the layer rules, one line each naming the edge and the rule. */
export function layerViolations(edges: Edge[]): string[] {
  const bad: string[] = [];
  for (const e of edges) {
    const a = layerOf(e.from), b = layerOf(e.to);
    if (a === null) { bad.push(`${show(e)}: ${e.from} is in no layer (add its folder to LAYERS in tests/structure/import-graph.ts)`); continue; }
    if (b === null) { bad.push(`${show(e)}: ${e.to} is in no layer (add its folder to LAYERS in tests/structure/import-graph.ts)`); continue; }
    if (b === 'cli' && a !== 'cli') { bad.push(`${show(e)}: nothing outside src/cli imports src/cli`); continue; }
    if ((a === 'layers' || a === 'models') && b === 'backends') {
      bad.push(`${show(e)}: ${a} import src/ops only, never a backend (they receive an Ops)`);
      continue;
    }
    if (LAYERS.indexOf(b) > LAYERS.indexOf(a)) {
      bad.push(`${show(e)}: runs upward, ${a} (layer ${LAYERS.indexOf(a)}) imports ${b} (layer ${LAYERS.indexOf(b)}); order: ${LAYERS.join(' → ')}`);
    }
  }
  return bad;
}

/**
 * Every import cycle, as the list of files around it (a -> b -> … -> a), one per strongly
 * connected component of more than one file (or a file that imports itself).
 */
export function importCycles(edges: Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    if (!next.has(e.from)) next.set(e.from, []);
    next.get(e.from)!.push(e.to);
  }
  // Tarjan's strongly connected components.
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>(), onStack = new Set<string>(), stack: string[] = [];
  const comps: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index); low.set(v, index); index++;
    stack.push(v); onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); comp.push(w); } while (w !== v);
      if (comp.length > 1 || (next.get(v) ?? []).includes(v)) comps.push(comp);
    }
  };
  for (const v of [...next.keys()].sort()) if (!idx.has(v)) visit(v);
  // One concrete loop per component, for the message: a shortest path back to its first file.
  return comps.map((comp) => {
    const inComp = new Set(comp), start = [...comp].sort()[0];
    const prev = new Map<string, string>();
    const queue = [start];
    while (queue.length) {
      const v = queue.shift()!;
      for (const w of next.get(v) ?? []) {
        if (!inComp.has(w)) continue;
        if (w === start) {
          const path = [start];
          for (let u = v; u !== start; u = prev.get(u)!) path.splice(1, 0, u);
          return [...path, start];
        }
        if (!prev.has(w)) { prev.set(w, v); queue.push(w); }
      }
    }
    return [...comp, comp[0]];
  });
}
