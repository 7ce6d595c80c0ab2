// `handgrad bench kernels`: the GEMM kernel benchmark (bench/kernels.ts) with its peers.
import type { Command } from 'commander';
import { KERNEL_PATHS, type KernelPath } from '../../backends/wasm/runtime.js';
import { benchKernels, formatReport, VARIANTS, writeReport, type Variant } from '../../../bench/kernels.js';
import { parseChoice, parseChoiceList, parseInteger, parseIntegerList, UsageError } from '../args.js';
import {
  benchTrain, benchTrainRounds, formatRoundsSummary, formatTrainReport, TRAIN_BENCH_CONFIGS, TRAIN_BENCH_MODELS,
  type TrainBenchConfig, type TrainBenchModel, type TrainBenchResult, type TrainRoundsSummary,
} from '../../../bench/train.js';
import {
  benchCharModels, CHAR_MODELS, formatCharModelsReport, type CharModel,
} from '../../../bench/char-models.js';
import { benchMoe, formatMoeReport, MOE_BENCH_CONFIGS, type MoeBenchConfig } from '../../../bench/moe.js';
import { registerBenchQuality } from './bench-quality.js';
import { benchData, formatDataReport } from '../../../bench/data.js';
import { parseByteSizeOption, parseDurationOption } from '../values.js';
import { BACKEND_CHOICES, openOps, pickBackend } from '../device.js';
import type { BackendName } from '../../backends/index.js';
import type { CliContext } from '../context.js';

interface KernelsOptions {
  json?: boolean;
  sizes?: number[];
  threads?: number[];
  reps?: number;
  rounds?: number;
  quick?: boolean;
  skinny: boolean;
  peers: boolean;
  paths?: KernelPath[];
  variants?: Variant[];
  out?: string;
}

interface CharModelsCliOptions {
  budget: number;
  data: string;
  models?: CharModel[];
  threads?: number;
  sample: boolean;
  trimGutenberg: boolean;
  out?: string;
  json?: boolean;
}

interface TrainBenchCliOptions {
  model: TrainBenchModel;
  config: TrainBenchConfig;
  hidden?: number;
  batch?: number;
  seq?: number;
  threads?: number;
  steps?: number;
  rounds: number;
  peer: boolean;
  json?: boolean;
}

interface MoeBenchCliOptions {
  config: MoeBenchConfig;
  backend?: BackendName;
  device?: BackendName;
  threads?: number;
  steps?: number;
  time?: number;
  decodeTokens?: number;
  models?: ('moe' | 'moe-dense')[];
  json?: boolean;
}

export function registerBench(program: Command, ctx: CliContext): void {
  const bench = program.command('bench')
    .description('benchmarks (GFLOP/s next to peers measured in the same run; reports, never asserts)');

  bench.command('kernels')
    .description('GEMM GFLOP/s for nn/nt/tn, every kernel path and thread count, vs the TS reference, tfjs-wasm and OpenBLAS')
    .option('--sizes <list>', 'square sizes n, comma-separated (default 64,128,256,512,1024)', parseIntegerList('--sizes', 1, 4096))
    .option('--threads <list>', 'thread counts, comma-separated (default 1,2)', parseIntegerList('--threads', 1, 256))
    .option('--reps <n>', 'timed repetitions per table figure, best taken (default 11)', parseInteger('--reps', 1, 1000))
    .option('--rounds <n>', 'rounds of the paired, interleaved phase behind the headline ratios (default 8; 0 leaves it out)', parseInteger('--rounds', 0, 1000))
    .option('--paths <list>', `kernel paths (default: all this machine supports: ${KERNEL_PATHS.join(', ')})`, parseChoiceList('--paths', KERNEL_PATHS))
    .option('--variants <list>', `GEMM variants (default ${VARIANTS.join(',')})`, parseChoiceList('--variants', VARIANTS))
    .option('--no-skinny', 'leave out the skinny recurrent shapes 16×128·128×512 and 32×256·256×1024')
    .option('--no-peers', 'leave out the reference, tfjs-wasm and OpenBLAS peers')
    .option('--quick', 'smoke test: sizes 64,128, one thread, 3 short reps, no skinny shapes')
    .option('--out <file>', 'also write the JSON report to this file (e.g. bench/results/kernels.json)')
    .option('--json', 'print one JSON object as the last line of stdout')
    .action(async (opts: KernelsOptions, cmd: Command) => {
      ctx.jsonMode = !!opts.json;
      // --quick sets the defaults; options given explicitly win. --no-skinny is always explicit.
      const given = (name: string) => cmd.getOptionValueSource(name) === 'cli';
      const report = await benchKernels({
        quick: opts.quick,
        sizes: opts.sizes,
        threads: opts.threads,
        reps: opts.reps,
        rounds: opts.rounds,
        paths: opts.paths,
        variants: opts.variants,
        skinny: given('skinny') ? opts.skinny : undefined,
        peers: opts.peers,
        onProgress: (line) => ctx.note(line),
      });
      for (const line of formatReport(report)) ctx.print(line);
      if (opts.out) ctx.note(`wrote ${writeReport(report, opts.out)}`);
      if (opts.json) ctx.json(report);
    });

  bench.command('train')
    .description('LM training tokens/s (forward + backward + Adam) on random tokens, model FLOP rate vs the GEMM kernel, ' +
      'PyTorch CPU peer where there is one (and for the LSTM the seeds\' NumPy style)')
    .option('--model <name>', `model: ${TRAIN_BENCH_MODELS.join(', ')} (transformer and memory-lm: one config each, see bench/train.ts)`,
      parseChoice('--model', TRAIN_BENCH_MODELS), 'lstm' as TrainBenchModel)
    .option('--config <name>', 'recurrent models: small (hidden 128, batch 16) or medium (hidden 256, batch 32), BPTT 64, embedding 64; ' +
      'or seed (the seed notebooks\' setting: hidden 100, batch 1, BPTT 25, embedding 65); vocab 65',
      parseChoice('--config', TRAIN_BENCH_CONFIGS), 'small' as TrainBenchConfig)
    .option('--hidden <n>', 'recurrent models: hidden size instead of the config\'s', parseInteger('--hidden', 1, 8192))
    .option('--batch <n>', 'recurrent models: batch (sequences per step) instead of the config\'s', parseInteger('--batch', 1, 4096))
    .option('--seq <n>', 'recurrent models: BPTT window instead of the config\'s', parseInteger('--seq', 1, 100000))
    .option('--threads <n>', 'threads for the GEMMs, the fused attention and the memory recurrence, the calling thread included (default: every core)', parseInteger('--threads', 1, 256))
    .option('--steps <n>', 'timed training steps, median taken (default 30 small, 15 medium, 100 seed, 10 transformer and memory-lm; ' +
      'with --rounds: per contender per round, default enough for ~1.5 s)', parseInteger('--steps', 1, 100000))
    .option('--rounds <n>', 'n ≥ 2: paired, interleaved rounds: ours and every peer (each thread setting) start once, then each round ' +
      'times a short turn of each, back to back, order rotated; reports the per-round ratios, their median, range and best ÷ best ' +
      '(the peers\' speed moves by up to 2× between minutes on a shared machine; a round puts both sides of a ratio in the same few seconds)',
    parseInteger('--rounds', 1, 50), 1)
    .option('--no-peer', 'leave out the peers (PyTorch CPU, NumPy seed style)')
    .option('--json', 'print one JSON object as the last line of stdout')
    .action(async (opts: TrainBenchCliOptions) => {
      ctx.jsonMode = !!opts.json;
      const overrides = ([['--hidden', opts.hidden], ['--batch', opts.batch], ['--seq', opts.seq]] as const).filter(([, v]) => v !== undefined);
      if (overrides.length > 0 && (opts.model === 'transformer' || opts.model === 'memory-lm')) {
        throw new UsageError(`${overrides[0][0]} applies to the recurrent models (lstm, gru, rnn); ${opts.model} has one fixed config`);
      }
      const what = {
        model: opts.model, config: opts.config, sizes: { hidden: opts.hidden, batch: opts.batch, seq: opts.seq },
        threads: opts.threads, steps: opts.steps, peer: opts.peer,
        onProgress: (line: string) => ctx.note(line),
      };
      let results: TrainBenchResult[], summary: TrainRoundsSummary | null = null;
      if (opts.rounds === 1) {
        results = [await benchTrain(what)];
        for (const line of formatTrainReport(results[0])) ctx.print(line);
      } else {
        // Paired and interleaved: ours and every peer started once, then short turns back to back each round.
        ({ rounds: results, summary } = await benchTrainRounds({
          ...what, rounds: opts.rounds,
          onRound: (r, round) => { for (const line of formatTrainReport(r)) ctx.print(`round ${round}: ${line}`); },
        }));
        for (const line of formatRoundsSummary(summary)) ctx.print(line);
      }
      if (opts.json) {
        const rounds = results.map(trainJson);
        // One round: its object, as before. Several: the last round's object, every round, and the summary.
        ctx.json(summary ? { ...rounds[rounds.length - 1], rounds, summary } : rounds[0]);
      }
    });

  bench.command('moe')
    .description('MoE transformer vs its dense twin at matched active parameters: training tokens/s, model TFLOP/s, decode latency ' +
      'per token (batch 1, KV cache), peak memory, and the measured expert compute saving')
    .option('--config <name>', 'standard (d 512, 8 layers, 8 experts top-2, batch 32 × 256: the GPU config), small (a CPU size) or tiny (a smoke test)',
      parseChoice('--config', MOE_BENCH_CONFIGS), 'small' as MoeBenchConfig)
    .option('--device <name>', 'wasm (CPU), reference or cuda (default wasm)', parseChoice('--device', BACKEND_CHOICES))
    .option('--backend <name>', 'the same as --device', parseChoice('--backend', BACKEND_CHOICES))
    .option('--threads <n>', 'wasm: threads for the GEMMs, attention and the memory recurrence (default: every core)', parseInteger('--threads', 1, 256))
    .option('--steps <n>', 'timed training steps per model (default: as many as --time allows)', parseInteger('--steps', 1, 100000))
    .option('--time <duration>', 'time budget of the timed training steps per model (default 20s standard, 5s small)', parseDurationOption('--time'))
    .option('--decode-tokens <n>', 'decode tokens timed at batch 1 (default 64)', parseInteger('--decode-tokens', 1, 100000))
    .option('--models <list>', 'moe, moe-dense or both (default moe,moe-dense)', parseChoiceList('--models', ['moe', 'moe-dense'] as const))
    .option('--json', 'print one JSON object as the last line of stdout')
    .action(async (opts: MoeBenchCliOptions) => {
      ctx.jsonMode = !!opts.json;
      const backend = pickBackend('bench moe', opts.backend, opts.device) ?? 'wasm';
      // Open (and close) the backend once first: an unavailable --device cuda is one line and exit 2.
      if ((backend as string) === 'cuda') (await openOps('bench moe', backend)).dispose();
      const r = await benchMoe({
        config: opts.config, backend, threads: opts.threads, steps: opts.steps, timeMs: opts.time, decodeTokens: opts.decodeTokens,
        models: opts.models, onProgress: (line) => ctx.note(line),
      });
      for (const line of formatMoeReport(r)) ctx.print(line);
      if (opts.json) ctx.json(r);
    });

  bench.command('data')
    .description('the training data path on a generated corpus of any size (deleted after): scan, BPE on the bounded sample, ' +
      'encoding MB/s on 1 and 2 threads, window reads from the token file, peak RSS')
    .option('--size <size>', 'corpus size, e.g. 256MB, 1GiB (default 1GiB)', parseByteSizeOption('--size'))
    .option('--bpe-sample <size>', 'BPE trains on at most this much of it (default as train: 100MB)', parseByteSizeOption('--bpe-sample'))
    .option('--dir <dir>', 'folder for the corpus and the token files (default: the system temporary folder)')
    .option('--keep-corpus <file>', 'write the corpus here and keep it (e.g. to train on it)')
    .option('--corpus <file>', 'use this text file instead of generating one (it is not deleted)')
    .option('--json', 'print one JSON object as the last line of stdout')
    .action(async (opts: { size?: number; bpeSample?: number; dir?: string; keepCorpus?: string; corpus?: string; json?: boolean }) => {
      ctx.jsonMode = !!opts.json;
      const r = await benchData({
        sizeBytes: opts.size, bpeSampleBytes: opts.bpeSample, dir: opts.dir, keepCorpus: opts.keepCorpus, corpus: opts.corpus,
        onProgress: (l) => ctx.note(l),
      });
      for (const line of formatDataReport(r)) ctx.print(line);
      if (opts.json) ctx.json(r);
    });

  bench.command('char-models')
    .description('trains each char model (bigram, mlp-lm, rnn, lstm, gru, lstm-attention, transformer) for the same wall-clock budget; train/validation loss per character, Markdown table')
    .option('--budget <duration>', 'training time per model, e.g. 90s, 2m (default 90s)', parseDurationOption('--budget'), 90_000)
    .option('--data <file|name>', 'a text file, or a corpus name looked up in $HANDGRAD_DATA (default alice)', 'alice')
    .option('--models <list>', `models, comma-separated (default ${CHAR_MODELS.join(',')})`, parseChoiceList('--models', CHAR_MODELS))
    .option('--threads <n>', 'wasm backend threads (default: every core)', parseInteger('--threads', 1, 256))
    .option('--no-sample', 'leave out the text sampled from the LSTM')
    .option('--no-trim-gutenberg', 'keep a Project Gutenberg licence footer (by default it is cut off: it would be the validation split)')
    .option('--out <file>', 'write the table into this Markdown file (its char-models section; e.g. docs/results.md)')
    .option('--json', 'print the report as one JSON object, the last line of stdout')
    .action(async (opts: CharModelsCliOptions) => {
      ctx.jsonMode = !!opts.json;
      const report = await benchCharModels({
        budgetMs: opts.budget, data: opts.data, models: opts.models, threads: opts.threads, out: opts.out ?? null,
        sampleChars: opts.sample ? 400 : 0, trimGutenberg: opts.trimGutenberg,
        command: ['npx handgrad', ...process.argv.slice(2)].join(' '),
        onProgress: (line) => ctx.note(line),
      });
      for (const line of formatCharModelsReport(report)) ctx.print(line);
      if (opts.json) ctx.json(report);
    });

  registerBenchQuality(bench, ctx);
}

/** The JSON object of one `bench train` measurement. */
function trainJson(r: TrainBenchResult): Record<string, unknown> {
  const { model, config, sizes, threads, tokensPerSec, modelGflops, gemmGflops, utilisation } = r;
  return {
    model, config, sizes, threads, tokensPerSec, modelGflops, gemmGflops, utilisation,
    torchTokensPerSec: r.torchTokensPerSec, torchThreads: r.torchThreads, torchRuns: r.torchRuns,
    ratioVsTorchBest: r.ratioVsTorchBest, ratioVsTorchSameThreads: r.ratioVsTorchSameThreads, peerNote: r.peerNote,
    torchBlasCore: r.torchBlasCore,
    numpyTokensPerSec: r.numpyTokensPerSec, numpyThreads: r.numpyThreads, numpyRuns: r.numpyRuns,
    ratioVsNumpyBest: r.ratioVsNumpyBest, ratioVsNumpySameThreads: r.ratioVsNumpySameThreads, torchVsNumpy: r.torchVsNumpy,
    numpyNote: r.numpyNote, numpyBlasCore: r.numpyBlasCore,
  };
}
