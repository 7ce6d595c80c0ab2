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
// PyTorch's CPU tensors and NumPy's temporaries come from glibc's malloc. With its defaults, the
// heap top freed at the end of a training step is trimmed (returned to the kernel) and grown again
// by the next step, whose memory then faults in as fresh zeroed pages. Measured on an AMD family 26
// core (2026-12-06), PyTorch 1.13's LSTM peer at our medium config, 30 steps, 1 thread: default
// 21.1k tokens/s, 128,706 minor page faults, 658 brk calls; with the top pad 40.2k tokens/s, 45,133
// faults, 3 brk calls (mmap and munmap counts unchanged). Its transformer went from 5.1–7.7k to
// 13–15k tokens/s. The pad keeps that much free memory at the heap top, so a step's large requests
// are served from it and nothing is trimmed. MALLOC_TRIM_THRESHOLD_ is not used: set alone it also
// freezes the mmap threshold at 128 KiB while the top stays small, so large requests are mmap'd and
// unmapped every time (8,144 mmap calls, 1.4 M faults, 2.4k tokens/s).
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
 * and PEER_MALLOC where `base` does not set those variables itself (set to the empty string: left
 * out, glibc's default).
 */
export function peerEnv(threads: number, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...PEER_MALLOC, ...base };
  for (const name of BLAS_GUARD_VARIABLES) delete env[name];
  // Set but empty: glibc's own default (any value, even its default one, also freezes the mmap threshold).
  for (const name of Object.keys(PEER_MALLOC)) if (env[name] === '') delete env[name];
  const t = String(threads);
  env.OPENBLAS_NUM_THREADS = t;
  env.OMP_NUM_THREADS = t;
  env.MKL_NUM_THREADS = t;
  return env;
}

/**
 * The peer's malloc settings as the reports name them, e.g. "glibc MALLOC_TOP_PAD_=536870912"
 * (what the peer was given: a Python on another C library ignores it, and a GLIBC_TUNABLES
 * top_pad the caller set would take precedence).
 */
export function describePeerMalloc(env: NodeJS.ProcessEnv = peerEnv(1)): string {
  const set = Object.keys(PEER_MALLOC).filter((name) => env[name] !== undefined);
  return set.length === 0 ? 'glibc malloc defaults' : 'glibc ' + set.map((name) => `${name}=${env[name]}`).join(' ');
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
