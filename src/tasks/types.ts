// What a toy task is and what it reports (registered in ./registry.ts). Its own module, below the
// registry and the tasks, so that a task file can name its type without importing the registry
// (which imports every task).

import type { ModelOption } from '../models/types.js';

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
  /** true when the task behaved as the curriculum says (see the top of ./registry.ts). */
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
