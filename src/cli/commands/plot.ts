// `handgrad plot RUN_DIR [--out FILE.svg]`: the run's loss (train and validation), learning-rate
// and gradient-norm curves as SVG (src/viz). Without --out: loss.svg, lr.svg and grad-norm.svg in
// RUN_DIR; with --out: one file holding the three charts one above the other. A Mixture-of-Experts
// run (metrics with `expertLoad`) also gets expert-load.svg: one chart per layer, the share of
// routed tokens per expert against step (src/viz/expert-load.ts); with --out, they go below the rest.
// Several run folders with --out: their validation and training losses on shared charts
// (src/viz/compare.ts), e.g. `handgrad plot runs/moe runs/moe-dense --out moe-vs-dense.svg`.
import { statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../args.js';
import type { CliContext } from '../context.js';
import { loadRun, runCharts, RunDirError } from '../../viz/run.js';
import { expertLoadCharts, expertLoadHistory, expertLoadSvg } from '../../viz/expert-load.js';
import { compareCharts } from '../../viz/compare.js';
import { stackSvgs } from '../../viz/svg.js';
import { CheckpointError, writeFileAtomic } from '../../train/checkpoint.js';
import { PLOT_FILES } from '../../train/run-folder.js';

/** Checks that `out` can be written as a file of the given extension (exit 2 before any work otherwise). */
export function checkOutFile(cmd: string, out: string, ext: string): void {
  if (!out.toLowerCase().endsWith(ext)) throw new UsageError(`${cmd}: --out expects a file name ending in ${ext}, got '${out}'`);
  let st;
  try { st = statSync(out); } catch { st = null; }
  if (st?.isDirectory()) throw new UsageError(`${cmd}: --out ${out}: is a folder, expected a ${ext} file name`);
  let parent;
  try { parent = statSync(dirname(resolve(out))); } catch { parent = null; }
  if (!parent?.isDirectory()) throw new UsageError(`${cmd}: --out ${out}: the folder ${dirname(out)} does not exist`);
}

export function registerPlot(program: Command, ctx: CliContext): void {
  program.command('plot')
    .description('draw a training run\'s loss, learning-rate and gradient-norm curves (and a MoE run\'s expert load) as SVG')
    .argument('<runDir...>', 'the --out folder of `handgrad train` (reads its metrics.jsonl); several with --out: compared on shared charts')
    .option('--out <file.svg>', 'one SVG file with all three charts (default: loss.svg, lr.svg, grad-norm.svg in RUN_DIR)')
    .option('--title <text>', 'several runs: a title for the comparison charts')
    .option('--json', 'print the written files as one JSON object, the last line of stdout')
    .action((dirs: string[], opts: { out?: string; title?: string; json?: boolean }) => {
      ctx.jsonMode = !!opts.json;
      if (opts.out !== undefined) checkOutFile('plot', opts.out, '.svg');
      if (dirs.length > 1 && opts.out === undefined) {
        throw new UsageError(`plot: ${dirs.length} run folders need --out FILE.svg for the comparison (one folder writes its own charts)`);
      }
      const load = (d: string) => {
        try { return loadRun(d); } catch (e) {
          if (e instanceof RunDirError || e instanceof CheckpointError) throw new UsageError(`plot: ${e.message}`);
          throw e;
        }
      };
      if (dirs.length > 1) {
        const runs = dirs.map(load);
        writeFileAtomic(opts.out!, stackSvgs(compareCharts(runs, { title: opts.title })));
        ctx.print(`wrote ${opts.out} (${runs.length} runs compared)`);
        if (opts.json) ctx.json({ runs: dirs, files: [opts.out], steps: runs.map((r) => r.metrics.length) });
        return;
      }
      const dir = dirs[0];
      const run = load(dir);
      const charts = runCharts(run);
      const experts = expertLoadHistory(run.metrics);
      const files: string[] = [];
      if (opts.out !== undefined) {
        const layers = experts ? expertLoadCharts(experts) : [];
        writeFileAtomic(opts.out, stackSvgs([charts.loss, charts.lr, charts.gradNorm, ...layers]));
        files.push(opts.out);
      } else {
        const outputs: [string, string][] = [[PLOT_FILES.loss, charts.loss], [PLOT_FILES.lr, charts.lr], [PLOT_FILES.gradNorm, charts.gradNorm]];
        if (experts) outputs.push([PLOT_FILES.expertLoad, expertLoadSvg(experts, { title: 'Share of routed tokens per expert' }).trimEnd()]);
        for (const [name, svg] of outputs) {
          writeFileAtomic(join(dir, name), svg + '\n');
          files.push(join(dir, name));
        }
      }
      ctx.print(`wrote ${files.join(', ')} (${run.metrics.length} steps from ${run.metricsSource})`);
      if (opts.json) ctx.json({ run: dir, files, steps: run.metrics.length, source: run.metricsSource });
    });
}
