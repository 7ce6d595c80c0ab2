// The GEMM kernel benchmark's peers (bench/kernels.ts): the plain-TypeScript reference backend,
// tfjs-wasm in this process, and NumPy's BLAS (OpenBLAS) through bench/peers/numpy_gemm.py, run once
// per thread count for the table and as persistent `--serve` processes for the paired rounds.
import { spawn } from 'node:child_process';
import { dirname, join, sep } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { describeBlasCore, findPython, peerBlasName, peerEnv, type BlasCore } from '../peer-env.js';
import { startPeerServer } from '../peer-server.js';
import { measure, round, shapeText, timeGemm } from './measure.js';
import type { GemmRow, Plan } from './types.js';

/** The reference backend only runs products of at most this many flops (a 256³ product). */
const REFERENCE_MAX_FLOPS = 2 * 256 ** 3;

/** bench/peers, beside this folder (also in the compiled dist/bench/). */
const peersDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'peers');

export function measureReference(plan: Plan, progress: (l: string) => void): GemmRow[] {
  const ops = new ReferenceOps('f32');
  const rows: GemmRow[] = [];
  for (const s of plan.shapes) {
    if (2 * s.m * s.n * s.k > REFERENCE_MAX_FLOPS) continue;
    for (const variant of plan.variants) {
      const gflops = round(timeGemm(ops, variant, s, plan.timing));
      rows.push({ op: 'gemm', peer: 'reference', variant, m: s.m, n: s.n, k: s.k, threads: 1, gflops });
      progress(`gemm reference 1t ${variant} ${shapeText(s)}: ${gflops} GFLOP/s`);
    }
  }
  return rows;
}

type Tf = typeof import('@tensorflow/tfjs-core');
let tfjsStarted: Promise<Tf | string> | null = null;

/** tfjs-core on the wasm backend with one thread, started once per process; a string says why not. */
export function startTfjs(): Promise<Tf | string> {
  tfjsStarted ??= (async () => {
    try {
      const tf = await import('@tensorflow/tfjs-core');
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const dist = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));
      wasm.setWasmPaths(dist.endsWith(sep) ? dist : dist + sep);
      wasm.setThreadsCount(1);
      if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") failed');
      await tf.ready();
      return tf;
    } catch (e) {
      return `tfjs peer: @tensorflow/tfjs-backend-wasm could not start (${(e as Error).message.split('\n')[0]})`;
    }
  })();
  return tfjsStarted;
}

export async function measureTfjs(plan: Plan, note: (l: string) => void, progress: (l: string) => void): Promise<GemmRow[]> {
  const tf = await startTfjs();
  if (typeof tf === 'string') {
    note(tf);
    return [];
  }
  const rows: GemmRow[] = [];
  for (const s of plan.shapes) {
    for (const variant of plan.variants) {
      const ta = variant === 'tn', tb = variant === 'nt';
      const a = tf.randomUniform(ta ? [s.k, s.m] : [s.m, s.k], -1, 1, 'float32');
      const b = tf.randomUniform(tb ? [s.n, s.k] : [s.k, s.n], -1, 1, 'float32');
      const gflops = round(measure(() => {
        const c = tf.matMul(a, b, ta, tb);
        c.dataSync();
        c.dispose();
      }, 2 * s.m * s.n * s.k, plan.timing));
      a.dispose();
      b.dispose();
      rows.push({ op: 'gemm', peer: 'tfjs-wasm', variant, m: s.m, n: s.n, k: s.k, threads: 1, gflops });
      progress(`gemm tfjs-wasm 1t ${variant} ${shapeText(s)}: ${gflops} GFLOP/s`);
    }
  }
  return rows;
}

/** Runs a command and gives back its stdout; its stderr lines go to `onLine`. */
export function collect(cmd: string, args: string[], env: NodeJS.ProcessEnv, onLine: (l: string) => void):
  Promise<{ code: number | null; stdout: string; error?: Error }> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', errBuf = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      errBuf += d;
      const lines = errBuf.split('\n');
      errBuf = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) onLine(l);
    });
    child.on('error', (error) => done({ code: null, stdout, error }));
    child.on('close', (code) => {
      if (errBuf.trim()) onLine(errBuf);
      done({ code, stdout });
    });
  });
}

export function lastJsonLine<T>(stdout: string): T | null {
  const line = stdout.trim().split('\n').pop();
  if (!line) return null;
  try { return JSON.parse(line) as T; } catch { return null; }
}

export async function measureOpenblas(plan: Plan, note: (l: string) => void, progress: (l: string) => void):
  Promise<{ rows: GemmRow[]; blas: string | null; blasCore: BlasCore | null; python: string | null }> {
  const script = join(peersDir, 'numpy_gemm.py');
  const rows: GemmRow[] = [];
  let blas: string | null = null, blasCore: BlasCore | null = null;
  const py = findPython('numpy');
  if (!py.python) {
    note(`openblas peer: ${py.note}`);
    return { rows, blas, blasCore, python: null };
  }
  for (const threads of plan.threads) {
    const config = JSON.stringify({ shapes: plan.shapes, variants: plan.variants, threads, timing: plan.timing });
    const stderr: string[] = [];
    const r = await collect(py.python, [script, config], peerEnv(threads), (l) => {
      if (l.startsWith('gemm ')) progress(l); else stderr.push(l);
    });
    const out = lastJsonLine<{ blas: string; blasCore?: BlasCore; rows: GemmRow[] }>(r.stdout);
    if (r.error || r.code === 3 || !out) {
      // exit code 3: numpy_gemm.py could not import numpy
      note(r.error || r.code === 3 ? `openblas peer: ${py.python} with numpy could not run numpy_gemm.py`
        : `openblas peer: numpy_gemm.py failed (exit ${r.code}${stderr.length ? `: ${stderr[stderr.length - 1]}` : ''})`);
      return { rows, blas, blasCore, python: py.python };
    }
    const lib = peerBlasName(out.blas, out.blasCore);
    if (blas === null) {
      progress(`openblas peer: NumPy via ${py.python}, ${lib.name}, OpenBLAS core ${describeBlasCore(out.blasCore)}`);
    }
    blas = lib.name;
    blasCore = out.blasCore ?? null;
    if (!lib.openblas) note(`openblas peer: NumPy here uses ${out.blas}, not OpenBLAS; rows are labelled openblas`);
    rows.push(...out.rows);
  }
  return { rows, blas, blasCore, python: py.python };
}

/** A persistent `numpy_gemm.py --serve` process (one per OpenBLAS thread count). */
export interface NumpyServer {
  blas: string;
  /** The reply to this request (its id); null when the server died or did not answer in time. */
  ask(req: Record<string, unknown>, timeoutSeconds: number): Promise<Record<string, unknown> | null>;
  /** Ends the server; resolves when it has exited (so that it cannot overlap the next measurement). */
  close(): Promise<void>;
}

/**
 * Starts `numpy_gemm.py --serve` with OPENBLAS_NUM_THREADS = threads (and the OpenBLAS guards
 * removed, bench/peer-env.ts) through bench/peer-server.ts; a string says why it could not.
 */
export async function startNumpyServer(threads: number): Promise<NumpyServer | string> {
  const server = await startPeerServer({ module: 'numpy', script: join(peersDir, 'numpy_gemm.py'), threads, readyTimeoutSeconds: 60 });
  if (typeof server === 'string') return `openblas server ${threads}t: ${server}`;
  return { blas: String(server.ready.blas), ask: (req, timeoutSeconds) => server.ask(req, timeoutSeconds), close: () => server.close() };
}
