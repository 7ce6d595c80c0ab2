// `handgrad train <model>`: parses the options and hands them to the one training loop
// (src/train/trainer.ts). Model-specific options (--hidden, --layers, …) come from the model
// registry: every option any registered model declares is a flag here, and the chosen model
// refuses the ones it does not have.
import type { Command } from 'commander';
import { parseChoice, parseInteger, UsageError } from '../args.js';
import { parseDurationOption, parseNumber } from '../values.js';
import type { CliContext } from '../main.js';
import { getModel, knownNames, listModels, optionFlag, UnknownModelError, type ModelOption } from '../../models/registry.js';
import { OPTIMIZER_KINDS, type OptimizerKind } from '../../train/optimizers.js';
import { SCHEDULE_KINDS, type ScheduleKind } from '../../train/schedules.js';
import { SAMPLER_KINDS, type SamplerKind } from '../../data/batcher.js';
import { TOKENIZER_KINDS, type TokenizerKind } from '../../data/tokenizer.js';
import { CorpusError } from '../../data/corpus.js';
import { train, TRAIN_DEFAULTS, TrainConfigError } from '../../train/trainer.js';
import { createProgressReporter } from '../../train/progress.js';
import type { BackendName } from '../../ops/index.js';

interface TrainCliOptions {
  data?: string;
  tokenizer?: TokenizerKind;
  vocabSize?: number;
  steps?: number;
  time?: number;
  batch?: number;
  seq?: number;
  lr?: number;
  optimizer?: OptimizerKind;
  weightDecay?: number;
  schedule?: ScheduleKind;
  warmup?: number;
  minLr?: number;
  clip?: number;
  seed?: number;
  valEvery?: number;
  valFraction?: number;
  valBatches?: number;
  sampler?: SamplerKind;
  out?: string;
  threads?: number;
  backend?: BackendName;
  json?: boolean;
  [modelOption: string]: unknown;
}

/** commander's camelCase property for a flag name: "embed-size" → "embedSize". */
function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Every model option key, once, with the models that take it (for the help text). */
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

export function registerTrain(program: Command, ctx: CliContext): void {
  const d = TRAIN_DEFAULTS;
  const cmd = program.command('train')
    .description('train a sequence model on a text corpus and write a checkpoint')
    .argument('<model>', `the model to train: ${knownNames().join(', ')}`)
    .option('--data <file|name>', 'a text file, or a corpus name looked up in $HANDGRAD_DATA (alice, crow, tinystories, …); ' +
      'default: Moby Dick, embedded')
    .option('--tokenizer <kind>', `${TOKENIZER_KINDS.join(' or ')} (default ${d.tokenizer})`, parseChoice('--tokenizer', TOKENIZER_KINDS))
    .option('--vocab-size <n>', 'word tokenizer: keep the n−1 most frequent tokens plus <unk> (default 10000)', parseInteger('--vocab-size', 2))
    .option('--steps <n>', `optimizer steps (default ${d.steps}, or unlimited with --time)`, parseInteger('--steps', 1))
    .option('--time <duration>', 'stop after this long, e.g. 30s, 5m, 1h (with --steps: whichever comes first)', parseDurationOption('--time'))
    .option('--batch <n>', `parallel sequences per step (default ${d.batch})`, parseInteger('--batch', 1, 1 << 16))
    .option('--seq <n>', `time steps per window, the BPTT length (default ${d.seq})`, parseInteger('--seq', 1, 1 << 20))
    .option('--lr <x>', `peak learning rate (default ${d.lr}, or the model's own)`, parseNumber('--lr', { min: 0, minExclusive: true }))
    .option('--optimizer <kind>', `${OPTIMIZER_KINDS.join(', ')} (default ${d.optimizer})`, parseChoice('--optimizer', OPTIMIZER_KINDS))
    .option('--weight-decay <x>', 'weight decay (default 0)', parseNumber('--weight-decay', { min: 0 }))
    .option('--schedule <kind>', `learning-rate schedule: ${SCHEDULE_KINDS.join(', ')} (default ${d.schedule})`, parseChoice('--schedule', SCHEDULE_KINDS))
    .option('--warmup <n>', 'linear warmup steps (default 0)', parseInteger('--warmup', 0))
    .option('--min-lr <x>', 'cosine schedule: the final learning rate (default 0)', parseNumber('--min-lr', { min: 0 }))
    .option('--clip <x>', `global gradient-norm limit, 0 for none (default ${d.clip})`, parseNumber('--clip', { min: 0 }))
    .option('--seed <n>', `seed for weights, data order and everything else random (default ${d.seed})`, parseInteger('--seed', 0, 2 ** 32 - 1))
    .option('--val-every <n>', `validation every n steps, 0 for only at the end (default ${d.valEvery})`, parseInteger('--val-every', 0))
    .option('--val-fraction <x>', `held-out tail of the corpus, 0 for none (default ${d.valFraction})`,
      parseNumber('--val-fraction', { min: 0, max: 1, maxExclusive: true }))
    .option('--val-batches <n>', `at most n windows per validation (default ${d.valBatches})`, parseInteger('--val-batches', 1))
    .option('--sampler <kind>', 'sequential (BPTT, carried state) or random windows (default: by model)', parseChoice('--sampler', SAMPLER_KINDS))
    .option('--out <dir>', 'checkpoint folder (default runs/<model>-<timestamp>)')
    .option('--threads <n>', 'wasm backend: threads for large products (default: every core)', parseInteger('--threads', 1, 256))
    .option('--backend <name>', 'wasm (f32 SIMD) or reference (f64 TypeScript) (default wasm)', parseChoice('--backend', ['wasm', 'reference'] as const))
    .option('--json', 'print the summary as one JSON object, the last line of stdout');

  // Model options: raw text here, checked by the chosen model's spec after parsing.
  const modelFlags = modelOptionFlags();
  for (const { key, opt, models } of modelFlags) {
    const arg = opt.type === 'boolean' ? '' : opt.type === 'choice' ? ' <choice>' : opt.type === 'int' ? ' <n>' : ' <x>';
    cmd.option(`--${optionFlag(key)}${arg}`, `${opt.description} (models: ${models.join(', ')})`);
  }

  cmd.action(async (modelName: string, opts: TrainCliOptions) => {
    ctx.jsonMode = !!opts.json;
    let spec;
    try {
      spec = getModel(modelName);
    } catch (e) {
      if (e instanceof UnknownModelError) throw new UsageError(`train: ${e.message}`);
      throw e;
    }
    const modelOptions: Record<string, unknown> = {};
    for (const { key } of modelFlags) {
      const v = opts[camel(optionFlag(key))];
      if (v !== undefined) modelOptions[key] = v;
    }
    // A bar only where someone watches it; plain lines into logs; nothing beside --json in a pipe.
    const tty = !!process.stderr.isTTY;
    const mode = tty ? 'bar' : opts.json ? 'quiet' : 'lines';
    const reporter = createProgressReporter({ mode, print: (l) => ctx.print(l) });
    try {
      const summary = await train({
        model: spec.name,
        modelOptions,
        data: opts.data,
        tokenizer: opts.tokenizer,
        vocabSize: opts.vocabSize,
        steps: opts.steps,
        timeMs: opts.time,
        batch: opts.batch,
        seq: opts.seq,
        lr: opts.lr,
        optimizer: opts.optimizer,
        weightDecay: opts.weightDecay,
        schedule: opts.schedule,
        warmup: opts.warmup,
        minLr: opts.minLr,
        clip: opts.clip,
        seed: opts.seed,
        valEvery: opts.valEvery,
        valFraction: opts.valFraction,
        valBatches: opts.valBatches,
        sampler: opts.sampler,
        out: opts.out,
        threads: opts.threads,
        backend: opts.backend,
        reporter,
      });
      if (opts.json) ctx.json(summary);
    } catch (e) {
      // Bad values and unusable data are mistakes in the call: one line, exit 2.
      if (e instanceof TrainConfigError || e instanceof CorpusError) throw new UsageError(`train: ${e.message}`);
      throw e;
    }
  });
}
