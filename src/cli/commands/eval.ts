// `handgrad eval RUN [--data FILE] [--json]`: how well a trained run predicts a text — its own
// validation split by default (the held-out tail, or its --val-data), or any file or corpus name.
// Prints the loss in nats and bits per token and per character, the perplexity, and for models
// that read independent windows the loss by position in the window (src/train/eval-run.ts).
import type { Command } from 'commander';
import { parseChoice, parseInteger, UsageError } from '../args.js';
import { BACKEND_CHOICES, openOps, pickBackend } from '../device.js';
import type { CliContext } from '../context.js';
import type { BackendName } from '../../backends/index.js';
import { checkpointKind, CheckpointError } from '../../train/checkpoint.js';
import { encodeText, openTrainedRun, runValidationTokens, type EvalTokens, type TrainedRun } from '../../train/trained-run.js';
import { evaluateText, type EvalResult } from '../../train/eval-run.js';
import { CorpusError, loadCorpus } from '../../data/corpus.js';
import { getModel, UnknownModelError } from '../../models/registry.js';

interface EvalCliOptions {
  data?: string;
  seq?: number;
  maxTokens?: number;
  threads?: number;
  backend?: BackendName;
  device?: BackendName;
  last?: boolean;
  json?: boolean;
}

/** The text to evaluate on as tokens: --data, or the run's validation split. */
function evalTokens(run: TrainedRun, data: string | undefined): EvalTokens {
  if (data === undefined) {
    const val = runValidationTokens(run);
    if (!val) {
      throw new UsageError(`eval: ${run.runDir}: the run's validation text cannot be found (its corpus moved or changed, ` +
        'or it held nothing out); give --data FILE');
    }
    return val;
  }
  let corpus;
  try { corpus = loadCorpus(data); } catch (e) {
    if (e instanceof CorpusError) throw new UsageError(`eval: --data ${e.message}`);
    throw e;
  }
  if (run.tokenizer.kind === 'char' && !run.tokenizer.covers(corpus.text)) {
    const unseen = [...new Set([...corpus.text].filter((c) => !run.tokenizer.covers(c)))].slice(0, 10).map((c) => JSON.stringify(c));
    throw new UsageError(`eval: --data ${corpus.source}: has characters the model never saw: ${unseen.join(', ')}`);
  }
  return { tokens: encodeText(run.tokenizer, corpus.text), source: corpus.source };
}

/** The profile as rows "positions 0–7  1.234 nats", grouped so a cliff stands out. */
function profileLines(r: EvalResult): string[] {
  if (!r.profile) return [];
  const width = String(r.seq - 1).length;
  return ['loss by position in the window:', ...r.profile.map((p) =>
    `  ${String(p.from).padStart(width)}–${String(p.to).padEnd(width)}  ${p.nats.toFixed(4)} nats  ${'█'.repeat(Math.max(0, Math.round(p.nats * 8)))}`)];
}

export function registerEval(program: Command, ctx: CliContext): void {
  program.command('eval')
    .description('loss, bits per character and perplexity of a trained run on a text (default: its validation split)')
    .argument('<runDir>', 'the --out folder of `handgrad train` (its best/ copy when it has one, unless --last)')
    .option('--data <file|name>', 'evaluate on this text instead of the run\'s validation split')
    .option('--seq <n>', 'window length (default: a position model\'s context, else the run\'s --seq)', parseInteger('--seq', 1, 1 << 20))
    .option('--max-tokens <n>', 'read at most n tokens of the text (default: all)', parseInteger('--max-tokens', 1))
    .option('--threads <n>', 'wasm backend: threads (default: every core)', parseInteger('--threads', 1, 256))
    .option('--backend <name>', 'wasm, reference or cuda (default wasm)', parseChoice('--backend', BACKEND_CHOICES))
    .option('--device <name>', 'the same as --backend', parseChoice('--device', BACKEND_CHOICES))
    .option('--last', 'evaluate the run\'s last checkpoint even when it has a best/ copy')
    .option('--json', 'print one JSON object as the last line of stdout')
    .action(async (dir: string, opts: EvalCliOptions) => {
      ctx.jsonMode = !!opts.json;
      const usage = (e: unknown): never => {
        if (e instanceof CheckpointError || e instanceof UnknownModelError) throw new UsageError(`eval: ${e.message}`);
        throw e;
      };
      try { checkpointKind(dir); } catch (e) { usage(e); }
      const ops = await openOps('eval', pickBackend('eval', opts.backend, opts.device) ?? 'wasm', opts.threads);
      try {
        let run!: TrainedRun;
        try { run = openTrainedRun(dir, ops, { last: opts.last }); } catch (e) { usage(e); }
        const spec = getModel(run.kind);
        const context = typeof run.model.config.context === 'number' && run.model.limitWindow ? run.model.config.context : null;
        // A model with positions is read at its whole context by default, so positions it never
        // trained (a run with --seq shorter than --context) show up in the profile.
        const seq = opts.seq ?? context ?? run.trainedSeq ?? 64;
        if (context !== null && seq > context) throw new UsageError(`eval: --seq ${seq} is longer than the model's context ${context}`);
        if (context !== null && run.trainedSeq !== null && seq > run.trainedSeq) {
          ctx.note(`eval: ${run.kind} was trained on windows of ${run.trainedSeq}: positions ${run.trainedSeq}–${seq - 1} were never trained ` +
            `(sampling slides windows of ${run.trainedSeq}; --seq ${run.trainedSeq} reads the text that way)`);
        }
        const text = evalTokens(run, opts.data);
        const tok = run.tokenizer;
        let r: EvalResult;
        try {
          r = evaluateText(ops, run.model, text.tokens, {
            seq, stateful: spec.stateful, maxTokens: opts.maxTokens,
            countChars: (ids) => (tok.kind === 'char' ? ids.length : [...tok.decode(ids)].length),
          });
        } catch (e) {
          if (e instanceof RangeError) throw new UsageError(`eval: ${text.source}: ${e.message}`);
          throw e;
        }
        const unit = tok.kind === 'char' ? 'char' : 'token';
        ctx.print(`${run.kind}${run.best ? ' (best/ checkpoint)' : ''} at step ${run.step ?? '?'} on ${text.source}: ` +
          `${r.tokens.toLocaleString('en-US')} ${unit}s in windows of ${r.seq}`);
        ctx.print(`loss ${r.natsPerToken.toFixed(4)} nats/${unit} (${r.bitsPerToken.toFixed(4)} bits/${unit}), ` +
          `perplexity ${r.perplexity.toFixed(3)}` +
          (tok.kind === 'char' ? '' : `; ${r.natsPerChar.toFixed(4)} nats/char (${r.bitsPerChar.toFixed(4)} bits/char)`));
        for (const line of profileLines(r)) ctx.print(line);
        if (opts.json) ctx.json({ checkpoint: run.dir, model: run.kind, step: run.step, best: run.best, data: text.source, ...r });
      } finally {
        ops.dispose();
      }
    });
}
