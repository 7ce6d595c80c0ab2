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
import { optionFlag, parseOptionValue, type ModelOption } from '../models/registry.js';

/**
 * A task-specific setting, settable as `--<kebab-case key>` on `handgrad task` (the same shape as a
 * model option; tasks that share a key share the flag, so keep the meanings the same).
 */
export type TaskOption = ModelOption;

export interface TaskOptions {
  /** Seeds every random draw: weights, data, order. */
  seed: number;
  /** Training steps (default: the task's defaultSteps). */
  steps?: number;
  /** Task-specific settings by key (TaskSpec.options), given as values or CLI text; the rest take the defaults. */
  options?: Record<string, unknown>;
}

/** What a task's run() receives: the options checked and filled in. */
export interface ResolvedTaskOptions {
  seed: number;
  steps: number;
  options: Record<string, number | string | boolean>;
}

/** What a task reports: the headline number, the goal, and whatever details explain it. */
export interface TaskResult {
  task: string;
  /** What `value` measures, in words (e.g. 'held-out exact-match accuracy'). */
  metric: string;
  value: number;
  /** The goal `value` is judged against, in words (e.g. '= 1', '≤ 5e-4'). */
  goal: string;
  /** true when the task behaved as the curriculum says (see the top of this file). */
  passed: boolean;
  seed: number;
  /** Training steps taken (per model, where a task trains several). */
  steps: number;
  /** Human-readable sentences explaining the result (printed by the CLI, kept in the JSON). */
  notes: string[];
  /** Task-specific details: plain JSON data. */
  [detail: string]: unknown;
}

export interface TaskSpec {
  /** What `handgrad task <name>` takes. */
  name: string;
  /** One line for `--list`. */
  description: string;
  defaultSteps: number;
  /** The settings a user may change (default: none), each with its default in `defaults`. */
  options?: readonly TaskOption[];
  defaults?: Readonly<Record<string, number | string | boolean>>;
  run(opts: ResolvedTaskOptions): TaskResult | Promise<TaskResult>;
}

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
