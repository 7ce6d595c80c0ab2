// The GEMM kernel benchmark's report as readable lines, and as a JSON file (bench/kernels.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { KERNEL_PATHS } from '../../src/backends/wasm/runtime.js';
import { describeBlasCore } from '../peer-env.js';
import { shapeText } from './measure.js';
import { VARIANTS, type GemmRow, type KernelBenchReport, type PeakReport, type PeakShares, type Ratio, type RatioKey, type Variant } from './types.js';

export function fmt(g: number | undefined): string {
  if (g === undefined) return '-';
  return g >= 1 ? g.toFixed(1) : g.toPrecision(2);
}

/** The report as a readable table (one row per shape and variant, one column per path/peer and thread count) and the ratios. */
export function formatReport(rep: KernelBenchReport): string[] {
  const colKey = (r: GemmRow) => (r.path ? `${r.path} ${r.threads}t` : r.peer === 'openblas' ? `openblas ${r.threads}t` : `${r.peer}`);
  const order = (r: GemmRow) => (r.path ? KERNEL_PATHS.indexOf(r.path) * 100 : r.peer === 'reference' ? 1000 : r.peer === 'tfjs-wasm' ? 2000 : 3000) + r.threads;
  const cols = [...new Map([...rep.rows].sort((a, b) => order(a) - order(b)).map((r) => [colKey(r), true])).keys()];
  const lines: string[] = [];
  const m = rep.machine;
  lines.push(`GEMM GFLOP/s (2mnk / best of ${rep.settings.reps} timed reps), ${m.cpu}, ${m.cores} cores, Node ${m.node}, revectorize ${m.revectorize.on ? 'on' : 'off'}`
    + (m.blas ? `, NumPy BLAS ${m.blas} via ${m.python}, OpenBLAS core ${describeBlasCore(m.blasCore)}` : ''));
  const rowsByKey = new Map<string, Map<string, number>>();
  const keys: string[] = [];
  for (const r of rep.rows) {
    const key = `${r.variant} ${shapeText(r)}`;
    if (!rowsByKey.has(key)) { rowsByKey.set(key, new Map()); keys.push(key); }
    rowsByKey.get(key)!.set(colKey(r), r.gflops);
  }
  // shapes in plan order, variants nn/nt/tn within a shape
  const shapeOrder = [...rep.settings.sizes.map((s) => ({ m: s, k: s, n: s })), ...rep.settings.skinny].map(shapeText);
  keys.sort((a, b) => {
    const [va, sa] = a.split(' '), [vb, sb] = b.split(' ');
    return shapeOrder.indexOf(sa) - shapeOrder.indexOf(sb) || VARIANTS.indexOf(va as Variant) - VARIANTS.indexOf(vb as Variant);
  });
  const w0 = Math.max(20, ...keys.map((k) => k.length));
  const widths = cols.map((c) => Math.max(c.length, 7));
  lines.push([''.padEnd(w0), ...cols.map((c, i) => c.padStart(widths[i]))].join('  '));
  for (const key of keys) {
    const vals = rowsByKey.get(key)!;
    lines.push([key.padEnd(w0), ...cols.map((c, i) => fmt(vals.get(c)).padStart(widths[i]))].join('  '));
  }
  const p = rep.paired;
  if (p) {
    lines.push('');
    lines.push(`paired, interleaved over ${p.rounds} rounds (${p.path}; each contender ~${p.windowSeconds} s a round, best rep; order rotated each round; ${p.seconds} s;`
      + ` load average ${p.loadAverage.start.toFixed(2)} → ${p.loadAverage.end.toFixed(2)} on ${m.cores} cores):`);
    const figs = Object.values(p.figures);
    const wl = Math.max(9, ...figs.map((x) => x.label.length));
    lines.push(`  ${'contender'.padEnd(wl)}   best  median  per round`);
    for (const x of figs) {
      lines.push(`  ${x.label.padEnd(wl)} ${fmt(x.gflops ?? undefined).padStart(6)}  ${fmt(x.median ?? undefined).padStart(6)}  ${x.rounds.map((g) => fmt(g ?? undefined)).join(' ')}`);
    }
  }
  lines.push('');
  lines.push(p ? `ratios (paired, interleaved over ${p.rounds} rounds: best / best, and the median of the per-round ratios; targets are goals, not assertions):`
    : 'ratios (from the table; targets are goals, not assertions):');
  const names: [RatioKey, string][] = [
    ['wasmVsOpenblas', 'best WASM / OpenBLAS, 512³, 1 thread'],
    ['threads2VsThreads1', '2 threads / 1 thread, 512³'],
    ['skinnyVsSquare', 'skinny / square 512³ (worst)'],
    ['wasmVsTfjs', 'best WASM / tfjs-wasm, 512³'],
  ];
  for (const [k, label] of names) {
    const r = rep.ratios[k];
    const v = r.value === null ? '  n/a' : r.value.toFixed(2).padStart(5);
    const mark = r.value === null ? '' : r.value >= r.target ? ' (met)' : ' (below)';
    const med = p ? (r.method === 'paired' ? `median ${r.medianOfRounds?.toFixed(2) ?? 'n/a'}` : 'table').padEnd(13) : '';
    const detail = r.detail.replace(/^[^:]*: /, '').replace(/ \(best of \d+ paired rounds;.*\)$/, '');
    lines.push(`  ${label.padEnd(38)} ${v}  ${med}${`target ≥ ${r.target}${mark}`.padEnd(22)} ${detail}`);
  }
  if (p) {
    const t = p.fromTable;
    const v = (r: Ratio) => (r.value === null ? 'n/a' : r.value.toFixed(2));
    lines.push(`  from the table instead (one contender after another, not paired): WASM/OpenBLAS ${v(t.wasmVsOpenblas)}, 2t/1t ${v(t.threads2VsThreads1)}, skinny/square ${v(t.skinnyVsSquare)}, WASM/tfjs ${v(t.wasmVsTfjs)}`);
  }
  lines.push(...formatPeak(rep.peak));
  for (const n of rep.notes) lines.push(`note: ${n}`);
  return lines;
}

/** The ceiling lines of the report: every width timed, then the shares of the WASM ceiling and of the CPU's peak. */
export function formatPeak(pk: PeakReport | null): string[] {
  if (!pk) return [];
  if (!pk.gflops) return pk.why ? [] : ['core ceiling: not measured']; // the reason is among the notes
  const pct = (x: number | null) => (x === null ? 'n/a' : `${Math.round(100 * x)}%`);
  const shares = (s: PeakShares) => `best WASM ${pct(s.wasm)}, OpenBLAS ${pct(s.openblas)}, tfjs-wasm ${pct(s.tfjs)}`;
  const lines = [
    `core ceilings: ${pk.what}: ${pk.widths.map((w) => `${w.bits}-bit ${w.gflops}`).join(', ')} GFLOP/s (table phase; AVX-512F ${pk.avx512f ? 'yes' : 'no'})`,
    `  shares at nn 512³, 1 thread (${pk.method}) of the ${pk.bits}-bit ceiling a WASM kernel can reach (V8 revectorizes to AVX2, no wider),`
      + ` ${pk.gflops} GFLOP/s: ${shares(pk.shares)}; the ≥ 2× tfjs-wasm goal is ${pct(pk.tfjsGoalShare)} of it`
      + (pk.tfjsGoalShare !== null && pk.tfjsGoalShare > 1 ? ' (above the ceiling: no WASM GEMM can meet it on this core)' : ''),
  ];
  if (pk.cpuBits !== pk.bits) {
    lines.push(`  of the CPU's true peak (${pk.cpuBits}-bit FMA), ${pk.cpuGflops ?? 'n/a'} GFLOP/s: ${shares(pk.cpuShares)}`);
  } else {
    lines.push(`  the CPU's true peak is the same ${pk.bits}-bit ceiling (no wider FMA on this CPU)`);
  }
  return lines;
}

/** Writes the report as pretty JSON, creating the folder. */
export function writeReport(rep: KernelBenchReport, file: string): string {
  const abs = resolve(file);
  mkdirSync(dirname(abs), { recursive: true });
  writeFileSync(abs, JSON.stringify(rep, null, 2) + '\n');
  return abs;
}
