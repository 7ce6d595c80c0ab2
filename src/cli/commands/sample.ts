// `handgrad sample <checkpointDir>`: loads a checkpoint written by `handgrad train` and prints text
// drawn from the model as it is drawn, token by token (src/models/sample.ts draws, with top-k and
// top-p; src/data/generated-text.ts turns tokens into text and ends at --stop-at strings).
//
// Without --prime, a recurrent model (rnn, lstm, gru) first reads the text before a random line
// break of its training corpus (or, when the corpus is gone, generates a burn-in of its own that is
// not printed): trained on consecutive windows with carried state, it has hardly ever seen the zero
// state, and its first characters from one would be noise.
//
// Byte-level BPE checkpoints (TinyStories, the MoE models) write stories: the default prime is
// the end-of-text token (what precedes every story in training), and a story ends where the model
// emits end-of-text again (--no-stop keeps going through it, up to --length tokens).
import type { Command } from 'commander';
import { parseChoice, parseInteger, UsageError } from '../args.js';
import { BACKEND_CHOICES, openOps, pickBackend } from '../device.js';
import { BpeTokenizer, END_OF_TEXT } from '../../data/bpe-tokenizer.js';
import { parseNumber } from '../values.js';
import type { CliContext } from '../context.js';
import type { BackendName } from '../../backends/index.js';
import { checkpointKind, CheckpointError } from '../../train/checkpoint.js';
import { breakText, corpusWarmup, openTrainedRun, type TrainedRun } from '../../train/trained-run.js';
import { sampleTokens, warmUpBySampling } from '../../models/sample.js';
import { TextStream } from '../../data/generated-text.js';
import type { Tokenizer } from '../../data/tokenizer.js';
import { getModel, UnknownModelError } from '../../models/registry.js';
import { Rng } from '../../util/rng.js';

interface SampleCliOptions {
  prime?: string;
  length: number;
  temperature: number;
  topK: number;
  topP: number;
  stopAt: string[];
  seed: number;
  backend?: BackendName;
  device?: BackendName;
  stop: boolean;
  last?: boolean;
  json?: boolean;
}

/** The characters (or words) of `text` that the tokenizer has never seen, for the error message. */
function unknownParts(tok: Tokenizer, text: string): string[] {
  const parts = tok.kind === 'char' ? [...text] : text.split(/\s+/).filter(Boolean);
  return [...new Set(parts.filter((p) => !tok.covers(p)))];
}

/** --stop-at: repeatable; \n, \t and \\ in the text mean a line break, a tab and a backslash. */
function collectStop(text: string, previous: string[]): string[] {
  if (text === '') throw new UsageError('--stop-at expects a non-empty text');
  const unescaped = text.replace(/\\([nt\\])/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : '\\'));
  return [...previous, unescaped];
}

export function registerSample(program: Command, ctx: CliContext): void {
  program.command('sample')
    .description('generate text from a checkpoint written by `handgrad train`, printed as it is generated')
    .argument('<checkpointDir>', 'the --out folder of `handgrad train` (its best/ copy when it has one, unless --last)')
    .option('--prime <text>', 'text to start from (default: a line break; recurrent models first read a random line of their corpus)')
    .option('--length <n>', 'tokens to generate (at most)', parseInteger('--length', 0, 10_000_000), 500)
    .option('--temperature <t>', '0 = greedy, 1 = the model\'s distribution, higher = more random',
      parseNumber('--temperature', { min: 0 }), 1)
    .option('--top-k <k>', 'draw only among the k most likely tokens; 0 = all', parseInteger('--top-k', 0), 0)
    .option('--top-p <p>', 'draw only among the most likely tokens holding probability p (nucleus); 1 = all',
      parseNumber('--top-p', { min: 0, minExclusive: true, max: 1 }), 1)
    .option('--stop-at <text>', 'end the sample where this text appears, without it (repeatable; \\n is a line break)', collectStop, [])
    .option('--seed <n>', 'seed for the draws', parseInteger('--seed', 0, 2 ** 32 - 1), 1)
    .option('--backend <name>', 'wasm, reference or cuda (default wasm)', parseChoice('--backend', BACKEND_CHOICES))
    .option('--device <name>', 'the same as --backend (e.g. --device cuda)', parseChoice('--device', BACKEND_CHOICES))
    .option('--no-stop', `bpe: keep generating through ${END_OF_TEXT} (default: the story ends there)`)
    .option('--last', 'use the run\'s last checkpoint even when it has a best/ copy')
    .option('--json', 'print one JSON object as the last line of stdout')
    .action(async (dir: string, opts: SampleCliOptions) => {
      ctx.jsonMode = !!opts.json;
      const usage = (e: unknown): never => {
        if (e instanceof CheckpointError || e instanceof UnknownModelError) throw new UsageError(`sample: ${e.message}`);
        throw e;
      };
      // Check the checkpoint (manifest, checksums) before starting a backend, so a wrong folder costs nothing.
      try { checkpointKind(dir); } catch (e) { usage(e); }
      // One sequence at a time: extra threads would only wait on each other.
      const ops = await openOps('sample', pickBackend('sample', opts.backend, opts.device) ?? 'wasm', 1);
      try {
        let run!: TrainedRun;
        try { run = openTrainedRun(dir, ops, { last: opts.last }); } catch (e) { usage(e); }
        const { model, tokenizer, kind } = run;
        const prime = opts.prime ?? breakText(tokenizer);
        if (prime === '') throw new UsageError('sample: --prime must not be empty (leave it out to start from a line break)');
        if (!tokenizer.covers(prime)) {
          const unknown = unknownParts(tokenizer, prime).slice(0, 10).map((p) => JSON.stringify(p)).join(', ');
          if (tokenizer.kind === 'char') {
            throw new UsageError(`sample: --prime has characters the model never saw: ${unknown} (its vocabulary has ${tokenizer.vocabSize} characters)`);
          }
          ctx.note(`sample: --prime words outside the vocabulary become <unk>: ${unknown}`);
        }
        let promptIds = Array.from(tokenizer.encode(prime));
        if (promptIds.length === 0) throw new UsageError(`sample: --prime ${JSON.stringify(prime)} holds no tokens`);
        const bpe = tokenizer instanceof BpeTokenizer ? tokenizer : null;
        const rng = new Rng(opts.seed);
        const draw = { temperature: opts.temperature, topK: opts.topK, topP: opts.topP, rng };

        // A recurrent model without a prompt of the user's starts from a state that has read text:
        // the corpus's text before a random line break, or (corpus gone) its own burn-in.
        let warmup: 'corpus' | 'generated' | null = null;
        let reset = true;
        if (opts.prime === undefined && getModel(kind).stateful) {
          const fromCorpus = corpusWarmup(run, prime, new Rng(opts.seed).fork());
          if (fromCorpus) {
            promptIds = fromCorpus;
            warmup = 'corpus';
          } else {
            model.resetSampling();
            warmUpBySampling(model, promptIds[promptIds.length - 1], { ...draw, rng: new Rng(opts.seed).fork() });
            promptIds = [];
            reset = false;
            warmup = 'generated';
          }
        }

        // The text, written as it is generated: stdout (stderr with --json, whose line is last on stdout).
        const out = ctx.jsonMode ? process.stderr : process.stdout;
        // With a prime of their own, users read the sample in context; the default prime is just a start
        // (and a story's leading spaces after end-of-text are dropped).
        const shown = opts.prime === undefined ? '' : tokenizer.kind === 'word' ? tokenizer.decode(promptIds) : prime;
        let text = shown, leading = opts.prime === undefined && bpe !== null;
        const write = (piece: string) => {
          if (leading) {
            piece = piece.replace(/^\s+/, '');
            if (piece === '') return;
            leading = false;
          }
          text += piece;
          out.write(piece);
        };
        if (shown !== '') out.write(shown);
        const stream = new TextStream(tokenizer, write, opts.stopAt, opts.prime === undefined ? [] : promptIds);
        const ids = sampleTokens(model, promptIds, {
          ...draw, length: opts.length, reset, stopIds: bpe && opts.stop ? [bpe.eotId] : [],
          // A reader gone from stdout (`| head`) ends the sample (with --json the text is on stderr and
          // the JSON line still wants all of it).
          onToken: (id) => stream.push(id) || (!ctx.jsonMode && ctx.stdoutClosed()),
        });
        stream.end();
        if (bpe && opts.prime === undefined) text = text.trimEnd();
        out.write('\n');
        if (opts.json) {
          ctx.json({
            checkpoint: run.dir, model: kind, prime, text, tokens: ids.length, stopped: stream.done,
            temperature: opts.temperature, topK: opts.topK, topP: opts.topP, seed: opts.seed, warmup,
          });
        }
      } finally {
        ops.dispose();
      }
    });
}
