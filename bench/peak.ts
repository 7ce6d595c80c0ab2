// The core's floating-point ceiling, measured: bench/peers/peak_fma.c (256-bit single-precision
// FMAs in independent chains, no memory traffic) built with the system C compiler and run for a
// short window. `bench kernels` times it next to the GEMMs so that every GFLOP/s figure can be read
// as a share of what the core can do at all — and so that a goal above that ceiling (e.g. "2× a
// peer that already runs at 55% of peak") shows up as unreachable on that machine instead of as a
// slow kernel.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const PEAK_SOURCE = join(here, 'peers', 'peak_fma.c');

/** What the peak program prints (one JSON line). */
export interface PeakReply { gflops: number; bits: number; chains: number; seconds: number }

/**
 * Builds peak_fma.c once per source text and compiler (cached under the OS temp folder, so a second
 * run costs nothing) and returns the binary's path, or a one-line reason when there is no C compiler
 * or the build fails. `cc` can be overridden with $CC.
 */
export function buildPeak(): { bin: string } | { why: string } {
  const cc = process.env.CC || 'cc';
  const version = spawnSync(cc, ['--version'], { encoding: 'utf8' });
  if (version.error || version.status !== 0) return { why: `no C compiler (${cc}) to build ${PEAK_SOURCE}` };
  const src = readFileSync(PEAK_SOURCE, 'utf8');
  const key = createHash('sha256').update(src).update(version.stdout).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'handgrad-peak');
  const bin = join(dir, `peak_fma-${key}`);
  if (existsSync(bin)) return { bin };
  mkdirSync(dir, { recursive: true });
  // -march=native: the vectors become the widest FMA this CPU has at 256 bits (AVX2+FMA on x86-64).
  const r = spawnSync(cc, ['-O2', '-march=native', '-o', bin, PEAK_SOURCE], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const msg = (r.stderr || r.error?.message || '').trim().split('\n')[0];
    return { why: `${cc} could not build ${PEAK_SOURCE}${msg ? `: ${msg}` : ''}` };
  }
  return { bin };
}

/** Runs the built program for `seconds` (best ~10 ms block inside it); GFLOP/s, or null on failure. */
export function runPeak(bin: string, seconds: number): Promise<number | null> {
  return new Promise((done) => {
    const child = spawn(bin, [String(seconds)], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.on('error', () => done(null));
    child.on('close', (code) => {
      if (code !== 0) return done(null);
      try {
        const r = JSON.parse(out.trim().split('\n').pop() ?? '') as PeakReply;
        done(typeof r.gflops === 'number' && r.gflops > 0 ? r.gflops : null);
      } catch { done(null); }
    });
  });
}
