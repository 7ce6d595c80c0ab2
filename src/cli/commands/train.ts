// `handgrad train <model>`: parses the options and hands them to the one training loop
// (src/train/trainer.ts). Model-specific options (--hidden, --layers, …) come from the model
// registry: every option any registered model declares is a flag here, and the chosen model
// refuses the ones it does not have.
//
// --data is repeatable (`--data a.txt --data b.txt`: both, in that order); each value is a file, a
// folder of .txt files, a corpus name, or - for standard input (src/data/corpus.ts).
//
// --resume DIR continues a checkpoint exactly (the model comes from the checkpoint, so <model> may
// be left out); --checkpoint-every N|DURATION saves mid-run; --force writes into a non-empty --out.
//
// Ctrl-C (SIGINT): during the step loop the first one finishes the current step, saves and exits 0;
// the second quits at once, the last checkpoint intact. A JS handler cannot run while synchronous
// work (a step, a save, BPE training) holds the thread, so the handler is only installed while the
// loop runs, and removes itself at the first Ctrl-C: the second then meets the default disposition,
// which kills the process wherever it is. Before the loop (loading data, training a tokenizer) there
// is nothing to save and the first Ctrl-C kills at once; the run folder's lock is then stale (its
// pid is gone) and the next run takes it over (src/train/run-folder.ts).
import { Option, type Command } from 'commander';
import { parseChoice, parseInteger, UsageError } from '../args.js';
import { parseByteSizeOption, parseDurationOption, parseNumber } from '../values.js';
import { parseDuration } from '../../util/duration.js';
import type { CliContext } from '../context.js';
import { getModel, knownNames, listModels, optionFlag, UnknownModelError, type ModelOption } from '../../models/registry.js';
import { OPTIMIZER_KINDS } from '../../train/optimizers.js';
import { SCHEDULE_KINDS } from '../../train/schedules.js';
import { SAMPLER_KINDS } from '../../data/batcher.js';
import { TOKENIZER_KINDS } from '../../data/tokenizer.js';
import { CorpusError } from '../../data/corpus.js';
import { train, TRAIN_DEFAULTS, TrainConfigError, type TrainOptions, type TrainReporter } from '../../train/trainer.js';
import { checkpointKind, CheckpointError, CheckpointWriteError, DEFAULT_KEEP_CHECKPOINTS, isLegacyCheckpoint, readCheckpoint } from '../../train/checkpoint.js';
import { createProgressReporter } from '../../train/progress.js';
import { checkNotInUse, RunFolderError, sameFolder } from '../../train/run-folder.js';
import { createDataProgressReporter } from '../../train/data-progress.js';
import type { BackendName } from '../../backends/index.js';
import { BACKEND_CHOICES, pickBackend } from '../device.js';

/**
 * The train() options the command passes on as they are, under the same names (commander's
 * camelCase of each flag); the others it translates below (--time, --backend/--device,
 * --checkpoint-every, --json).
 */
const PASSED_THROUGH = [
  'data', 'tokenizer', 'vocabSize', 'steps', 'batch', 'seq', 'lr', 'optimizer', 'weightDecay', 'schedule', 'warmup',
  'minLr', 'clip', 'seed', 'valFraction', 'valBatches', 'sampler', 'out', 'threads', 'valData', 'tokenCache',
  'resume', 'keepCheckpoints', 'patience', 'force', 'bpeSample',
] as const satisfies readonly (keyof TrainOptions)[];

/** What commander hands the action: the passed-through TrainOptions, the translated flags, the model options. */
type TrainCliOptions = Omit<Pick<TrainOptions, (typeof PASSED_THROUGH)[number]>, 'data'> & {
  /** Every --data value, in order. */
  data?: string[];
  time?: number;
  backend?: BackendName;
  device?: BackendName;
  json?: boolean;
  checkpointEvery?: { steps?: number; ms?: number };
  valEvery?: { steps?: number; ms?: number };
  [modelOption: string]: unknown;
};

/** commander's camelCase property for a flag name: "embed-size" → "embedSize". */
function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Every model option key, once, with the models that take it (for the help text) and its former names. */
function modelOptionFlags(): { key: string; opt: ModelOption; models: string[]; aliases: string[] }[] {
  const byKey = new Map<string, { key: string; opt: ModelOption; models: string[]; aliases: string[] }>();
  for (const spec of listModels()) {
    for (const opt of spec.options) {
      const e = byKey.get(opt.key) ?? { key: opt.key, opt, models: [], aliases: [] };
      e.models.push(spec.name);
      for (const a of opt.aliases ?? []) if (!e.aliases.includes(a)) e.aliases.push(a);
      byKey.set(opt.key, e);
    }
  }
  return [...byKey.values()];
}

export function registerTrain(program: Command, ctx: CliContext): void {
  const d = TRAIN_DEFAULTS;
  const cmd = program.command('train')
    .description('train a sequence model on a text corpus and write a checkpoint')
    .argument('[model]', `the model to train: ${knownNames().join(', ')} (with --resume: the checkpoint's)`)
    .option('--data <file|folder|name|->', 'a text file, a folder (its .txt files, sorted), a corpus name looked up in $HANDGRAD_DATA ' +
      '(alice, crow, tinystories, …), or - for standard input; repeat it for several (read in order); default: Moby Dick, embedded',
    (value: string, previous: string[] | undefined) => [...(previous ?? []), value])
    .option('--tokenizer <kind>', `${TOKENIZER_KINDS.join(', ')} (default ${d.tokenizer}; bpe for moe and moe-dense)`, parseChoice('--tokenizer', TOKENIZER_KINDS))
    .option('--vocab-size <n>', 'word tokenizer: keep the n−1 most frequent tokens plus <unk> (default 10000); bpe: the vocabulary size (default 4096)',
      parseInteger('--vocab-size', 2))
    .option('--steps <n>', `optimizer steps (default ${d.steps}, or unlimited with --time)`, parseInteger('--steps', 1))
    .option('--time <duration>', 'stop after this long, e.g. 30s, 5m, 1h (with --steps: whichever comes first)', parseDurationOption('--time'))
    .option('--batch <n>', `parallel sequences per step (default ${d.batch})`, parseInteger('--batch', 1, 1 << 16))
    .option('--seq <n>', `time steps per window, the BPTT length (default: the model's --context for transformers, else ${d.seq})`,
      parseInteger('--seq', 1, 1 << 20))
    .option('--lr <x>', `peak learning rate (default: the model's own for the optimizer, e.g. ${d.lr} for adam, ${d.sgdLr} for sgd)`,
      parseNumber('--lr', { min: 0, minExclusive: true }))
    .option('--optimizer <kind>', `${OPTIMIZER_KINDS.join(', ')} (default ${d.optimizer})`, parseChoice('--optimizer', OPTIMIZER_KINDS))
    .option('--weight-decay <x>', 'weight decay on weight matrices, any optimizer (default 0; 0.1 with adamw for moe)', parseNumber('--weight-decay', { min: 0 }))
    .option('--schedule <kind>', `learning-rate schedule: ${SCHEDULE_KINDS.join(', ')} (default ${d.schedule})`, parseChoice('--schedule', SCHEDULE_KINDS))
    .option('--warmup <n>', 'linear warmup steps (default 0)', parseInteger('--warmup', 0))
    .option('--min-lr <x>', 'cosine schedule: the final learning rate (default 0)', parseNumber('--min-lr', { min: 0 }))
    .option('--clip <x>', `global gradient-norm limit, 0 for none (default ${d.clip})`, parseNumber('--clip', { min: 0 }))
    .option('--seed <n>', `seed for weights, data order and everything else random (default ${d.seed})`, parseInteger('--seed', 0, 2 ** 32 - 1))
    .option('--val-every <n|duration>', `validation every n steps (0: only at the end) or every duration (e.g. 30s); ` +
      `default: every ${d.valEvery} steps but at most once per ${d.valEveryMs / 1000}s`, parseValEvery)
    .option('--patience <n>', 'stop after n validations in a row without a new best (default 0: never)', parseInteger('--patience', 0))
    .option('--val-fraction <x>', `held-out tail of the corpus, 0 for none (default ${d.valFraction})`,
      parseNumber('--val-fraction', { min: 0, max: 1, maxExclusive: true }))
    .option('--val-data <file|name>', 'validate on this corpus instead of the held-out tail (default for --data tinystories: tinystories-valid)')
    .option('--token-cache <dir>', 'folder of token files (bpe, and any corpus too large for memory), reused across runs ' +
      '(default: .token-cache beside the run folder)')
    .option('--bpe-sample <size>', 'bpe: train the tokenizer on at most this much of the corpus, spread over it, e.g. 100MB, 1GB ' +
      '(default 100MB); the whole corpus is encoded with it', parseByteSizeOption('--bpe-sample'))
    .option('--val-batches <n>', `at most n windows per validation (default ${d.valBatches})`, parseInteger('--val-batches', 1))
    .option('--sampler <kind>', 'sequential (BPTT, carried state) or random windows (default: by model)', parseChoice('--sampler', SAMPLER_KINDS))
    .option('--out <dir>', 'checkpoint folder (default runs/<model>-<timestamp>, or the --resume folder)')
    .option('--force', 'write into a non-empty --out, replacing the checkpoint and metrics there (never other files)')
    .option('--resume <dir>', 'continue the checkpoint in this folder exactly, with its settings (--steps/--time: the new total)')
    .option('--checkpoint-every <n|duration>', 'also save a checkpoint every n steps, or every duration (e.g. 2m)', parseCheckpointEvery)
    .option('--keep-checkpoints <n>', `checkpoint generations kept in the --out folder, newest first (default ${DEFAULT_KEEP_CHECKPOINTS})`,
      parseInteger('--keep-checkpoints', 1))
    .option('--threads <n>', 'wasm backend: threads for large products, the fused attention and the memory recurrence; also the threads ' +
      'that encode a large corpus (default: every core)', parseInteger('--threads', 1, 256))
    .option('--backend <name>', 'wasm (f32 SIMD), reference (f64 TypeScript) or cuda (the GPU addon) (default wasm)',
      parseChoice('--backend', BACKEND_CHOICES))
    .option('--device <name>', 'the same as --backend (e.g. --device cuda)', parseChoice('--device', BACKEND_CHOICES))
    .option('--json', 'print the summary as one JSON object, the last line of stdout');

  // Model options: raw text here, checked by the chosen model's spec after parsing.
  const modelFlags = modelOptionFlags();
  for (const { key, opt, models, aliases } of modelFlags) {
    const arg = opt.type === 'boolean' ? '' : opt.type === 'choice' ? ' <choice>' : opt.type === 'int' ? ' <n>' : ' <x>';
    // A switch some model turns on by default (moe's tied embeddings, memory-lm's normalize) must
    // be able to go off: --no-<flag> (commander leaves both undefined when neither is given).
    const off = opt.type === 'boolean' ? `; --no-${optionFlag(key)} turns it off` : '';
    cmd.option(`--${optionFlag(key)}${arg}`, `${opt.description} (models: ${models.join(', ')})${off}`);
    if (off) cmd.addOption(new Option(`--no-${optionFlag(key)}`, `turn --${optionFlag(key)} off`).hideHelp());
    // A former name (e.g. transformer's --tie for --tied-embeddings) still works, out of the help.
    for (const a of aliases) cmd.addOption(new Option(`--${optionFlag(a)}${arg}`, `the former name of --${optionFlag(key)}`).hideHelp());
  }

  cmd.action(async (modelArg: string | undefined, opts: TrainCliOptions) => {
    ctx.jsonMode = !!opts.json;
    const backend = pickBackend('train', opts.backend, opts.device);
    let modelName = modelArg;
    if (opts.resume !== undefined) {
      let kind: string;
      try {
        // A run still writing the folder is named, rather than its checkpoint read mid-save.
        if (opts.out === undefined || (opts.out !== null && sameFolder(opts.out, opts.resume))) checkNotInUse(opts.resume, `--resume ${opts.resume}`);
        if (isLegacyCheckpoint(opts.resume)) kind = checkpointKind(opts.resume);
        else {
          const found = readCheckpoint(opts.resume);
          kind = found.state.kind;
          // A newer checkpoint that did not verify: say which one is resumed instead, and why.
          if (found.passedOver.length > 0) ctx.note(`train: --resume: ${found.passedOver[0]}; resuming from ${found.dir} (step ${found.state.step})`);
        }
      } catch (e) {
        if (e instanceof RunFolderError) throw new UsageError(`train: ${e.message}`);
        if (e instanceof CheckpointError) throw new UsageError(`train: --resume: ${e.message}`);
        throw e;
      }
      modelName ??= kind;
    }
    if (modelName === undefined) throw new UsageError(`train: missing model (expected one of ${knownNames().join(', ')}, or --resume <dir>)`);
    let spec;
    try {
      spec = getModel(modelName);
    } catch (e) {
      if (e instanceof UnknownModelError) throw new UsageError(`train: ${e.message}`);
      throw e;
    }
    const modelOptions: Record<string, unknown> = {};
    for (const { key, aliases } of modelFlags) {
      for (const name of [...aliases, key]) {
        const v = opts[camel(optionFlag(name))];
        if (v === undefined) continue;
        if (modelOptions[key] !== undefined && String(modelOptions[key]) !== String(v)) {
          throw new UsageError(`train: --${optionFlag(name)} and its former name --${optionFlag(aliases[0])} disagree; give one of them`);
        }
        modelOptions[key] = v;
      }
    }
    // A bar only where someone watches it; plain lines into logs; nothing beside --json in a pipe.
    const tty = !!process.stderr.isTTY;
    const mode = tty ? 'bar' : opts.json ? 'quiet' : 'lines';
    // Progress is a log (stderr); the closing 'done: …' line is the result (stdout).
    const progress = createProgressReporter({ mode, print: (l) => ctx.note(l), printResult: (l) => ctx.print(l) });
    // Ctrl-C (see the top of this file): listened for only while the loop runs, and only once.
    const interrupt = new AbortController();
    const onSigint = () => {
      process.off('SIGINT', onSigint); // the next Ctrl-C kills at once, even mid-step or mid-save
      ctx.note('interrupted: finishing this step and saving a checkpoint (Ctrl-C again quits at once; the last checkpoint stays)');
      interrupt.abort();
    };
    const reporter: TrainReporter = {
      ...progress,
      start: (info) => {
        progress.start?.(info);
        if (!interrupt.signal.aborted) process.on('SIGINT', onSigint);
      },
      notice: (line) => ctx.note(line),
    };
    try {
      const passed: Partial<TrainOptions> = {};
      for (const key of PASSED_THROUGH) (passed as Record<string, unknown>)[key] = opts[key];
      if (opts.data !== undefined) passed.data = opts.data.length === 1 ? opts.data[0] : opts.data;
      const summary = await train({
        ...passed,
        model: spec.name,
        modelOptions,
        timeMs: opts.time,
        backend,
        reporter,
        valEvery: opts.valEvery?.steps,
        valEveryMs: opts.valEvery?.ms,
        dataReporter: createDataProgressReporter({ mode, note: (l) => ctx.note(l) }),
        checkpointEverySteps: opts.checkpointEvery?.steps,
        checkpointEveryMs: opts.checkpointEvery?.ms,
        signal: interrupt.signal,
      });
      if (interrupt.signal.aborted) {
        ctx.note(`interrupted after step ${summary.steps}: checkpoint saved to ${summary.out ?? '(none: --out was not written)'}` +
          (summary.out ? ` (continue with --resume ${summary.out})` : ''));
      }
      if (opts.json) ctx.json(summary);
    } catch (e) {
      // Bad values and unusable data are mistakes in the call: one line, exit 2.
      if (e instanceof TrainConfigError || e instanceof CorpusError) throw new UsageError(`train: ${e.message}`);
      if (e instanceof CheckpointError) throw new UsageError(`train: --resume: ${e.message}`);
      // A full disk or an unwritable --out is the user's to fix too (exit 2, nothing left behind).
      if (e instanceof CheckpointWriteError || e instanceof RunFolderError) throw new UsageError(`train: ${e.message}`);
      throw e;
    } finally {
      process.off('SIGINT', onSigint);
    }
  });
}

/** --val-every: a whole number ≥ 0 is steps (0: only at the end); a duration with a unit is time. */
function parseValEvery(text: string): { steps?: number; ms?: number } {
  const t = text.trim();
  if (/^\d+$/.test(t) && Number.isSafeInteger(Number(t))) return { steps: Number(t) };
  // A duration needs its unit here: a bare number is a step count.
  if (/[a-z]$/i.test(t)) {
    try {
      const ms = parseDuration(t);
      if (ms > 0) return { ms };
    } catch { /* below */ }
  }
  throw new UsageError(`--val-every expects a step count ≥ 0 or a duration like 30s, 2m; got '${text}'`);
}

/** --checkpoint-every: a whole number is steps; a duration with a unit (30s, 2m, 1h) is time. */
function parseCheckpointEvery(text: string): { steps?: number; ms?: number } {
  const t = text.trim();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n >= 1 && Number.isSafeInteger(n)) return { steps: n };
  } else {
    try {
      const ms = parseDuration(t);
      if (ms > 0) return { ms };
    } catch { /* below */ }
  }
  throw new UsageError(`--checkpoint-every expects a step count ≥ 1 or a duration like 30s, 2m, 1h; got '${text}'`);
}
