// The Python peers' environment and interpreter (bench/peer-env.ts), and the OpenBLAS core they
// report (bench/peers/blas_info.py). No timing: what is checked is what the peer runs with.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BLAS_GUARD_VARIABLES, describeBlasCore, describePeerMalloc, findPython, PEER_MALLOC, peerBlasName, peerEnv, pythonCandidates,
} from '../../bench/peer-env.js';

const peers = join(import.meta.dirname, '..', '..', 'bench', 'peers');
const numpyPython = findPython('numpy').python;
const avx512f = existsSync('/proc/cpuinfo') && /^flags\s*:.*\bavx512f\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));

describe('peerEnv', () => {
  it('removes exactly OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE and sets the thread counts, on a copy', () => {
    const base = {
      OPENBLAS_CORETYPE: 'Haswell', OPENBLAS_L2_SIZE: '512', OPENBLAS_VERBOSE: '2', OPENBLAS_NUM_THREADS: '8', PATH: '/bin', HOME: '/root',
    };
    const before = { ...base };
    const env = peerEnv(2, base);
    expect(BLAS_GUARD_VARIABLES).toEqual(['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE']);
    expect(env).toEqual({
      OPENBLAS_VERBOSE: '2', PATH: '/bin', HOME: '/root', OPENBLAS_NUM_THREADS: '2', OMP_NUM_THREADS: '2', MKL_NUM_THREADS: '2',
      MALLOC_TOP_PAD_: String(512 * 1024 * 1024),
    });
    expect(base).toEqual(before); // the caller's object is untouched
  });

  it('gives the peer glibc\'s 512 MiB top pad (freed temporaries are reused, not faulted in again), unless the caller set one', () => {
    expect(PEER_MALLOC).toEqual({ MALLOC_TOP_PAD_: '536870912' });
    expect(peerEnv(1, { PATH: '/bin' }).MALLOC_TOP_PAD_).toBe('536870912');
    expect(peerEnv(1, { PATH: '/bin', MALLOC_TOP_PAD_: '1048576' }).MALLOC_TOP_PAD_).toBe('1048576');
    expect(peerEnv(1, { PATH: '/bin' }).MALLOC_TRIM_THRESHOLD_).toBeUndefined(); // it would freeze the mmap threshold
    expect(describePeerMalloc(peerEnv(1, { PATH: '/bin' }))).toBe('glibc MALLOC_TOP_PAD_=536870912');
    // set but empty: glibc's own default, said so in the reports
    expect('MALLOC_TOP_PAD_' in peerEnv(1, { PATH: '/bin', MALLOC_TOP_PAD_: '' })).toBe(false);
    expect(describePeerMalloc(peerEnv(1, { PATH: '/bin', MALLOC_TOP_PAD_: '' }))).toBe('glibc malloc defaults');
  });

  it('leaves process.env as it is (our own process keeps its guards)', () => {
    const before = { ...process.env };
    const env = peerEnv(1);
    expect(process.env).toEqual(before);
    for (const name of BLAS_GUARD_VARIABLES) {
      expect(env[name], name).toBeUndefined();
      expect(process.env[name], name).toBe(before[name]);
    }
  });
});

describe('peer interpreter and BLAS core', () => {
  it('tries $HANDGRAD_PYTHON alone when set, else python3 then /usr/bin/python3', () => {
    expect(pythonCandidates({ HANDGRAD_PYTHON: '/opt/py/bin/python' })).toEqual(['/opt/py/bin/python']);
    expect(pythonCandidates({})).toEqual(['python3', '/usr/bin/python3']);
  });

  it('describes the core OpenBLAS chose, or says it is unknown', () => {
    expect(describeBlasCore({ corename: 'Cooperlake', config: 'OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH Cooperlake', library: '/x.so' }))
      .toBe('Cooperlake (OpenBLAS 0.3.21)');
    expect(describeBlasCore({ corename: null, config: null, library: null })).toMatch(/^unknown/);
    expect(describeBlasCore(null)).toMatch(/^unknown/);
  });

  it('names OpenBLAS from the loaded library when NumPy\'s build info says "unknown" (Debian\'s python3-numpy)', () => {
    const core = { corename: 'Cooperlake', config: 'OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH Cooperlake', library: '/x.so' };
    expect(peerBlasName('unknown', core)).toEqual({ name: 'OpenBLAS 0.3.21', openblas: true });
    expect(peerBlasName('scipy-openblas 0.3.31', null)).toEqual({ name: 'scipy-openblas 0.3.31', openblas: true });
    expect(peerBlasName('mkl 2024', { corename: null, config: null, library: null })).toEqual({ name: 'mkl 2024', openblas: false });
  });

  it.skipIf(!numpyPython)('numpy_gemm.py reports the OpenBLAS core it ran on', () => {
    const config = { shapes: [{ m: 8, k: 8, n: 8 }], variants: ['nn'], threads: 1, timing: { reps: 1, minRepSeconds: 0.001, maxCellSeconds: 0.05 } };
    const r = spawnSync(numpyPython!, [join(peers, 'numpy_gemm.py'), JSON.stringify(config)], { encoding: 'utf8', env: peerEnv(1), timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { blas: string; blasCore: { corename: string | null } };
    expect(out).toHaveProperty('blasCore');
    if (/openblas/i.test(out.blas)) expect(out.blasCore.corename).toMatch(/\w/);
  });

  // On an AVX-512 CPU the Haswell guard pins OpenBLAS to its AVX2 kernels: the peer must not inherit it.
  it.skipIf(!numpyPython || !avx512f)('a peer started with peerEnv runs the core OpenBLAS picks, not the forced Haswell one', () => {
    const core = (env: NodeJS.ProcessEnv) => {
      const r = spawnSync(numpyPython!, [join(peers, 'blas_info.py'), 'numpy'], { encoding: 'utf8', env, timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { corename: string | null }).corename;
    };
    const guarded = { ...process.env, OPENBLAS_CORETYPE: 'Haswell', OPENBLAS_L2_SIZE: '512' };
    const forced = core({ ...guarded, OPENBLAS_NUM_THREADS: '1' });
    if (forced === null) return; // not OpenBLAS: nothing to pin
    expect(forced).toBe('Haswell'); // the guard works when passed on …
    expect(core(peerEnv(1, guarded))).not.toBe('Haswell'); // … and the peer environment drops it
  });
});
