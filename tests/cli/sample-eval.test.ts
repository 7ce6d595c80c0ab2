// `handgrad sample` and `handgrad eval` on trained runs:
//   - an unprimed recurrent sample reads as text from its first characters (warm start: the corpus's
//     text before a random line break, or a burn-in of its own when the corpus is gone);
//   - the text is written token by token while it is generated; --stop-at ends it; --top-p is accepted;
//   - eval reports nats and bits per token and per character, perplexity, and a loss-by-position
//     profile for window models, on the run's validation split or on --data.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BigramLM } from '../../src/models/bigram.js';
import { registerModel } from '../../src/models/registry.js';
import { main } from '../../src/cli/main.js';
import { train } from '../../src/train/trainer.js';
import { cli, lastJson } from './helpers.js';
import { wordLines } from '../models/word-lines.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-sample-eval-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const { text: corpusText, words } = wordLines(60_000);
const corpusFile = join(tmp, 'words.txt');
const dictionary = new Set(words);

/** The share of the whitespace-separated words of `text` that are words of the corpus. */
function wordShare(text: string): number {
  const ws = text.split(/\s+/).filter(Boolean);
  return ws.filter((w) => dictionary.has(w)).length / Math.max(1, ws.length);
}

// A stateful model that, like a recurrent net trained with carried state, is lost in a fresh state:
// uniform over the vocabulary until it has read COLD tokens since resetSampling(), then certain of
// the next character of SCRIPT (ids of the checkpoint's char tokenizer: the corpus's sorted characters).
const COLD = 60;
const chars = [...new Set(corpusText)].sort();
const SCRIPT = Array.from('the cat sat on a mat\n', (c) => chars.indexOf(c));
let events: string[] = [];
class ColdStartBigram extends BigramLM {
  private fed = 0;
  constructor(...args: ConstructorParameters<typeof BigramLM>) {
    super(...args);
    (this as { kind: string }).kind = 'cold-start-test'; // what its checkpoints record
  }
  override resetSampling(): void { this.fed = 0; super.resetSampling(); }
  override nextLogProbs(tokens: number[]): Float64Array {
    events.push('token');
    this.fed += tokens.length;
    const lp = super.nextLogProbs(tokens);
    if (this.fed < COLD) return lp.fill(-Math.log(lp.length));
    const next = SCRIPT[this.fed % SCRIPT.length];
    return lp.map((_, j) => (j === next ? 0 : -1e9));
  }
}
registerModel({
  name: 'cold-start-test', description: 'a stateful bigram that is noise from a fresh state', stateful: true, defaults: {}, options: [],
  create: (ops, c, rng) => new ColdStartBigram(ops, { vocabSize: c.vocabSize as number }, rng),
});

const lstmRun = join(tmp, 'lstm'), coldRun = join(tmp, 'cold'), coldMemoryRun = join(tmp, 'cold-memory'), trRun = join(tmp, 'tr');
beforeAll(async () => {
  writeFileSync(corpusFile, corpusText);
  const common = { data: corpusFile, valEvery: 0, backend: 'wasm' as const, threads: 1 };
  await train({ ...common, model: 'lstm', modelOptions: { hidden: 64 }, steps: 300, out: lstmRun });
  await train({ ...common, model: 'cold-start-test', steps: 200, out: coldRun });
  // The same from a corpus handed over in memory: sample cannot find it again, so it burns in on its own text.
  await train({ ...common, data: { name: 'words', source: 'memory', text: corpusText }, model: 'cold-start-test', steps: 200, out: coldMemoryRun });
  await train({ ...common, model: 'transformer', modelOptions: { layers: 1, dModel: 16, context: 32 }, steps: 20, out: trRun });
}, 60_000);

describe('sample without --prime', () => {
  it('an LSTM trained briefly writes mostly words of its corpus from the first character', async () => {
    for (const seed of ['1', '2', '3']) {
      const r = await cli('sample', lstmRun, '--length', '100', '--seed', seed, '--json');
      expect(r.code, r.stderr).toBe(0);
      const j = lastJson(r.stdout);
      expect(j.warmup).toBe('corpus');
      expect(wordShare(j.text as string), JSON.stringify(j.text)).toBeGreaterThanOrEqual(0.75);
    }
  });

  it('a model lost in a fresh state starts warm: from its corpus, or from a burn-in when the corpus is gone', async () => {
    for (const [dir, how] of [[coldRun, 'corpus'], [coldMemoryRun, 'generated']] as const) {
      const r = await cli('sample', dir, '--length', '100', '--json');
      expect(r.code, r.stderr).toBe(0);
      const j = lastJson(r.stdout);
      expect(j.warmup).toBe(how);
      expect(wordShare(j.text as string), JSON.stringify(j.text)).toBeGreaterThanOrEqual(0.9);
    }
    // With a prime of the user's, no warm-up: the prime is all it reads (and this model is lost).
    const primed = lastJson((await cli('sample', coldRun, '--prime', 'the', '--length', '40', '--json')).stdout);
    expect(primed.warmup).toBeNull();
    expect(wordShare((primed.text as string).slice(3))).toBeLessThan(0.5);
  });
});

describe('sample output', () => {
  it('is written token by token while the model generates', async () => {
    events = [];
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => { events.push('write'); return true; });
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['sample', coldRun, '--length', '50', '--prime', 'the cat '])).toBe(0);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
    // The prime, then a write after (almost) every generated token, before the next is computed.
    const firstToken = events.indexOf('token'), lastToken = events.lastIndexOf('token');
    const writesBetween = events.slice(firstToken, lastToken).filter((e) => e === 'write').length;
    expect(writesBetween).toBeGreaterThanOrEqual(40);
  });

  it('--stop-at ends the sample where the text appears, without it; --top-p is accepted', async () => {
    const r = await cli('sample', lstmRun, '--length', '300', '--stop-at', '\\n', '--top-p', '0.9', '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j).toMatchObject({ stopped: true, topP: 0.9 });
    expect(j.text).not.toContain('\n');
    expect(r.stderr).toBe(`${j.text}\n`); // the streamed text (on stderr beside --json) is the same text
    const bad = await cli('sample', lstmRun, '--top-p', '0');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--top-p/);
  });
});

describe('eval', () => {
  it('reports loss per token and per character and perplexity on the validation split', async () => {
    const r = await cli('eval', lstmRun, '--last', '--json'); // the last checkpoint, not best/
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j).toMatchObject({ model: 'lstm', step: 300, best: false, profile: null, seq: 64 });
    expect(j.natsPerToken as number).toBeLessThan(2); // it learned something (uniform: ln 27 ≈ 3.3)
    expect(j.bitsPerToken).toBeCloseTo((j.natsPerToken as number) / Math.LN2, 12);
    expect(j.natsPerChar).toBeCloseTo(j.natsPerToken as number, 12); // char tokenizer
    expect(j.perplexity).toBeCloseTo(Math.exp(j.natsPerToken as number), 10);
    expect(j.tokens as number).toBeGreaterThan(5000);
    expect(j.data).toMatch(/held out in training/);
  });

  it('a window model gets a loss-by-position profile; --data evaluates another text', async () => {
    const other = join(tmp, 'other.txt');
    writeFileSync(other, wordLines(5000, 9).text);
    const r = await cli('eval', trRun, '--data', other, '--last');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^transformer at step 20 on .*other\.txt: [\d,]+ chars in windows of 32$/m);
    expect(r.stdout).toMatch(/^loss by position in the window:$/m);
    expect(r.stdout.match(/^ +\d+–\d+ +\d\.\d{4} nats/gm)).toHaveLength(16);
    const j = lastJson((await cli('eval', trRun, '--data', other, '--last', '--json')).stdout);
    const profile = j.profile as { from: number; to: number; nats: number }[];
    expect(profile.map((p) => [p.from, p.to])).toEqual(Array.from({ length: 16 }, (_, k) => [2 * k, 2 * k + 1]));
    const mean = profile.reduce((s, p) => s + p.nats, 0) / profile.length;
    expect(j.natsPerToken).toBeCloseTo(mean, 10);
  });

  it('refuses a text with characters the model never saw, and a window past the context', async () => {
    const odd = join(tmp, 'odd.txt');
    writeFileSync(odd, 'zebra quokka '.repeat(100));
    const r = await cli('eval', lstmRun, '--data', odd);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^handgrad: eval: --data .*odd\.txt: has characters the model never saw: "z"/);
    const long = await cli('eval', trRun, '--seq', '64');
    expect(long.code).toBe(2);
    expect(long.stderr).toMatch(/--seq 64 is longer than the model's context 32/);
  });
});
