// `handgrad export <run> --format onnx|hf|safetensors`: writes a run's model for other tools
// (src/interop/export.ts does the work; docs/weights.md describes every layout).
import { existsSync, readdirSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { parseChoice, UsageError } from '../args.js';
import type { CliContext } from '../context.js';
import { CheckpointError, CheckpointWriteError } from '../../train/checkpoint.js';
import { UnknownModelError } from '../../models/registry.js';
import { defaultExportPath, EXPORT_FORMATS, exportRun, type ExportFormat } from '../../interop/export.js';
import { ExportError } from '../../interop/errors.js';

interface ExportCliOptions {
  format: ExportFormat;
  out?: string;
  force?: boolean;
  json?: boolean;
}

/** Whether writing an export to `out` would replace something: a file, or a folder with files in it. */
function wouldReplace(out: string): boolean {
  if (!existsSync(out)) return false;
  return !statSync(out).isDirectory() || readdirSync(out).length > 0;
}

export function registerExport(program: Command, ctx: CliContext): void {
  program.command('export')
    .description('write a run\'s model as ONNX, a Hugging Face-style folder, or one safetensors file (layouts: docs/weights.md)')
    .argument('<run>', 'the --out folder of `handgrad train` (or of `handgrad import`)')
    .requiredOption('--format <kind>', 'onnx (the forward pass; rnn, lstm, gru, transformer, moe, moe-dense), ' +
      'hf (config.json, model.safetensors, tokenizer.json) or safetensors (our layout + metadata, what import reads)',
      parseChoice('--format', EXPORT_FORMATS))
    .option('--out <path>', 'the file (onnx, safetensors) or folder (hf) to write (default: <run name>.onnx, .safetensors or -hf, here)')
    .option('--force', 'replace an existing --out (a file, or the files of the same names in a folder)')
    .option('--json', 'print one JSON object as the last line of stdout')
    .action(async (run: string, opts: ExportCliOptions) => {
      ctx.jsonMode = !!opts.json;
      // An earlier export (perhaps of another run) is somebody's work: replace it only when asked.
      const out = opts.out ?? defaultExportPath(run, opts.format);
      if (!opts.force && wouldReplace(out)) {
        throw new UsageError(`export: --out ${out} already exists; pass --force to replace it, or another --out`);
      }
      let summary;
      try {
        summary = await exportRun(run, opts.format, out);
      } catch (e) {
        if (e instanceof ExportError || e instanceof CheckpointError || e instanceof UnknownModelError || e instanceof CheckpointWriteError) {
          throw new UsageError(`export: ${e.message}`);
        }
        throw e;
      }
      const what = summary.format === 'hf'
        ? `${summary.files.length} files in ${summary.out}${summary.architecture ? ` (${summary.architecture} names)` : ' (handgrad names)'}`
        : summary.out;
      ctx.print(`exported ${summary.kind} from ${run} as ${summary.format}: ${what}, ${summary.bytes} bytes`);
      for (const n of summary.notes) ctx.note(`export: ${n}`);
      if (opts.json) ctx.json(summary);
    });
}
