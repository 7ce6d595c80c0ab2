// `handgrad sample <checkpointDir>`: loads a checkpoint written by `handgrad train` and prints text
// drawn from the model (src/models/sample.ts does the drawing).
//
// Byte-level BPE checkpoints (TinyStories, the MoE models) write stories: the default prime is
// the end-of-text token (what precedes every story in training), and a story ends where the model
// emits end-of-text again (--no-stop keeps going through it, up to --length tokens).
import type { Command } from 'commander';
import { parseChoice, parseInteger, UsageError } from '../args.js';
import { BACKEND_CHOICES, openOps, pickBackend } from '../device.js';
import { BpeTokenizer, END_OF_TEXT } from '../../data/bpe-tokenizer.js';
import type { SequenceModel } from '../../models/types.js';
import { parseNumber } from '../values.js';
import type { CliContext } from '../context.js';
import type { BackendName } from '../../backends/index.js';
import { checkpointKind, CheckpointError, loadCheckpoint, type LoadedCheckpoint } from '../../train/checkpoint.js';
import { pickToken, sampleTokens } from '../../models/sample.js';
import { PARAGRAPH } from '../../data/word-tokenizer.js';
import type { Tokenizer } from '../../data/tokenizer.js';
import { UnknownModelError } from '../../models/registry.js';
import { Rng } from '../../util/rng.js';

interface SampleCliOptions {
  prime?: string;
  length: number;
  temperature: number;
  topK: number;
  seed: number;
  backend?: BackendName;
  device?: BackendName;
  stop: boolean;
  json?: boolean;
}

/** Draws up to `length` tokens after `prompt`, ending early (without it) at token `stopId`. */
function sampleUntil(model: SequenceModel, prompt: number[], length: number, temperature: number, topK: number, rng: Rng, stopId: number): number[] {
  model.resetSampling();
  const out: number[] = [];
  let logp = model.nextLogProbs(prompt);
  const next = [0];
  for (let i = 0; i < length; i++) {
    const id = pickToken(logp, temperature, topK, rng);
    if (id === stopId) break;
    out.push(id);
    if (i + 1 < length) { next[0] = id; logp = model.nextLogProbs(next); }
  }
  return out;
}

/**
 * Without --prime: BPE starts a story (the end-of-text token precedes every story in training);
 * others start from a line (paragraph) break when the vocabulary has one, else from token 0.
 */
function defaultPrime(tok: Tokenizer): string {
  if (tok instanceof BpeTokenizer) return tok.special;
  const brk = tok.kind === 'word' ? PARAGRAPH : '\n';
  return tok.covers(brk) ? brk : tok.token(0);
}

/** The characters (or words) of `text` that the tokenizer has never seen, for the error message. */
function unknownParts(tok: Tokenizer, text: string): string[] {
  const parts = tok.kind === 'char' ? [...text] : text.split(/\s+/).filter(Boolean);
  return [...new Set(parts.filter((p) => !tok.covers(p)))];
}

export function registerSample(program: Command, ctx: CliContext): void {
  program.command('sample')
    .description('generate text from a checkpoint written by `handgrad train`')
    .argument('<checkpointDir>', 'the --out folder of `handgrad train` (model.safetensors, state.json, manifest.json)')
    .option('--prime <text>', 'text to start from (default: a line break)')
    .option('--length <n>', 'tokens to generate', parseInteger('--length', 0, 10_000_000), 500)
    .option('--temperature <t>', '0 = greedy, 1 = the model\'s distribution, higher = more random',
      parseNumber('--temperature', { min: 0 }), 1)
    .option('--top-k <k>', 'draw only among the k most likely tokens; 0 = all', parseInteger('--top-k', 0), 0)
    .option('--seed <n>', 'seed for the draws', parseInteger('--seed', 0, 2 ** 32 - 1), 1)
    .option('--backend <name>', 'wasm, reference or cuda (default wasm)', parseChoice('--backend', BACKEND_CHOICES))
    .option('--device <name>', 'the same as --backend (e.g. --device cuda)', parseChoice('--device', BACKEND_CHOICES))
    .option('--no-stop', `bpe: keep generating through ${END_OF_TEXT} (default: the story ends there)`)
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
        let loaded!: LoadedCheckpoint;
        try { loaded = loadCheckpoint(dir, ops); } catch (e) { usage(e); }
        const { model, tokenizer, kind } = loaded;
        const prime = opts.prime ?? defaultPrime(tokenizer);
        if (prime === '') throw new UsageError('sample: --prime must not be empty (leave it out to start from a line break)');
        if (!tokenizer.covers(prime)) {
          const unknown = unknownParts(tokenizer, prime).slice(0, 10).map((p) => JSON.stringify(p)).join(', ');
          if (tokenizer.kind === 'char') {
            throw new UsageError(`sample: --prime has characters the model never saw: ${unknown} (its vocabulary has ${tokenizer.vocabSize} characters)`);
          }
          ctx.note(`sample: --prime words outside the vocabulary become <unk>: ${unknown}`);
        }
        const promptIds = Array.from(tokenizer.encode(prime));
        if (promptIds.length === 0) throw new UsageError(`sample: --prime ${JSON.stringify(prime)} holds no tokens`);
        const bpe = tokenizer instanceof BpeTokenizer ? tokenizer : null;
        const ids = bpe && opts.stop
          ? sampleUntil(model, promptIds, opts.length, opts.temperature, opts.topK, new Rng(opts.seed), bpe.eotId)
          : sampleTokens(model, promptIds, { length: opts.length, temperature: opts.temperature, topK: opts.topK, rng: new Rng(opts.seed) });
        const generated = tokenizer.decode(ids);
        // With a prime of their own, users want to read the sample in context (the word tokenizer
        // decodes both together so the spacing is consistent); the default prime is just a start.
        const text = opts.prime === undefined ? (bpe ? generated.trim() : generated)
          : tokenizer.kind === 'word' ? tokenizer.decode([...promptIds, ...ids]) : prime + generated;
        ctx.print(text);
        if (opts.json) {
          ctx.json({
            checkpoint: dir, model: kind, prime, text, tokens: ids.length,
            temperature: opts.temperature, topK: opts.topK, seed: opts.seed,
          });
        }
      } finally {
        ops.dispose();
      }
    });
}
