// The paired, interleaved phase of the GEMM kernel benchmark (bench/kernels.ts): the contenders of
// each headline ratio timed in turn, round after round, so that all of them see the same weather.
import { loadavg } from 'node:os';
import type { Ops } from '../../src/ops/types.js';
import type { KernelPath } from '../../src/backends/wasm/runtime.js';
import { createWasmOps } from '../../src/backends/wasm/index.js';
import { ceilings, runPeak, type PeakWidth } from '../peak.js';
import { fillRandom, median, round, seconds, shapeText } from './measure.js';
import { startNumpyServer, startTfjs } from './peers.js';
import { bestWasm } from './ratios.js';
import { fmt } from './report.js';
import { SKINNY_SHAPES, SQ512, type GemmRow, type PairedFigure, type PairedReport, type Peer, type Ratios, type Shape } from './types.js';

export interface PairedPlan {
  rounds: number;
  windowSeconds: number;
  minRepSeconds: number;
  /** The kernel paths this process runs. */
  local: KernelPath[];
  tableRows: GemmRow[];
  twoThreads: boolean;
  skinny: boolean;
  peers: boolean;
  /**
   * The built FMA-peak program (bench/peak.ts) and the widths its table run measured: the WASM
   * ceiling's width and, when wider, the CPU's widest are timed as contenders; null: left out.
   */
  peak: { bin: string; widths: PeakWidth[] } | null;
}

/**
 * Best-rep GFLOP/s of `run` over about `window` seconds of timing: a warm-up of at least two calls
 * and a tenth of the window, reps of at least minRep seconds, at least 3 reps. The same procedure as
 * `measure_for` in bench/peers/numpy_gemm.py, so both sides of a paired ratio are timed alike.
 */
export function measureFor(run: () => void, flops: number, window: number, minRep: number): number {
  const start = performance.now();
  run();
  let calls = 1, last = 0;
  for (;;) {
    const t0 = performance.now();
    run();
    const t1 = performance.now();
    last = (t1 - t0) / 1000;
    calls++;
    if (calls >= 2 && (t1 - start) / 1000 >= 0.1 * window) break;
  }
  const iters = Math.max(1, Math.ceil(minRep / Math.max(last, 1e-7)));
  let best = Infinity, reps = 0;
  const timed = performance.now();
  while (reps < 3 || (performance.now() - timed) / 1000 < window) {
    best = Math.min(best, seconds(() => { for (let i = 0; i < iters; i++) run(); }) / iters);
    reps++;
  }
  return flops / best / 1e9;
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

interface Contender {
  key: string;
  figure: PairedFigure;
  measure: () => number | null | Promise<number | null>;
  /** Idle seconds after it, so that its helper threads stop spinning before the next contender. */
  settle: number;
}

/**
 * The paired, interleaved phase: R rounds, in each every contender timed for windowSeconds in
 * turn (round r starts r places further along the list). Our contenders run on two WasmOps
 * instances made once (1 and 2 threads: the 2-thread one keeps its worker); tfjs runs in this
 * process; OpenBLAS runs in two persistent servers. Null when none of our paths runs here.
 */
export async function measurePaired(pp: PairedPlan, fromTable: Ratios, note: (l: string) => void, progress: (l: string) => void):
  Promise<PairedReport | null> {
  const started = performance.now();
  const loadStart = loadavg()[0];
  // revec4x16 when this process runs it, else the local path with the best table figure at nn 512³ 1t
  let path: KernelPath | null = pp.local.includes('revec4x16') ? 'revec4x16' : null;
  if (!path && pp.local.length > 0) {
    const ranked = pp.local.map((p) => ({ p, g: bestWasm(pp.tableRows, 'nn', SQ512, 1, p)?.gflops ?? -1 }));
    path = ranked.reduce((a, b) => (b.g > a.g ? b : a)).p;
  }
  if (!path) {
    note('paired phase left out: this process runs none of the kernel paths asked for');
    return null;
  }
  const window = pp.windowSeconds, minRep = pp.minRepSeconds;
  const contenders: Contender[] = [];
  const figure = (label: string, s: Shape, threads: number, who: { path?: KernelPath; peer?: Peer }): PairedFigure =>
    ({ label, ...who, variant: 'nn', m: s.m, n: s.n, k: s.k, threads, gflops: null, median: null, rounds: [] });
  const cleanup: (() => void | Promise<void>)[] = [];
  try {
    // ours: 1 thread (512³ and the skinny shapes) and 2 threads (512³)
    const instances: { threads: number; ops: Ops }[] = [];
    for (const threads of pp.twoThreads ? [1, 2] : [1]) {
      try {
        const ops = await createWasmOps({ path, threads, onNotice: note });
        cleanup.push(() => ops.dispose());
        if (ops.threads !== threads) note(`paired ${path}: asked for ${threads} threads, the GEMM engine runs ${ops.threads}`);
        instances.push({ threads, ops });
      } catch (e) {
        note(`paired ${path} ${threads}t not measured: ${(e as Error).message}`);
      }
    }
    for (const { threads, ops } of instances) {
      const shapes = threads === 1 && pp.skinny ? [SQ512, ...SKINNY_SHAPES] : [SQ512];
      const mark = ops.mark();
      cleanup.push(() => ops.release(mark));
      for (const s of shapes) {
        const A = ops.tensor(s.m * s.k), B = ops.tensor(s.k * s.n), C = ops.tensor(s.m * s.n);
        fillRandom(A.data, 1);
        fillRandom(B.data, 2);
        const run = () => ops.gemm(false, false, s.m, s.n, s.k, 1, A, B, 0, C);
        // a fresh instance: let the JS around the kernels optimise and the worker start
        const until = performance.now() + 300;
        do run(); while (performance.now() < until);
        const sq = s === SQ512;
        contenders.push({
          key: sq ? `wasm${threads}t` : `skinny${s.m}x${s.k}x${s.n}`,
          figure: figure(`${path} ${threads}t nn ${shapeText(s)}`, s, threads, { path }),
          measure: () => measureFor(run, 2 * s.m * s.n * s.k, window, minRep),
          settle: 0,
        });
      }
    }
    if (pp.peers) {
      const tf = await startTfjs();
      if (typeof tf === 'string') note(`paired: ${tf}`);
      else {
        const a = tf.randomUniform([512, 512], -1, 1, 'float32'), b = tf.randomUniform([512, 512], -1, 1, 'float32');
        cleanup.push(() => { a.dispose(); b.dispose(); });
        contenders.push({
          key: 'tfjs',
          figure: figure(`tfjs-wasm 1t nn ${shapeText(SQ512)}`, SQ512, 1, { peer: 'tfjs-wasm' }),
          measure: () => measureFor(() => {
            const c = tf.matMul(a, b);
            c.dataSync();
            c.dispose();
          }, 2 * 512 ** 3, window, minRep),
          settle: 0,
        });
      }
      for (const threads of pp.twoThreads ? [1, 2] : [1]) {
        const server = await startNumpyServer(threads);
        if (typeof server === 'string') {
          note(`paired: ${server}`);
          if (/not found|not available|could not start/.test(server)) break;
          continue;
        }
        cleanup.push(() => server.close());
        let id = 0;
        contenders.push({
          key: `openblas${threads}t`,
          figure: figure(`openblas ${threads}t nn ${shapeText(SQ512)}`, SQ512, threads, { peer: 'openblas' }),
          measure: async () => {
            const reply = await server.ask({ id: ++id, ...SQ512, variant: 'nn', seconds: window, minRepSeconds: minRep }, 30 + 20 * window);
            if (!reply || typeof reply.gflops !== 'number') {
              progress(`paired openblas ${threads}t: ${reply ? String(reply.error) : 'no answer'}`);
              return null;
            }
            return reply.gflops;
          },
          // OpenBLAS's worker thread keeps spinning after a call before it sleeps (~2^28 cycles
          // by default), stealing the core from whoever is timed next: with a 0.2 s pause our
          // 1-thread figure after it was bimodal (~42 or ~74 GFLOP/s), with 1 s it was steady.
          settle: threads > 1 ? 1.0 : 0,
        });
      }
    }
    if (pp.peak) {
      const { bin } = pp.peak;
      const { wasm, cpu } = ceilings(pp.peak.widths);
      // 'peak': the WASM ceiling (256-bit); 'peakCpu': the CPU's widest, when wider (512-bit with AVX-512F)
      for (const [key, w] of [['peak', wasm], ['peakCpu', cpu && cpu.bits !== wasm?.bits ? cpu : null]] as const) {
        if (!w) continue;
        const bits = w.bits;
        contenders.push({
          key,
          figure: { label: `fma-peak 1t (${bits}-bit FMA)`, peer: 'fma-peak', variant: 'nn', m: 0, n: 0, k: 0, threads: 1, gflops: null, median: null, rounds: [] },
          measure: async () => (await runPeak(bin, window, bits))?.widths[0]?.gflops ?? null,
          settle: 0,
        });
      }
    }

    progress(`paired phase: ${pp.rounds} rounds of ${contenders.map((c) => c.figure.label).join(', ')}, ~${window} s each`);
    for (let r = 0; r < pp.rounds; r++) {
      const shift = r % contenders.length;
      const order = [...contenders.slice(shift), ...contenders.slice(0, shift)];
      for (const c of order) {
        let g: number | null;
        try { g = await c.measure(); } catch (e) {
          progress(`paired ${c.figure.label}: ${(e as Error).message}`);
          g = null;
        }
        c.figure.rounds.push(g === null ? null : round(g));
        if (c.settle > 0) await sleep(c.settle * 1000);
      }
      progress(`paired round ${r + 1}/${pp.rounds}: ${contenders.map((c) => `${c.key} ${fmt(c.figure.rounds[r] ?? undefined)}`).join(', ')}`);
    }
  } finally {
    for (const f of cleanup.reverse()) {
      try { await f(); } catch { /* best effort */ }
    }
  }

  const figures: Record<string, PairedFigure> = {};
  for (const c of contenders) {
    const got = c.figure.rounds.filter((g): g is number => g !== null);
    c.figure.gflops = got.length ? Math.max(...got) : null;
    const med = median(got);
    c.figure.median = med === null ? null : round(med);
    figures[c.key] = c.figure;
  }
  const per = (a: string, b: string) => Array.from({ length: pp.rounds }, (_, r) => {
    const x = figures[a]?.rounds[r], y = figures[b]?.rounds[r];
    return x == null || y == null ? null : Number((x / y).toFixed(3));
  });
  const skinnyKeys = Object.keys(figures).filter((k) => k.startsWith('skinny'));
  const skinnyPer = Array.from({ length: pp.rounds }, (_, r) => {
    const vals = skinnyKeys.map((k) => per(k, 'wasm1t')[r]);
    return vals.length === 0 || vals.some((v) => v === null) ? null : Math.min(...(vals as number[]));
  });
  return {
    method: 'paired',
    rounds: pp.rounds,
    windowSeconds: window,
    minRepSeconds: minRep,
    order: contenders.map((c) => c.key),
    path,
    figures,
    roundRatios: {
      wasmVsOpenblas: per('wasm1t', 'openblas1t'),
      threads2VsThreads1: per('wasm2t', 'wasm1t'),
      skinnyVsSquare: skinnyPer,
      wasmVsTfjs: per('wasm1t', 'tfjs'),
    },
    fromTable,
    seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
    loadAverage: { start: Number(loadStart.toFixed(2)), end: Number(loadavg()[0].toFixed(2)) },
  };
}
