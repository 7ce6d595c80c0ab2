// What a named gradient check is (registered in ./registry.ts). Its own module, below the registry
// and the *-checks.ts files, so that those can name it without importing the registry (which
// imports them all).
import type { Ops } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import type { Checkable } from './harness.js';

export interface GradCheckDef {
  /** Unique name, used on the command line: lowercase-ish, no spaces (e.g. "lstm", "gemm-NT"). */
  name: string;
  /**
   * Builds the problem on `ops`, drawing every random value from `rng` (seeded per check from
   * its name, so a check gives the same numbers whether run alone or with all the others).
   */
  make: (ops: Ops, rng: Rng) => Checkable;
  /** Pass/fail threshold on the norm-based relative error (default 1e-6). */
  tolerance?: number;
}
