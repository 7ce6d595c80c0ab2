// Our tokenizers as Hugging Face `tokenizer.json` files (the format of the Rust `tokenizers`
// library, read by transformers, transformers.js and @huggingface/tokenizers), and back.
//
//   bpe   → a BPE model with GPT-2's byte-level setup: the ByteLevel pre-tokenizer (GPT-2's split
//           regex, the same as src/data/bpe-tokenizer.ts) and decoder; each token's bytes written
//           in GPT-2's byte-to-unicode alphabet (byte 0x20 → 'Ġ', …); ids unchanged (0…255 the
//           bytes, 256 + i merge i, the special token last, as a special added token so it is
//           matched in the raw text before splitting, as our encoder does).
//   char  → a BPE model with no merges over the characters (a whole text is one "word", split
//           into code points, each looked up), no pre-tokenizer, and a Fuse decoder that joins
//           tokens with nothing between them. (tokenizers.js has no WordLevel model.)
//   word  → none: its lowercasing, paragraph rule and <unk> fallback have no exact form there.
//
// readTokenizerFile() reads either our JSON form ({kind: …}) or such a tokenizer.json back (only
// the shapes written here: a byte-level BPE must have the bytes as ids 0…255, as ours do).
import { readFileSync } from 'node:fs';
import { BpeTokenizer } from '../data/bpe-tokenizer.js';
import { CharTokenizer } from '../data/char-tokenizer.js';
import { tokenizerFromJSON, type Tokenizer } from '../data/tokenizer.js';
import { ExportError, ImportError } from './errors.js';

/** GPT-2's bytes_to_unicode(): byte b is written as the character BYTE_CHARS[b]. */
export const BYTE_CHARS: readonly string[] = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let n = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(printable(b) ? b : 256 + n++));
  return out;
})();

/** A byte-level token's string: its bytes in the byte-to-unicode alphabet. */
function byteLevel(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += BYTE_CHARS[b];
  return s;
}

export interface HfTokenizerFiles {
  /** tokenizer.json */
  tokenizer: Record<string, unknown>;
  /** tokenizer_config.json */
  config: Record<string, unknown>;
}

/** tokenizer.json and tokenizer_config.json for a char or BPE tokenizer; an ExportError for a word tokenizer. */
export function toHfTokenizer(tok: Tokenizer, maxLength: number | null = null): HfTokenizerFiles {
  const common = { version: '1.0', truncation: null, padding: null, normalizer: null, post_processor: null };
  const modelMax = maxLength ?? 1_000_000_000;
  if (tok instanceof BpeTokenizer) {
    const vocab: Record<string, number> = {};
    const strings: string[] = [];
    for (let id = 0; id < tok.eotId; id++) {
      const s = byteLevel(tok.tokenBytes(id));
      if (s in vocab) {
        // Two merges that spell the same bytes (e.g. (a, bc) and (ab, c)): one string, two ids.
        throw new ExportError(`the BPE tokenizer has two tokens for the same bytes (ids ${vocab[s]} and ${id}, ${JSON.stringify(tok.token(id))}); tokenizer.json cannot hold both`);
      }
      vocab[s] = id;
      strings.push(s);
    }
    vocab[tok.special] = tok.eotId;
    const byteLevelOpts = { add_prefix_space: false, trim_offsets: true, use_regex: true };
    return {
      tokenizer: {
        ...common,
        added_tokens: [{ id: tok.eotId, content: tok.special, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
        pre_tokenizer: { type: 'ByteLevel', ...byteLevelOpts },
        decoder: { type: 'ByteLevel', ...byteLevelOpts },
        model: {
          type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
          fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab,
          merges: tok.merges.map(([a, b]) => `${strings[a]} ${strings[b]}`),
        },
      },
      config: {
        tokenizer_class: 'GPT2Tokenizer', add_prefix_space: false, clean_up_tokenization_spaces: false,
        bos_token: tok.special, eos_token: tok.special, unk_token: tok.special, model_max_length: modelMax,
      },
    };
  }
  if (tok instanceof CharTokenizer) {
    const vocab: Record<string, number> = {};
    tok.chars.forEach((c, id) => { vocab[c] = id; });
    return {
      tokenizer: {
        ...common,
        added_tokens: [],
        pre_tokenizer: null,
        decoder: { type: 'Fuse' },
        model: {
          type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
          fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [],
        },
      },
      config: { tokenizer_class: 'PreTrainedTokenizerFast', clean_up_tokenization_spaces: false, model_max_length: modelMax },
    };
  }
  throw new ExportError(`a ${tok.kind} tokenizer has no tokenizer.json form (char and bpe do)`);
}

/** Our tokenizer back from a tokenizer.json written by toHfTokenizer (char or byte-level BPE). */
export function fromHfTokenizer(json: Record<string, unknown>, file: string): Tokenizer {
  const model = json.model as { type?: string; vocab?: Record<string, number>; merges?: unknown[] } | undefined;
  if (model?.type !== 'BPE' || typeof model.vocab !== 'object' || !Array.isArray(model.merges)) {
    throw new ImportError(`${file}: expected a tokenizer.json with a BPE model (as 'handgrad export --format hf' writes)`);
  }
  const vocab = model.vocab;
  const byId: string[] = [];
  for (const [s, id] of Object.entries(vocab)) {
    if (!Number.isInteger(id) || id < 0 || byId[id] !== undefined) throw new ImportError(`${file}: vocabulary id ${id} of ${JSON.stringify(s)} is not a new integer ≥ 0`);
    byId[id] = s;
  }
  const preType = (json.pre_tokenizer as { type?: string } | null)?.type;
  if (preType !== 'ByteLevel') {
    if (model.merges.length > 0 || preType !== undefined) {
      throw new ImportError(`${file}: a BPE tokenizer.json must be byte-level (ByteLevel pre-tokenizer); one with no merges and no pre-tokenizer is a char tokenizer`);
    }
    if (byId.length !== Object.keys(vocab).length) throw new ImportError(`${file}: the vocabulary ids are not 0…${byId.length - 1}`);
    try {
      return new CharTokenizer(byId);
    } catch (e) {
      throw new ImportError(`${file}: ${(e as Error).message}`);
    }
  }
  // Byte-level BPE: ids 0…255 the bytes, then merges in rank order, then the special token.
  for (let b = 0; b < 256; b++) {
    if (vocab[BYTE_CHARS[b]] !== b) throw new ImportError(`${file}: byte ${b} is not token id ${b} (handgrad's byte-level BPE keeps the bytes as ids 0…255)`);
  }
  const merges: [number, number][] = model.merges.map((m, i) => {
    const [l, r] = typeof m === 'string' ? m.split(' ') : (m as string[]);
    const a = vocab[l], b = vocab[r];
    if (a === undefined || b === undefined || vocab[l + r] !== 256 + i) {
      throw new ImportError(`${file}: merge ${i} (${JSON.stringify(m)}) must join known tokens into token id ${256 + i}`);
    }
    return [a, b];
  });
  const added = (json.added_tokens as { id: number; content: string; special?: boolean }[] | undefined) ?? [];
  const special = added.find((t) => t.special && t.id === 256 + merges.length);
  if (!special || byId.length !== 257 + merges.length) {
    throw new ImportError(`${file}: expected one special token with id ${256 + merges.length} after the merges, and no other tokens`);
  }
  try {
    return new BpeTokenizer(merges, special.content);
  } catch (e) {
    throw new ImportError(`${file}: ${(e as Error).message}`);
  }
}

/** A tokenizer file: our JSON form ({"kind": "char" | "word" | "bpe", …}) or a tokenizer.json. */
export function readTokenizerFile(file: string): Tokenizer {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImportError(`${file}: cannot read the tokenizer (${code ?? (e as Error).message})`);
  }
  if (json === null || typeof json !== 'object') throw new ImportError(`${file}: expected a JSON object`);
  if ('kind' in json) {
    try {
      return tokenizerFromJSON(json);
    } catch (e) {
      throw new ImportError(`${file}: ${(e as Error).message}`);
    }
  }
  return fromHfTokenizer(json, file);
}
