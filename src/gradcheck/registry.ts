// The registry of named gradient checks, run by the tests and by `handgrad gradcheck [name…]`.
//
// Adding checks for a new layer or model family (LSTM, attention, MoE, …):
//   1. write src/gradcheck/<family>-checks.ts exporting `const LSTM_CHECKS: GradCheckDef[]`
//      (each `make(ops, rng)` builds a Checkable; see harness.ts and ops-checks.ts for examples);
//   2. add it to BUILT_IN below.
// Code outside this folder (a plugin, a test) can call registerGradCheck() directly instead.
import type { Ops } from '../ops/types.js';
import { ReferenceOps } from '../backends/reference/index.js';
import { Rng, hashString } from '../util/rng.js';
import { DEFAULT_TOLERANCE, gradCheck, type GradCheckOptions, type GradCheckResult } from './harness.js';
import { OPS_CHECKS } from './ops-checks.js';
import { MODEL_CHECKS } from './model-checks.js';
import { CLASSIC_CHECKS } from './classic-checks.js';
import { RECURRENT_CHECKS } from './recurrent-checks.js';
import { TRANSFORMER_CHECKS } from './transformer-checks.js';
import { MEMORY_CHECKS } from './memory-checks.js';
import { SEQ2SEQ_CHECKS } from './seq2seq-checks.js';
import { MOE_CHECKS } from './moe-checks.js';
import { TRANSFORMER_OPS_CHECKS } from './transformer-ops-checks.js';
import type { GradCheckDef } from './types.js';
import { DROPOUT_CHECKS } from './dropout-checks.js';

export type { GradCheckDef } from './types.js';

export interface RunGradChecksOptions {
  /** Backend to check on (default: a fresh float64 reference backend). */
  ops?: Ops;
  /** Base seed for the problems' random values and the sampled entries (default 0). */
  seed?: number;
  /** At most this many entries per tensor (default 64). */
  samples?: number;
  /** Finite-difference step, relative (default 1e-5). */
  step?: number;
  /** Overrides every check's own tolerance. */
  tolerance?: number;
}

const BUILT_IN: GradCheckDef[][] = [OPS_CHECKS, MODEL_CHECKS, CLASSIC_CHECKS, RECURRENT_CHECKS, TRANSFORMER_CHECKS, MEMORY_CHECKS, SEQ2SEQ_CHECKS, MOE_CHECKS, TRANSFORMER_OPS_CHECKS, DROPOUT_CHECKS];

const checks = new Map<string, GradCheckDef>();

export function registerGradCheck(name: string, make: GradCheckDef['make'], tolerance = DEFAULT_TOLERANCE): void {
  if (checks.has(name)) throw new Error(`gradient check '${name}' is already registered`);
  if (!name || /\s/.test(name)) throw new Error(`gradient check name '${name}' must be non-empty with no spaces`);
  checks.set(name, { name, make, tolerance });
}

for (const group of BUILT_IN) for (const def of group) registerGradCheck(def.name, def.make, def.tolerance);

/** The names of every registered check, in registration order. */
export function listGradChecks(): string[] {
  return [...checks.keys()];
}

/**
 * Runs the named checks (all of them when `names` is absent or empty), in the order given.
 * Throws before running anything if a name is unknown. Results are plain JSON-serialisable data.
 */
export function runGradChecks(names?: string[], opts: RunGradChecksOptions = {}): GradCheckResult[] {
  const selected = names && names.length > 0 ? names : listGradChecks();
  const unknown = selected.filter((n) => !checks.has(n));
  if (unknown.length > 0) {
    throw new Error(`unknown gradient check${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `'${n}'`).join(', ')}; ` +
      `known checks: ${listGradChecks().join(', ')}`);
  }
  const ops = opts.ops ?? new ReferenceOps('f64');
  const seed = opts.seed ?? 0;
  return selected.map((name) => {
    const def = checks.get(name)!;
    const mark = ops.mark();
    try {
      const checkable = def.make(ops, new Rng(seed ^ hashString(name)));
      const checkOpts: GradCheckOptions = {
        seed: seed ^ hashString(`${name}/samples`),
        samples: opts.samples,
        step: opts.step,
        tolerance: opts.tolerance ?? def.tolerance,
      };
      // Report under the registered name, whatever the checkable calls itself.
      return { ...gradCheck(checkable, checkOpts), name };
    } finally {
      ops.release(mark);
    }
  });
}
