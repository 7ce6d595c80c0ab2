// A small made-up corpus for learning tests: lines of random words from a 30-word vocabulary. Char
// models learn it in a few hundred steps, and whether a sample "reads as text" is easy to check.
import { Rng } from '../../src/util/rng.js';

export const WORDS = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'and', 'dog', 'ran', 'to', 'old', 'red', 'barn', 'where', 'hen', 'laid',
  'an', 'egg', 'every', 'morning', 'while', 'farmer', 'slept', 'in', 'his', 'chair', 'by', 'warm', 'fire', 'quietly'];

/** At least `chars` characters of lines of 5–10 random WORDS, each line ending in '\n'. */
export function wordLines(chars: number, seed = 5): { text: string; words: string[] } {
  const rng = new Rng(seed);
  let text = '';
  while (text.length < chars) {
    const n = 5 + rng.int(0, 6);
    text += Array.from({ length: n }, () => WORDS[rng.int(0, WORDS.length)]).join(' ') + '\n';
  }
  return { text, words: WORDS };
}
