// The core's floating-point ceiling, measured: bench/peers/peak_fma.c (single-precision FMAs in
// independent chains, no memory traffic, at every vector width the CPU has: 128, 256 and, with
// AVX-512F, 512 bits) built with the system C compiler and run for a short window. `bench kernels`
// times it next to the GEMMs so that every GFLOP/s figure can be read as a share of what the core can
// do: of the 256-bit ceiling a WASM kernel can reach (V8 revectorizes to AVX2, no wider) and of the
// CPU's true peak — and so that a goal above a ceiling shows up as unreachable instead of as a slow kernel.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const PEAK_SOURCE = join(here, 'peers', 'peak_fma.c');

/** One vector width's FMA ceiling. */
export interface PeakWidth { bits: number; gflops: number }

/** What the peak program prints (one JSON line). */
export interface PeakReply { widths: PeakWidth[]; avx512f: boolean; chains: number; seconds: number }

/** The widths timed, widest last, and the CPU's AVX-512F flag (x86; false elsewhere). */
export interface PeakMeasurement { widths: PeakWidth[]; avx512f: boolean }

/** V8's revectorizer widens WASM's 128-bit SIMD to 256 bits and no further: the widest a WASM kernel gets. */
export const WASM_CEILING_BITS = 256;

/**
 * The two ceilings a GEMM figure is read against: the widest width a WASM kernel can use (256 bits,
 * or less where the CPU has less) and the CPU's true peak (its widest width). The same width twice
 * on a CPU without AVX-512; null where nothing was measured.
 */
export function ceilings(widths: readonly PeakWidth[]): { wasm: PeakWidth | null; cpu: PeakWidth | null } {
  const sorted = [...widths].sort((a, b) => a.bits - b.bits);
  const wasm = sorted.filter((w) => w.bits <= WASM_CEILING_BITS).pop() ?? null;
  return { wasm, cpu: sorted[sorted.length - 1] ?? null };
}

/**
 * Builds peak_fma.c once per source text, compiler and CPU model (cached under the OS temp folder,
 * so a second run costs nothing) and returns the binary's path, or a one-line reason when there is
 * no C compiler or the build fails. `cc` can be overridden with $CC.
 */
export function buildPeak(): { bin: string } | { why: string } {
  const cc = process.env.CC || 'cc';
  const version = spawnSync(cc, ['--version'], { encoding: 'utf8' });
  if (version.error || version.status !== 0) return { why: `no C compiler (${cc}) to build ${PEAK_SOURCE}` };
  const src = readFileSync(PEAK_SOURCE, 'utf8');
  // -march=native builds for this CPU: a binary built on another one (a shared temp folder) is not reused.
  const key = createHash('sha256').update(src).update(version.stdout).update(cpus()[0]?.model ?? '').digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'handgrad-peak');
  const bin = join(dir, `peak_fma-${key}`);
  if (existsSync(bin)) return { bin };
  mkdirSync(dir, { recursive: true });
  // -march=native: every vector width this CPU has (AVX2+FMA, AVX-512F on x86-64) is enabled.
  const r = spawnSync(cc, ['-O2', '-march=native', '-o', bin, PEAK_SOURCE], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const msg = (r.stderr || r.error?.message || '').trim().split('\n')[0];
    return { why: `${cc} could not build ${PEAK_SOURCE}${msg ? `: ${msg}` : ''}` };
  }
  return { bin };
}

/**
 * Runs the built program for `seconds` per width (best ~10 ms block inside it), at every width the
 * CPU has or at `bits` only; the figures, or null on failure (a width the CPU lacks included).
 */
export function runPeak(bin: string, seconds: number, bits?: number): Promise<PeakMeasurement | null> {
  return new Promise((done) => {
    const child = spawn(bin, bits ? [String(seconds), String(bits)] : [String(seconds)], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.on('error', () => done(null));
    child.on('close', (code) => {
      if (code !== 0) return done(null);
      try {
        const r = JSON.parse(out.trim().split('\n').pop() ?? '') as PeakReply;
        const widths = (r.widths ?? []).filter((w) => typeof w.gflops === 'number' && w.gflops > 0);
        done(widths.length > 0 ? { widths, avx512f: !!r.avx512f } : null);
      } catch { done(null); }
    });
  });
}
