// Everything the WASM backend needs to know about the machine it runs on, decided once at
// start-up and BEFORE any WebAssembly is compiled: V8 reads its wasm flags at compile time.
//
// Kernel paths, fastest first (measured: ../shared/notes/toolchain.md):
//   revec4x16  Node >= 24 on x86-64 with AVX2: V8's --experimental-wasm-revectorize turns our
//              128-bit SIMD into 256-bit AVX2, and a 4x16 micro-kernel (k unrolled x2) wins.
//   relaxed4x8 relaxed-SIMD fused multiply-add, 4x8 micro-kernel (16 XMM registers, no spills).
//   simd4x8    plain 128-bit SIMD mul+add, 4x8 micro-kernel: runs on every Node >= 20.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import v8 from 'node:v8';

export type KernelPath = 'revec4x16' | 'relaxed4x8' | 'simd4x8';
export const KERNEL_PATHS: readonly KernelPath[] = ['revec4x16', 'relaxed4x8', 'simd4x8'];

export function nodeMajor(): number {
  return Number(process.versions.node.split('.')[0]);
}

/** x86-64 CPU flags from /proc/cpuinfo (Linux); null where they cannot be read. */
export function cpuFlags(): Set<string> | null {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const line = info.split('\n').find((l) => l.startsWith('flags'));
    return line ? new Set(line.split(':')[1].trim().split(/\s+/)) : null;
  } catch {
    return null;
  }
}

export function cpuModel(): string {
  return cpus()[0]?.model?.trim() || 'unknown';
}

/** Can V8 revectorize here? It needs Node 24+ (22 has the flag but it does nothing) and AVX2. */
export function canRevectorize(): { ok: boolean; why: string } {
  if (process.arch !== 'x64') return { ok: false, why: `revectorization is x86-64 only (this is ${process.arch})` };
  if (nodeMajor() < 24) return { ok: false, why: `Node ${process.versions.node} cannot revectorize (needs 24+)` };
  const flags = cpuFlags();
  if (flags && !flags.has('avx2')) return { ok: false, why: 'the CPU has no AVX2' };
  return { ok: true, why: flags ? 'Node 24+, x86-64, AVX2' : 'Node 24+, x86-64 (CPU flags unreadable, AVX2 assumed)' };
}

let flagsSet: { revectorize: boolean } | null = null;

/**
 * Sets the V8 flags once, before the first compile. HANDGRAD_REVECTORIZE=0 turns
 * revectorization off (tests use it to run the other kernel paths in their own process).
 * The flags are refused in NODE_OPTIONS, but v8.setFlagsFromString at start-up works.
 */
export function setWasmFlags(): { revectorize: boolean } {
  if (flagsSet) return flagsSet;
  const want = process.env.HANDGRAD_REVECTORIZE !== '0' && canRevectorize().ok;
  if (want) v8.setFlagsFromString('--experimental-wasm-revectorize');
  // Node 20 (V8 11.3) still hides relaxed SIMD behind a flag; 22+ ship it.
  if (nodeMajor() < 22) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  flagsSet = { revectorize: want };
  return flagsSet;
}

/** Kernel paths this process can run, fastest first. */
export function availablePaths(relaxedValid: boolean): KernelPath[] {
  const flags = setWasmFlags();
  const out: KernelPath[] = [];
  if (flags.revectorize) out.push('revec4x16');
  if (relaxedValid) out.push('relaxed4x8');
  out.push('simd4x8');
  return out;
}
