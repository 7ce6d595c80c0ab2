// What a toy task is and what it reports (registered in ./registry.ts). Its own module, below the
// registry and the tasks, so that a task file can name its type without importing the registry
// (which imports every task).

export interface TaskOptions {
  /** Seeds every random draw: weights, data, order. */
  seed: number;
  /** Training steps (default: the task's defaultSteps). */
  steps?: number;
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
  run(opts: TaskOptions): TaskResult | Promise<TaskResult>;
}
