// `handgrad bench char-models`: a tiny budget on a temporary corpus (so it never needs
// HANDGRAD_DATA), written into a temporary Markdown file; checks the table's structure and that
// rewriting the section keeps the rest of the file. A smoke test, not a measurement.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHAR_MODELS, mergeCharModelsSection, writeSection } from '../../bench/char-models.js';
import { trimGutenberg } from '../../src/data/corpus.js';
import { lastJson, runHandgrad } from '../cli/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'handgrad-char-models-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// ~48k characters of varied text: enough for a batch of 32 × 128 windows (the transformer) in the 10 % validation tail.
function tinyCorpus(): string {
  const words = ['alice', 'rabbit', 'queen', 'hatter', 'tea', 'said', 'the', 'and', 'a', 'very', 'curious', 'garden', 'door', 'key'];
  let seed = 12345, out = '';
  const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  while (out.length < 48_000) {
    const n = 4 + (next() % 8);
    const line: string[] = [];
    for (let i = 0; i < n; i++) line.push(words[next() % words.length]);
    out += line.join(' ') + (next() % 3 === 0 ? '.\n' : ', ');
  }
  return out + '\n*** END OF THE PROJECT GUTENBERG EBOOK TEST ***\nlicence text that is cut off\n';
}

describe('handgrad bench char-models', () => {
  it('writes a delimited Markdown table with one row per model, keeping the rest of the file', () => {
    const corpus = join(dir, 'tiny.txt');
    writeFileSync(corpus, tinyCorpus());
    const md = join(dir, 'results.md');
    writeFileSync(md, '# Measured results\n\nintro kept\n\n<!-- other:begin -->\nother section\n<!-- other:end -->\n');
    const run = () => runHandgrad(['bench', 'char-models', '--budget', '300ms', '--data', corpus, '--threads', '1', '--out', md, '--json']);
    for (let k = 0; k < 2; k++) { // twice: the section is replaced, not appended again
      const r = run();
      expect(r.code, r.stderr).toBe(0);
      const report = lastJson(r.stdout) as { rows: { model: string; steps: number; trainLoss: number; valLoss: number }[]; trimmedChars: number };
      expect(report.rows.map((x) => x.model)).toEqual([...CHAR_MODELS]);
      for (const x of report.rows) {
        expect(x.steps, x.model).toBeGreaterThan(0);
        expect(Number.isFinite(x.trainLoss) && Number.isFinite(x.valLoss), x.model).toBe(true);
      }
      expect(report.trimmedChars).toBeGreaterThan(0);
    }
    const text = readFileSync(md, 'utf8');
    expect(text).toContain('intro kept');
    expect(text).toContain('other section');
    expect(text.match(/<!-- char-models:begin -->/g)).toHaveLength(1);
    expect(text.match(/<!-- char-models:end -->/g)).toHaveLength(1);
    const section = text.slice(text.indexOf('<!-- char-models:begin -->'), text.indexOf('<!-- char-models:end -->'));
    const table = section.split('\n').filter((l) => l.startsWith('|'));
    expect(table[0]).toMatch(/^\| model \| settings \| params \| steps \| train loss \| val loss \| tokens\/s \| wall s \| source curriculum train loss \| measured \(budget, load before → after\) \|$/);
    expect(table[1]).toMatch(/^\|[-:|]+\|$/);
    expect(table.slice(2).map((l) => l.split('|')[1].trim())).toEqual([...CHAR_MODELS]);
    for (const row of table.slice(2)) {
      const cells = row.split('|').slice(1, -1).map((c) => c.trim());
      expect(cells).toHaveLength(10);
      expect(cells[9]).toMatch(/^\d{4}-\d\d-\d\dT\S+Z, 0\.3 s, load \d+\.\d\d → \d+\.\d\d$/);
      expect(cells[4]).toMatch(/^\d+\.\d{3} \(\d+\.\d{3}\)$/); // train loss (bits)
      expect(cells[5]).toMatch(/^\d+\.\d{3} \(\d+\.\d{3}\)$/); // val loss (bits)
    }
    expect(section).toContain('source curriculum, longer training');
    expect(section).toContain('```text'); // the LSTM sample
    expect(section).toMatch(/load average \d+\.\d\d before/);
    expect(section).not.toContain('licence text that is cut off');
  }, 120_000);

  it('merges rows by model name, keeping old rows (with their own date and load) and the LSTM sample', () => {
    const old = [
      '## Character models on alice, 90 s each', '',
      'Measured 2026-11-23T04:01:06Z on AMD EPYC (Node 24), 1-minute load average 4.92 before / 3.15 after (a shared 2-vCPU machine).', '',
      '| model | settings | params | steps | train loss | val loss | tokens/s | wall s | source curriculum train loss |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|',
      '| bigram | lr 0.05 | 1 | 2 | 2.4 (3.4) | 2.4 (3.5) | 3 | 90.0 | ~3.0 |',
      '| lstm | lr 0.003 | 1 | 2 | 1.1 (1.6) | 1.4 (2.1) | 3 | 90.7 | ~0.78 |',
      '', 'Sampled from the LSTM above (temperature 0.8):', '', '```text', 'Alice said', '```', '',
    ].join('\n');
    const fresh = [
      '## Character models on alice, 90 s each', '', 'Measured 2026-11-24T00:00:00Z …', '',
      '| model | settings | params | steps | train loss | val loss | tokens/s | wall s | source curriculum train loss | measured (budget, load before → after) |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
      '| transformer | lr 0.003 | 9 | 9 | 2.0 (2.9) | 2.1 (3.0) | 9 | 90.0 | ~0.70 | 2026-11-24T00:01:00Z, 90 s, load 1.00 → 2.00 |',
      '| bigram | lr 0.05 | 5 | 5 | 2.3 (3.3) | 2.3 (3.3) | 5 | 90.0 | ~3.0 | 2026-11-24T00:02:00Z, 90 s, load 2.00 → 2.00 |',
    ].join('\n');
    const merged = mergeCharModelsSection(old, fresh);
    const rows = merged.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| model'));
    expect(rows.map((l) => l.split('|')[1].trim())).toEqual(['bigram', 'lstm', 'transformer']);
    expect(rows[0]).toContain('2026-11-24T00:02:00Z'); // replaced by the new run
    expect(rows[1]).toMatch(/\| 2026-11-23T04:01:06Z, 90 s, load 4\.92 → 3\.15 \|$/); // kept, with the old run's date and load
    for (const r of rows) expect(r.split('|').slice(1, -1)).toHaveLength(10);
    expect(merged).toContain('Measured 2026-11-24T00:00:00Z');
    expect(merged).toContain('```text\nAlice said\n```');
    // merging again is stable
    expect(mergeCharModelsSection(merged, fresh)).toBe(merged);
  });

  it('writeSection appends a new section and replaces an existing one', () => {
    const f = join(dir, 'w.md');
    writeSection(f, 'x', 'one');
    writeSection(f, 'y', 'two');
    writeSection(f, 'x', 'three');
    expect(readFileSync(f, 'utf8')).toBe('# Measured results\n\n<!-- x:begin -->\nthree\n<!-- x:end -->\n\n<!-- y:begin -->\ntwo\n<!-- y:end -->\n');
  });

  it('trimGutenberg cuts the licence footer and header, and leaves plain text alone', () => {
    expect(trimGutenberg('head\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\nbody\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\nlicence')).toBe('body\n');
    expect(trimGutenberg('plain text\n')).toBe('plain text\n');
  });
});
