// The toy tasks of the curriculum: small problems with a known answer that show what a model can
// and cannot learn (a perceptron cannot do XOR; an LSTM can carry a value across many steps).
// Each task is one file exporting a TaskSpec; `handgrad task <name>` finds it here. Adding one is
// the file plus one line at the bottom of this file.
//
// A task trains its models from scratch, seeded by --seed alone, and returns one plain-data
// TaskResult. The feed-forward tasks run on the float64 reference backend (four-row truth tables:
// nothing to accelerate); the recurrent ones on the WASM backend with one thread (onTaskBackend in
// training.ts: about 15× faster at these sizes, float32, and deterministic on a given machine).
// `passed` means "behaved as the curriculum says":
// for a demonstration of a failure (the perceptron on XOR) that includes failing as expected.
import { XOR_TASK } from './xor.js';
import { GATES_TASK } from './gates.js';
import { MEMORY_TASK } from './memory.js';
import { REVERSE_TASK } from './reverse.js';
import { ADDING_TASK } from './adding.js';
import { NEXT_VALUE_TASK } from './next-value.js';
import { BINARY_MEMORY_TASK } from './binary-memory.js';
import { ASSOCIATIVE_RECALL_TASK } from './associative-recall.js';
import { COPY_TASK, REVERSE_SEQ2SEQ_TASK, SORT_TASK, TRANSLATE_TASK } from './seq2seq-tasks.js';
import { CROW_TASK } from './crow.js';
import type { ResolvedTaskOptions, TaskOption, TaskOptions, TaskResult, TaskSpec } from './types.js';
import { optionFlag, parseOptionValue } from '../models/registry.js';

export type { ResolvedTaskOptions, TaskOption, TaskOptions, TaskResult, TaskSpec } from './types.js';

/** An unknown task name: one line that lists the known ones. */
export class UnknownTaskError extends Error {
  override name = 'UnknownTaskError';
}

const tasks = new Map<string, TaskSpec>();

export function registerTask(spec: TaskSpec): void {
  if (!/^[a-z][a-z0-9-]*$/.test(spec.name)) throw new Error(`task name '${spec.name}' must be lowercase letters, digits and dashes`);
  if (tasks.has(spec.name)) throw new Error(`task '${spec.name}' is already registered`);
  if (!Number.isInteger(spec.defaultSteps) || spec.defaultSteps < 1) throw new Error(`task '${spec.name}': defaultSteps must be an integer ≥ 1`);
  for (const o of spec.options ?? []) {
    if (!(o.key in (spec.defaults ?? {}))) throw new Error(`task '${spec.name}': option '${o.key}' has no default in defaults`);
    if (['seed', 'steps', 'list', 'json', 'plot', 'help'].includes(o.key)) throw new Error(`task '${spec.name}': option '${o.key}' clashes with a task flag`);
  }
  tasks.set(spec.name, spec);
}

export function getTask(name: string): TaskSpec {
  const spec = tasks.get(name);
  if (!spec) throw new UnknownTaskError(`unknown task '${name}' (known tasks: ${[...tasks.keys()].join(', ')})`);
  return spec;
}

/** Every registered task, in registration order. */
export function listTasks(): TaskSpec[] {
  return [...tasks.values()];
}

/** Runs a task by name with its default steps unless given; checks the options first. */
export async function runTask(name: string, opts: TaskOptions): Promise<TaskResult> {
  const spec = getTask(name);
  const steps = opts.steps ?? spec.defaultSteps;
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`task ${name}: steps must be an integer ≥ 1, got ${steps}`);
  if (!Number.isFinite(opts.seed)) throw new RangeError(`task ${name}: seed must be a number, got ${opts.seed}`);
  return spec.run({ seed: opts.seed, steps, options: taskOptions(spec, opts.options ?? {}) });
}

/** The task's defaults with the given options checked and laid over them; a RangeError naming the flag otherwise. */
export function taskOptions(spec: TaskSpec, given: Record<string, unknown>): Record<string, number | string | boolean> {
  const out: Record<string, number | string | boolean> = { ...(spec.defaults ?? {}) };
  for (const [key, raw] of Object.entries(given)) {
    if (raw === undefined) continue;
    const opt = spec.options?.find((o) => o.key === key);
    if (!opt) {
      const known = (spec.options ?? []).map((o) => `--${optionFlag(o.key)}`).join(', ') || 'none';
      throw new RangeError(`task ${spec.name} has no option --${optionFlag(key)} (its options: ${known})`);
    }
    out[key] = parseOptionValue(opt, raw);
  }
  return out;
}

// ---- the built-in tasks: one line each ---------------------------------------------------------
registerTask(XOR_TASK);
registerTask(GATES_TASK);
registerTask(MEMORY_TASK);
registerTask(REVERSE_TASK);
registerTask(ADDING_TASK);
registerTask(NEXT_VALUE_TASK);
registerTask(BINARY_MEMORY_TASK);
registerTask(ASSOCIATIVE_RECALL_TASK);
registerTask(REVERSE_SEQ2SEQ_TASK);
registerTask(COPY_TASK);
registerTask(SORT_TASK);
registerTask(TRANSLATE_TASK);
registerTask(CROW_TASK);
