// `handgrad import <weights.safetensors> --model KIND [options] --out RUN`: a run folder from
// weights in our layout (src/interop/import.ts; docs/weights.md). Model options are the flags
// `handgrad train` takes for that model; the file's handgrad.* metadata fills in what is left out.
import type { Command } from 'commander';
import { parseInteger, UsageError } from '../args.js';
import type { CliContext } from '../context.js';
import { CheckpointWriteError } from '../../train/checkpoint.js';
import { knownNames, listModels, optionFlag, type ModelOption } from '../../models/registry.js';
import { importWeights } from '../../interop/import.js';
import { ImportError } from '../../interop/errors.js';

interface ImportCliOptions {
  model?: string;
  tokenizer?: string;
  out: string;
  seed?: number;
  json?: boolean;
  [modelOption: string]: unknown;
}

/** commander's camelCase property for a flag name: "d-model" → "dModel". */
const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Every model option key once, with the models that take it. */
function modelOptionFlags(): { key: string; opt: ModelOption; models: string[] }[] {
  const byKey = new Map<string, { key: string; opt: ModelOption; models: string[] }>();
  for (const spec of listModels()) {
    for (const opt of spec.options) {
      const e = byKey.get(opt.key) ?? { key: opt.key, opt, models: [] };
      e.models.push(spec.name);
      byKey.set(opt.key, e);
    }
  }
  return [...byKey.values()];
}

export function registerImport(program: Command, ctx: CliContext): void {
  const cmd = program.command('import')
    .description('build a run folder from a safetensors file of weights in handgrad\'s layout (docs/weights.md)')
    .argument('<weights>', 'a .safetensors file (F32 or F64), tensors named as in docs/weights.md')
    .option('--model <kind>', `the model: ${knownNames().join(', ')} (default: the file's handgrad.kind metadata)`)
    .option('--tokenizer <file>', 'the tokenizer: handgrad JSON ({"kind": "char", "chars": [...]}, …) or a tokenizer.json ' +
      'from `handgrad export --format hf` (default: the file\'s handgrad.tokenizer metadata)')
    .requiredOption('--out <dir>', 'the run folder to write (new or empty)')
    .option('--seed <n>', 'recorded as the run\'s seed (default 0)', parseInteger('--seed', 0, 2 ** 32 - 1))
    .option('--json', 'print the summary as one JSON object, the last line of stdout');
  const modelFlags = modelOptionFlags();
  for (const { key, opt, models } of modelFlags) {
    const arg = opt.type === 'boolean' ? '' : opt.type === 'choice' ? ' <choice>' : opt.type === 'int' ? ' <n>' : ' <x>';
    cmd.option(`--${optionFlag(key)}${arg}`, `${opt.description} (models: ${models.join(', ')})`);
  }
  cmd.action(async (weights: string, opts: ImportCliOptions) => {
    ctx.jsonMode = !!opts.json;
    const modelOptions: Record<string, unknown> = {};
    for (const { key } of modelFlags) {
      const v = opts[camel(optionFlag(key))];
      if (v !== undefined) modelOptions[key] = v;
    }
    let summary;
    try {
      summary = await importWeights({ weights, kind: opts.model, modelOptions, tokenizer: opts.tokenizer, out: opts.out, seed: opts.seed });
    } catch (e) {
      if (e instanceof ImportError || e instanceof CheckpointWriteError) throw new UsageError(`import: ${e.message}`);
      throw e;
    }
    ctx.print(`imported ${summary.tensors} tensors (${summary.params} parameters, ${summary.dtype}) as a ${summary.kind} run in ${summary.out} ` +
      `(${summary.tokenizer} tokenizer, vocabulary ${summary.vocabSize})`);
    if (opts.json) ctx.json(summary);
  });
}
