// `handgrad bench quality`: each model trained for the same time as its PyTorch CPU peer, best
// validation loss, curves and samples side by side (bench/quality.ts).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  benchQuality, checkSettingsOverrides, formatQualityReport, QUALITY_MODELS, qualityCurvesSvg, type QualityModel, type SettingsOverrides,
} from '../../../bench/quality.js';
import { CorpusError } from '../../data/corpus.js';
import { TrainConfigError } from '../../train/trainer.js';
import { parseChoiceList, parseInteger, UsageError } from '../args.js';
import { parseDurationOption, parseNumber } from '../values.js';
import type { CliContext } from '../context.js';

interface QualityCliOptions {
  models?: QualityModel[];
  data?: string;
  time?: number;
  threads?: number;
  peerThreads?: number;
  valEvery?: number;
  valFraction?: number;
  valBatches?: number;
  settings?: SettingsOverrides;
  sampleChars?: number;
  temperature?: number;
  seed?: number;
  peer: boolean;
  out?: string;
  json?: boolean;
}

/** --settings: inline JSON, or a file holding it. */
function parseSettings(text: string): SettingsOverrides {
  const source = text.trim().startsWith('{') ? text : existsSync(text) ? readFileSync(text, 'utf8') : null;
  if (source === null) throw new UsageError(`--settings expects inline JSON or a JSON file; '${text}' is neither`);
  let value: unknown;
  try { value = JSON.parse(source); } catch (e) {
    throw new UsageError(`--settings: not valid JSON (${(e as Error).message})`);
  }
  const why = checkSettingsOverrides(value);
  if (why !== null) throw new UsageError(`--settings: ${why}`);
  return value as SettingsOverrides;
}

export function registerBenchQuality(bench: Command, ctx: CliContext): void {
  bench.command('quality')
    .description('each char model trained for the same wall-clock time as its PyTorch CPU peer (same architecture, size and token ids, ' +
      'one after the other): best validation loss on the held-out tail, validation curves in time, tokens/s, samples')
    .option('--models <list>', `models, comma-separated (default ${QUALITY_MODELS.join(',')})`, parseChoiceList('--models', QUALITY_MODELS))
    .option('--data <file|name>', 'a text file, or a corpus name looked up in $HANDGRAD_DATA (default alice)')
    .option('--time <duration>', 'training time per model and side, e.g. 5m, 90s (default 5m)', parseDurationOption('--time'))
    .option('--threads <n>', 'our wasm threads (default 2)', parseInteger('--threads', 1, 256))
    .option('--peer-threads <n>', 'the peer\'s torch.set_num_threads (default: its best of 1 and --threads, by a short trial of ' +
      'training steps per model before its clock starts)', parseInteger('--peer-threads', 1, 256))
    .option('--val-every <duration>', 'validation cadence in training time, both sides (default 10s)', parseDurationOption('--val-every'))
    .option('--val-fraction <x>', 'the held-out tail, as train() splits it (default 0.1)', parseNumber('--val-fraction', { min: 0, max: 1, minExclusive: true, maxExclusive: true }))
    .option('--val-batches <n>', 'at most this many validation windows (default 50)', parseInteger('--val-batches', 1, 100000))
    .option('--settings <json|file>', 'override the per-model settings of bench/quality.ts, e.g. \'{"lstm": {"lr": 0.002, "modelOptions": {"hidden": 512}}, "*": {"batch": 64}}\'', parseSettings)
    .option('--sample-chars <n>', 'characters sampled from each side\'s best weights (default 400; 0: none)', parseInteger('--sample-chars', 0, 100000))
    .option('--temperature <t>', 'sampling temperature (default 0.8)', parseNumber('--temperature', { min: 0 }))
    .option('--seed <n>', 'seed of both sides\' weights and data order (default 1)', parseInteger('--seed', 0))
    .option('--no-peer', 'ours only')
    .option('--out <file>', 'also write the JSON report to this file (e.g. docs/quality-alice.json), and its validation curves beside it (docs/quality-alice.svg)')
    .option('--json', 'print the report as one JSON object, the last line of stdout')
    .action(async (opts: QualityCliOptions) => {
      ctx.jsonMode = !!opts.json;
      // A corpus that cannot be read or split, or a setting train() refuses: a usage error (exit 2).
      const report = await benchQuality({
        data: opts.data, models: opts.models, timeMs: opts.time, threads: opts.threads, peerThreads: opts.peerThreads,
        valEveryMs: opts.valEvery, valFraction: opts.valFraction, valBatches: opts.valBatches, settings: opts.settings,
        sampleChars: opts.sampleChars, temperature: opts.temperature, seed: opts.seed, peer: opts.peer, out: opts.out ?? null,
        command: ['npx handgrad', ...process.argv.slice(2)].join(' '),
        onProgress: (line) => ctx.note(line),
      }).catch((e: unknown) => {
        if (e instanceof TrainConfigError || e instanceof CorpusError) throw new UsageError(`bench quality: ${e.message}`);
        throw e;
      });
      if (opts.out) {
        const svg = opts.out.replace(/\.json$/i, '') + '.svg';
        writeFileSync(svg, qualityCurvesSvg(report));
        ctx.note(`wrote ${svg}`);
      }
      for (const line of formatQualityReport(report)) ctx.print(line);
      if (opts.json) ctx.json(report);
    });
}
