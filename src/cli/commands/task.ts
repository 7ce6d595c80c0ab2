// `handgrad task <name>`: runs one of the toy tasks (src/tasks/registry.ts) and prints its
// result; `handgrad task --list` lists them. The exit code is 0 whatever the task shows (a
// demonstration of a failure, such as the perceptron on XOR, is a result, not an error); only a
// mistake in the command line exits 2.
//
// Task options (--attention, --beam, --length-norm on the seq2seq tasks; --depth, --hidden,
// --activation, --init on the classifier tasks; --holdout on crow): every option any task declares
// is a flag here, and the chosen task refuses the ones it does not have.
import type { Command } from 'commander';
import { performance } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import { alignmentSvg } from '../../viz/alignment-svg.js';
import { parseInteger, UsageError } from '../args.js';
import type { CliContext } from '../context.js';
import { getTask, listTasks, runTask, taskOptions, UnknownTaskError, type TaskOption, type TaskSpec } from '../../tasks/registry.js';
import { optionFlag } from '../../models/registry.js';

interface TaskCliOptions {
  seed: number;
  steps?: number;
  list?: boolean;
  json?: boolean;
  plot?: string;
  [taskOption: string]: unknown;
}

/** Every task option key, once, with the tasks that take it (for the help text). */
function taskOptionFlags(): { key: string; opt: TaskOption; tasks: string[] }[] {
  const byKey = new Map<string, { key: string; opt: TaskOption; tasks: string[] }>();
  for (const t of listTasks()) {
    for (const opt of t.options ?? []) {
      const e = byKey.get(opt.key) ?? { key: opt.key, opt, tasks: [] };
      e.tasks.push(t.name);
      byKey.set(opt.key, e);
    }
  }
  return [...byKey.values()];
}

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function registerTask(program: Command, ctx: CliContext): void {
  const cmd = program.command('task')
    .description('run a toy task (xor, gates, memory, …) and report its metric against the goal')
    .argument('[name]', 'the task to run (see --list)')
    .option('--seed <n>', 'seed for weights and data', parseInteger('--seed', 0, 2 ** 32 - 1), 1)
    .option('--steps <n>', 'training steps (default: the task\'s own)', parseInteger('--steps', 1, 10_000_000))
    .option('--list', 'list the tasks and exit')
    .option('--json', 'print one JSON object as the last line of stdout')
    .option('--plot <file.svg>', 'tasks with attention: write the first held-out example\'s alignment as an SVG heatmap');
  // Task options: raw text here, checked by the chosen task's spec.
  const flags = taskOptionFlags();
  for (const { key, opt, tasks } of flags) {
    const arg = opt.type === 'boolean' ? '' : opt.type === 'choice' ? ' <choice>' : opt.type === 'int' ? ' <n>' : ' <x>';
    const choices = opt.type === 'choice' ? `: ${opt.choices.join(', ')}` : '';
    cmd.option(`--${optionFlag(key)}${arg}`, `${opt.description}${choices} (tasks: ${tasks.join(', ')})`);
  }
  cmd
    .action(async (name: string | undefined, opts: TaskCliOptions) => {
      ctx.jsonMode = !!opts.json;
      const all = listTasks();
      if (opts.list) {
        const width = Math.max(...all.map((t) => t.name.length));
        for (const t of all) ctx.print(`${t.name.padEnd(width)}  ${t.description} (${t.defaultSteps} steps)`);
        if (opts.json) ctx.json({ tasks: all.map((t) => ({ name: t.name, description: t.description, defaultSteps: t.defaultSteps })) });
        return;
      }
      const names = all.map((t) => t.name).join(', ');
      if (name === undefined) throw new UsageError(`task: missing task name (expected one of ${names}; or --list)`);
      let spec: TaskSpec;
      try {
        spec = getTask(name);
      } catch (e) {
        if (e instanceof UnknownTaskError) throw new UsageError(`task: ${e.message}`);
        throw e;
      }
      if (opts.plot !== undefined && !opts.plot.endsWith('.svg')) throw new UsageError(`task: --plot wants a file name ending in .svg, got '${opts.plot}'`);
      const steps = opts.steps ?? spec.defaultSteps;
      const given: Record<string, unknown> = {};
      for (const { key } of flags) {
        const v = opts[camel(optionFlag(key))];
        if (v !== undefined) given[key] = v;
      }
      try { taskOptions(spec, given); } catch (e) {
        if (e instanceof RangeError) throw new UsageError(`task: ${e.message}`);
        throw e;
      }
      const shown = Object.entries(given).map(([k, v]) => `, --${optionFlag(k)} ${String(v)}`).join('');
      ctx.note(`task ${spec.name}: seed ${opts.seed}, ${steps} steps${shown}…`);
      const t0 = performance.now();
      const result = await runTask(spec.name, { seed: opts.seed, steps, options: given });
      const seconds = (performance.now() - t0) / 1000;
      for (const line of result.notes) ctx.print(`  ${line}`);
      ctx.print(`${result.task}: ${result.metric} = ${formatValue(result.value)} (goal: ${result.goal}) ` +
        `${result.passed ? 'PASS' : 'NOT MET'} in ${seconds.toFixed(1)} s`);
      if (opts.plot !== undefined) {
        const a = result.alignment as number[][] | null | undefined;
        if (!Array.isArray(a) || a.length === 0) {
          ctx.note(`task ${spec.name}: no alignment matrix in its result: --plot writes nothing`);
        } else {
          const labels = result.alignmentLabels as { rows: string[]; cols: string[] } | null | undefined;
          const rows = labels?.rows ?? a.map((_, i) => String(i)), cols = labels?.cols ?? a[0].map((_, j) => String(j));
          writeFileSync(opts.plot, alignmentSvg(a, rows, cols, { title: `${spec.name}: attention of the first held-out example (seed ${opts.seed})` }) + '\n');
          ctx.note(`task ${spec.name}: alignment written to ${opts.plot}`);
        }
      }
      if (opts.json) ctx.json({ ...result, seconds });
    });
}

function formatValue(v: number): string {
  return Number.isInteger(v) || (Math.abs(v) >= 0.01 && Math.abs(v) < 1000) ? String(Number(v.toPrecision(4))) : v.toExponential(2);
}
