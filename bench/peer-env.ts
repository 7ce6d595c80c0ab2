// How the benchmarks start their Python peers (NumPy/OpenBLAS, PyTorch on the CPU): which
// interpreter, and with which environment.
//
// Environment: the peer gets a copy of ours with its BLAS thread count set and the two OpenBLAS
// guards removed. OPENBLAS_CORETYPE (e.g. "Haswell") and OPENBLAS_L2_SIZE are set on some machines
// to work around old OpenBLAS builds misdetecting new CPUs; on an AVX-512 core they pin OpenBLAS to
// its AVX2 kernels and halve it (NumPy sgemm 512³, 1 thread, on an AMD family 26 core: 102 GFLOP/s
// forced, 199 free). A peer measured that way is not the peer at full strength, so the peers run
// without them. Only the peer's own environment changes: never process.env (our process, the tests
// and CI keep whatever guard they were given). The report names the core OpenBLAS chose
// (bench/peers/blas_info.py), so a forced kernel would show.
//
// Memory: the peer also gets MALLOC_TOP_PAD_ (512 MiB) unless the caller's environment sets it.
// With glibc's defaults a training step's large temporaries (tensors of a few MiB) are handed back
// to the kernel when freed (the heap top is trimmed, or they were mmap'd) and fault in again as
// fresh zeroed pages on the next step; PyTorch's CPU allocator and NumPy's temporaries both go
// through malloc. Measured on an AMD family 26 core (2026-12-06, 1 thread, torch 1.13, same
// configs as bench/train.ts, medians of 6–28-step turns): the LSTM's steps were bimodal, ~18k or
// ~36k tokens/s from one step to the next (a turn's median 20–40k), and the transformer ran
// 5.1–7.7k tokens/s; with the padding, 32–41k and 13–15k, step after step. A top pad keeps that
// much free memory at the heap top instead of trimming it, so freed temporaries are reused without
// faults (glibc's mmap threshold still rises on its own to the sizes freed, which puts them on the
// heap). MALLOC_TRIM_THRESHOLD_ is not used: setting it freezes the mmap threshold at 128 KiB, and
// PyTorch then ran ten times slower.
//
// Interpreter: the first of $HANDGRAD_PYTHON (alone, when set), `python3`, `/usr/bin/python3` in
// which the peer's module imports — a pyenv `python3` often lacks the distribution's python3-numpy
// and python3-torch, which go to /usr/bin/python3.
import { spawnSync } from 'node:child_process';

/** The OpenBLAS guard variables a peer runs without. */
export const BLAS_GUARD_VARIABLES: readonly string[] = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'];

/** glibc malloc settings a peer gets where the caller's environment has none (see the top of this file). */
export const PEER_MALLOC: Readonly<Record<string, string>> = { MALLOC_TOP_PAD_: String(512 * 1024 * 1024) };

/**
 * A peer's environment: a copy of `base` (default process.env, which is left as it is) without the
 * OpenBLAS guards, with OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and MKL_NUM_THREADS set to `threads`,
 * and PEER_MALLOC where `base` does not set those variables itself.
 */
export function peerEnv(threads: number, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...PEER_MALLOC, ...base };
  for (const name of BLAS_GUARD_VARIABLES) delete env[name];
  const t = String(threads);
  env.OPENBLAS_NUM_THREADS = t;
  env.OMP_NUM_THREADS = t;
  env.MKL_NUM_THREADS = t;
  return env;
}

/** The peer's malloc settings as the reports name them, e.g. "glibc MALLOC_TOP_PAD_=536870912". */
export function describePeerMalloc(env: NodeJS.ProcessEnv = peerEnv(1)): string {
  return 'glibc ' + Object.keys(PEER_MALLOC).map((name) => `${name}=${env[name]}`).join(' ');
}

/** The BLAS core a peer reported (blas_info.py), as the reports print it. */
export interface BlasCore { corename: string | null; config: string | null; library: string | null }

/** "Cooperlake (OpenBLAS 0.3.21 …)" or "unknown": the one phrase every report uses. */
export function describeBlasCore(core: BlasCore | null | undefined): string {
  if (!core?.corename) return 'unknown (not OpenBLAS, or it could not be asked)';
  const version = core.config?.match(/OpenBLAS \S+/)?.[0];
  return version ? `${core.corename} (${version})` : core.corename;
}

/**
 * The BLAS a NumPy peer runs on, as the reports name it. NumPy's build info says "unknown" when it
 * was built against the generic libblas.so.3 (Debian's python3-numpy), although the library loaded
 * at run time is OpenBLAS: a core name from blas_info.py settles it.
 */
export function peerBlasName(buildInfo: string, core: BlasCore | null | undefined): { name: string; openblas: boolean } {
  if (core?.corename) return { name: core.config?.match(/OpenBLAS \S+/)?.[0] ?? 'OpenBLAS', openblas: true };
  return { name: buildInfo, openblas: /openblas/i.test(buildInfo) };
}

export type PeerModule = 'numpy' | 'torch';

/** A Python in which the module imports, or null with a one-line reason. */
export interface PeerPython { python: string | null; note: string }

const found = new Map<string, PeerPython>();

/** The interpreters tried, in order: $HANDGRAD_PYTHON alone when set, else `python3` then `/usr/bin/python3`. */
export function pythonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  return env.HANDGRAD_PYTHON ? [env.HANDGRAD_PYTHON] : ['python3', '/usr/bin/python3'];
}

/** The first candidate in which `import <module>` works; cached per module for the process. */
export function findPython(module: PeerModule): PeerPython {
  const cached = found.get(module);
  if (cached) return cached;
  const override = process.env.HANDGRAD_PYTHON;
  const tried: string[] = [];
  let result: PeerPython | null = null;
  for (const py of pythonCandidates()) {
    const r = spawnSync(py, ['-c', `import ${module}`], { stdio: 'ignore', timeout: 60_000, env: peerEnv(1) });
    if (r.status === 0) { result = { python: py, note: '' }; break; }
    tried.push(r.error ? `${py}: ${r.error.message}` : `${py}: import ${module} fails`);
  }
  result ??= {
    python: null,
    note: `not available (no Python with ${module}; tried ${tried.join(', ')}${override ? ' from HANDGRAD_PYTHON' : '; set HANDGRAD_PYTHON'})`,
  };
  found.set(module, result);
  return result;
}
