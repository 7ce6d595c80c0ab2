// `handgrad report RUN_DIR [--out report.html]`: one self-contained HTML page for a training run
// (src/viz/report.ts): final figures, curves as inline SVG, settings, samples from the checkpoint.
import { join } from 'node:path';
import type { Command } from 'commander';
import { parseChoice, parseInteger, UsageError } from '../args.js';
import { parseNumber } from '../values.js';
import type { CliContext } from '../context.js';
import { collectReport, renderReport } from '../../viz/report.js';
import { RunDirError } from '../../viz/run.js';
import { CheckpointError, writeFileAtomic } from '../../train/checkpoint.js';
import { UnknownModelError } from '../../models/registry.js';
import type { BackendName } from '../../backends/index.js';
import { checkOutFile } from './plot.js';

interface ReportCliOptions {
  out?: string;
  samples: number;
  length: number;
  temperature: number;
  seed: number;
  backend: BackendName;
  json?: boolean;
}

export function registerReport(program: Command, ctx: CliContext): void {
  program.command('report')
    .description('write a self-contained HTML report of a training run: curves, settings, samples')
    .argument('<runDir>', 'the --out folder of `handgrad train`')
    .option('--out <file.html>', 'where to write it (default RUN_DIR/report.html)')
    .option('--samples <n>', 'samples drawn from the checkpoint', parseInteger('--samples', 0, 100), 3)
    .option('--length <n>', 'tokens per sample', parseInteger('--length', 1, 100_000), 300)
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', parseNumber('--temperature', { min: 0 }), 0.8)
    .option('--seed <n>', 'seed of the first sample (the others: seed+1, …)', parseInteger('--seed', 0, 2 ** 32 - 101), 1)
    .option('--backend <name>', 'wasm or reference', parseChoice('--backend', ['wasm', 'reference'] as const), 'wasm')
    .option('--json', 'print what was written as one JSON object, the last line of stdout')
    .action(async (dir: string, opts: ReportCliOptions) => {
      ctx.jsonMode = !!opts.json;
      const out = opts.out ?? join(dir, 'report.html');
      if (opts.out !== undefined) checkOutFile('report', opts.out, '.html');
      let input;
      try {
        input = await collectReport(dir, opts);
      } catch (e) {
        if (e instanceof RunDirError || e instanceof CheckpointError || e instanceof UnknownModelError) throw new UsageError(`report: ${e.message}`);
        throw e;
      }
      writeFileAtomic(out, renderReport(input));
      ctx.print(`wrote ${out}`);
      if (opts.json) ctx.json({ run: dir, out, samples: input.samples.length });
    });
}
