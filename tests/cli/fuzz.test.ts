// Bad input, generated: well over a thousand wrong invocations and malformed files thrown at the
// CLI — unknown commands, models and options; every numeric option with non-numbers and
// out-of-range values; missing, empty, binary and non-UTF-8 data files; corpora shorter than one
// batch; checkpoints from another model, truncated, altered or with missing files; --out where a
// file or folder is in the way. Each must end with exit code 2 (1 for a documented runtime
// failure), exactly one line on stderr (`handgrad: …`) that names what was wrong, no stack
// frames, and nothing written: the --out path absent or unchanged.
//
// The invocations run IN PROCESS through src/cli/main.ts's main() (stdout and stderr captured),
// so a thousand cases take seconds; a handful also run as real processes to show that the
// in-process harness sees what a user sees.
import { createHash } from 'node:crypto';
import {
  cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listModels, optionFlag } from '../../src/models/registry.js';
import { Rng } from '../../src/util/rng.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { cli, runHandgrad } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-fuzz-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A bad invocation: what it must say (any of `names`, case-insensitive) and the paths it must not touch. */
interface Case {
  argv: string[];
  names: string[];
  /** Paths that must be absent afterwards. */
  absent?: string[];
  /** Folders or files that must be byte-for-byte unchanged afterwards. */
  unchanged?: string[];
  /** Allowed exit codes (default [2]). */
  codes?: number[];
}

/** Every file under `p` with its SHA-256 (or the file's own), for "unchanged" checks. */
function fingerprint(p: string): string {
  if (!existsSync(p)) return 'absent';
  const st = statSync(p);
  if (!st.isDirectory()) return createHash('sha256').update(readFileSync(p)).digest('hex');
  return readdirSync(p, { recursive: true }).map(String).sort()
    .map((f) => `${f}:${statSync(join(p, f)).isDirectory() ? 'dir' : createHash('sha256').update(readFileSync(join(p, f))).digest('hex')}`)
    .join('\n');
}

const rng = new Rng(20261123);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)];
const randomName = () => Array.from({ length: 3 + Math.floor(rng.next() * 8) }, () => pick('abcdefghijklmnopqrstuvwxyz0123456789-_'.split(''))).join('');

// Values that are never a valid integer / number, whatever the range.
const NOT_INT = ['abc', '', ' ', '1.5', '1e3', '0x10', 'NaN', 'Infinity', '-Infinity', '1,2', '5abc', '½', '١٢', '1_000', '+', '9'.repeat(30), 'null'];
const NOT_NUMBER = ['abc', '', ' ', 'NaN', 'Infinity', '-Infinity', '1e999', '-1e999', '0x1', '1,5', '1..2', 'e5', '.', '-', '1e', '2x', 'null'];

const cases: Case[] = [];
let good = '', ckBigram = '', ckLstm = '';
const outFor = (i: number) => join(tmp, 'out', `o${i}`);
const fileInTheWay = join(tmp, 'in-the-way.txt');

/** `--flag value` and `--flag=value` for each bad value. */
function optionCases(prefix: string[], flag: string, values: string[], extra: Omit<Case, 'argv' | 'names'> = {}, suffix: string[] = []): void {
  for (const v of values) {
    cases.push({ argv: [...prefix, `--${flag}`, v, ...suffix], names: [flag, v.trim() || flag], ...extra });
    cases.push({ argv: [...prefix, `--${flag}=${v}`, ...suffix], names: [flag, v.trim() || flag], ...extra });
  }
}

beforeAll(async () => {
  good = join(tmp, 'good.txt');
  writeFileSync(good, 'the quick brown fox jumps over the lazy dog, and the whale watches. '.repeat(30));
  writeFileSync(fileInTheWay, 'not a folder\n');
  mkdirSync(join(tmp, 'out'));
  ckBigram = join(tmp, 'ck-bigram');
  ckLstm = join(tmp, 'ck-lstm');
  const base = ['--data', good, '--steps', '3', '--batch', '2', '--seq', '8', '--val-every', '2', '--backend', 'reference'];
  for (const [model, dir, extra] of [['bigram', ckBigram, []], ['lstm', ckLstm, ['--hidden', '4']]] as const) {
    const r = await cli('train', model, ...base, ...extra, '--out', dir, '--json');
    expect(r.code, r.stderr).toBe(0);
  }
  buildCases();
}, 120_000);

function buildCases(): void {
  let n = 0;
  const trainArgs = (model: string, without: string[] = []) => {
    const base: Record<string, string> = { data: good, steps: '2', batch: '2', seq: '8', backend: 'reference' };
    for (const k of without) delete base[k];
    const out = outFor(n++);
    return { argv: ['train', model, ...Object.entries(base).flatMap(([k, v]) => [`--${k}`, v]), '--out', out], out };
  };

  // ---- train: every numeric and choice option ----
  const intOpts: [string, number, number][] = [
    ['vocab-size', 2, Infinity], ['steps', 1, Infinity], ['batch', 1, 1 << 16], ['seq', 1, 1 << 20], ['warmup', 0, Infinity],
    ['seed', 0, 2 ** 32 - 1], ['val-every', 0, Infinity], ['val-batches', 1, Infinity], ['threads', 1, 256],
  ];
  for (const [flag, min, max] of intOpts) {
    const key = flag.replace(/-([a-z])/g, (_, c: string) => c);
    const vals = [...NOT_INT, String(min - 1), ...(Number.isFinite(max) ? [String(max + 1)] : [])];
    for (const v of vals) {
      const { argv, out } = trainArgs('bigram', [flag, key]);
      for (const form of [[`--${flag}`, v], [`--${flag}=${v}`]]) cases.push({ argv: [...argv, ...form], names: [flag, v.trim() || flag], absent: [out] });
    }
  }
  const numOpts: [string, string[]][] = [
    ['lr', ['0', '-1', '-0.001']], ['weight-decay', ['-1', '-1e-9']], ['min-lr', ['-1']], ['clip', ['-0.5']],
    ['val-fraction', ['1', '1.5', '-0.1', '100']],
  ];
  for (const [flag, range] of numOpts) {
    for (const v of [...NOT_NUMBER, ...range]) {
      const { argv, out } = trainArgs('bigram');
      for (const form of [[`--${flag}`, v], [`--${flag}=${v}`]]) cases.push({ argv: [...argv, ...form], names: [flag, v.trim() || flag], absent: [out] });
    }
  }
  for (const flag of ['time', 'checkpoint-every']) {
    for (const v of ['abc', '', '0', '0s', '-5m', '1x', 'm', '5 minutes', '1h-1m', '∞', '1.5.2s', 'NaN']) {
      const { argv, out } = trainArgs('bigram');
      for (const form of [[`--${flag}`, v], [`--${flag}=${v}`]]) cases.push({ argv: [...argv, ...form], names: [flag, v.trim() || flag], absent: [out] });
    }
  }
  for (const flag of ['tokenizer', 'optimizer', 'schedule', 'sampler', 'backend']) {
    for (const v of ['', 'x', 'ADAM', 'adam ', 'sgd,adam', '0', 'char word', 'Reference']) {
      const { argv, out } = trainArgs('bigram', [flag]);
      cases.push({ argv: [...argv, `--${flag}`, v], names: [flag, v.trim() || flag], absent: [out] });
    }
  }
  // ---- train: model options, for each model that has them, and for one that does not ----
  for (const spec of listModels()) {
    for (const opt of spec.options) {
      const flag = optionFlag(opt.key);
      const vals = opt.type === 'int' ? [...NOT_INT.filter((v) => v.trim() !== ''), String((opt.min ?? 0) - 1), ...(opt.max !== undefined ? [String(opt.max + 1)] : [])]
        : opt.type === 'float' ? NOT_NUMBER.filter((v) => v.trim() !== '')
          : opt.type === 'choice' ? ['x', 'ADAM', '0', opt.choices.join(',')] : [];
      for (const v of vals) {
        const { argv, out } = trainArgs(spec.name);
        cases.push({ argv: [...argv, `--${flag}=${v}`], names: [flag, v], absent: [out] });
      }
    }
  }
  for (const flag of ['hidden', 'layers', 'context', 'heads', 'd-model']) {
    const { argv, out } = trainArgs('bigram');
    cases.push({ argv: [...argv, `--${flag}`, '4'], names: [flag], absent: [out] });
  }

  // ---- unknown commands, models, options ----
  for (let i = 0; i < 25; i++) {
    const name = randomName();
    const { argv, out } = trainArgs(`zz${name}`);
    cases.push({ argv, names: [`zz${name}`], absent: [out] });
    cases.push({ argv: [`zz${name}`], names: [`zz${name}`] });
    for (const cmd of ['train', 'sample', 'eval', 'plot', 'report', 'task', 'info', 'gradcheck', 'bench']) {
      cases.push({ argv: [cmd, `--zz${name}`], names: [`--zz${name}`] });
    }
  }
  cases.push({ argv: ['train'], names: ['model'] }, { argv: ['sample'], names: ['checkpointDir'] }, { argv: ['eval'], names: ['runDir'] },
    { argv: ['plot'], names: ['runDir'] },
    { argv: ['report'], names: ['runDir'] }, { argv: ['bench'], names: ['command'] });

  // ---- data files ----
  const files: [string, Uint8Array | string | null][] = [
    ['empty.txt', ''], ['spaces.txt', ' \n\t\n  '], ['crlf-only.txt', '\r\n\r\n'],
    ['utf16.txt', Buffer.from('\ufeffhello world, hello world, hello world', 'utf16le')],
    ['gzip.txt', Uint8Array.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03])],
    ['short.txt', 'abc'], ['short2.txt', 'one batch is not here'],
  ];
  for (let i = 0; i < 20; i++) {
    const bytes = Array.from({ length: 40 + Math.floor(rng.next() * 200) }, () => 32 + Math.floor(rng.next() * 90));
    bytes.splice(Math.floor(rng.next() * bytes.length), 0, ...pick([[0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xff], [0xfe],
      [0xe2, 0x82], [0xf0, 0x9f, 0x98]]));
    files.push([`bad-utf8-${i}.txt`, Uint8Array.from(bytes)]);
    const bin = Array.from({ length: 64 + Math.floor(rng.next() * 500) }, () => Math.floor(rng.next() * 256));
    bin[Math.floor(rng.next() * bin.length)] = 0;
    files.push([`binary-${i}.bin`, Uint8Array.from(bin)]);
  }
  for (let i = 0; i < 10; i++) files.push([`missing-${randomName()}.txt`, null]);
  for (const [name, content] of files) {
    const p = join(tmp, 'data', name);
    mkdirSync(join(tmp, 'data'), { recursive: true });
    if (content !== null) writeFileSync(p, content);
    for (const model of ['bigram', 'lstm', 'gru']) {
      const { argv, out } = trainArgs(model, ['data']);
      cases.push({ argv: [...argv, '--data', p], names: [name], absent: [out] });
    }
  }
  for (const d of [join(tmp, 'data'), join(tmp, 'data') + '/', 'no/such/dir/x.txt', 'nosuchcorpusname']) {
    const { argv, out } = trainArgs('bigram', ['data']);
    cases.push({ argv: [...argv, '--data', d], names: [d.replace(/\/$/, '')], absent: [out] });
  }
  // Long enough for training, too short a validation split; batches larger than the corpus.
  for (const [batch, seq] of [['64', '64'], ['1', '4000'], ['500', '8']]) {
    const { argv, out } = trainArgs('bigram', ['batch', 'seq']);
    cases.push({ argv: [...argv, '--batch', batch, '--seq', seq], names: ['good.txt'], absent: [out] });
  }

  // ---- --out in the way ----
  for (const model of ['bigram', 'lstm']) {
    const { argv } = trainArgs(model);
    cases.push({ argv: [...argv, '--out', fileInTheWay], names: ['in-the-way.txt'], unchanged: [fileInTheWay] });
    cases.push({ argv: [...argv, '--out', join(fileInTheWay, 'sub')], names: ['in-the-way.txt'], unchanged: [fileInTheWay] });
    cases.push({ argv: [...argv, '--out', ''], names: ['--out'] });
  }
  for (const cmd of ['plot', 'report']) {
    const ext = cmd === 'plot' ? 'svg' : 'html';
    cases.push({ argv: [cmd, ckBigram, '--out', join(tmp, 'out')], names: ['--out'], unchanged: [join(tmp, 'out')] });
    cases.push({ argv: [cmd, ckBigram, '--out', join(fileInTheWay, `x.${ext}`)], names: ['--out'], unchanged: [fileInTheWay] });
    cases.push({ argv: [cmd, ckBigram, '--out', join(tmp, 'no', 'such', `x.${ext}`)], names: ['--out'], absent: [join(tmp, 'no')] });
    cases.push({ argv: [cmd, ckBigram, '--out', join(tmp, 'x.png')], names: ['--out'], absent: [join(tmp, 'x.png')] });
    cases.push({ argv: [cmd, fileInTheWay], names: ['in-the-way.txt'], unchanged: [fileInTheWay] });
    cases.push({ argv: [cmd, join(tmp, 'nothing-here')], names: ['nothing-here'], absent: [join(tmp, 'nothing-here')] });
  }

  // ---- sample and report: numeric options ----
  const sampleOpts: [string, string[]][] = [['length', [...NOT_INT, '-1', '10000001']], ['temperature', [...NOT_NUMBER, '-1']],
    ['top-k', [...NOT_INT, '-1']], ['top-p', [...NOT_NUMBER, '0', '-0.5', '1.5']], ['seed', [...NOT_INT, '-1', String(2 ** 32)]],
    ['backend', ['x', '', 'cuda ']]];
  for (const [flag, vals] of sampleOpts) optionCases(['sample', ckBigram], flag, vals);
  const evalOpts: [string, string[]][] = [['seq', [...NOT_INT, '0']], ['max-tokens', [...NOT_INT, '0']], ['backend', ['x', '']]];
  for (const [flag, vals] of evalOpts) optionCases(['eval', ckBigram], flag, vals);
  optionCases(['train', 'bigram', '--data', good], 'patience', [...NOT_INT, '-1']);
  const reportOut = join(tmp, 'report-never.html');
  const reportOpts: [string, string[]][] = [['samples', [...NOT_INT, '-1', '101']], ['length', [...NOT_INT, '0', '100001']],
    ['temperature', [...NOT_NUMBER, '-1']], ['seed', [...NOT_INT, '-1', String(2 ** 32)]], ['backend', ['x', '']]];
  for (const [flag, vals] of reportOpts) optionCases(['report', ckBigram, '--out', reportOut], flag, vals, { absent: [reportOut] });

  // ---- checkpoints: another model, truncated, altered, missing files ----
  const variants: { dir: string; what: string; codes?: number[] }[] = [];
  const FILES = ['manifest.json', 'model.safetensors', 'state.safetensors', 'state.json'];
  // The run folder's only generation (ckpt-…) is the one damaged: nothing to fall back to.
  const generation = relative(ckBigram, readCheckpoint(ckBigram).dir);
  let v = 0;
  const variant = (what: string, edit: (dir: string) => void, codes?: number[]) => {
    const dir = join(tmp, 'ck', `v${v++}`);
    cpSync(ckBigram, dir, { recursive: true });
    // Without its best/ copy, which sample and report would otherwise open instead of the damaged generation.
    rmSync(join(dir, 'best'), { recursive: true, force: true });
    edit(join(dir, generation));
    variants.push({ dir, what, codes });
  };
  for (const f of FILES) {
    const size = statSync(join(ckBigram, generation, f)).size;
    for (const len of [0, 1, Math.floor(size / 2), size - 2]) // (size - 1 only drops a JSON file's final newline) variant(`${f} truncated to ${len}`, (d) => truncateSync(join(d, f), len));
    for (let k = 0; k < 5; k++) {
      variant(`${f} altered`, (d) => {
        const b = readFileSync(join(d, f));
        // The manifest's createdAt and spacing are not checked (harmless to alter): hit a digest.
        const digests = f === 'manifest.json' ? [...b.toString('latin1').matchAll(/[0-9a-f]{64}/g)].map((m) => m.index) : [];
        const at = f === 'manifest.json' ? pick(digests) + Math.floor(rng.next() * 64) : Math.floor(rng.next() * b.length);
        b[at] ^= 1 + Math.floor(rng.next() * 127);
        writeFileSync(join(d, f), b);
      });
    }
    variant(`${f} missing`, (d) => rmSync(join(d, f)));
  }
  // Altered with the manifest recomputed: the checksums pass, the contents do not fit.
  const remanifest = (d: string) => {
    const m = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8'));
    for (const f of Object.keys(m.files)) {
      const b = readFileSync(join(d, f));
      m.files[f] = { bytes: b.length, sha256: createHash('sha256').update(b).digest('hex') };
    }
    writeFileSync(join(d, 'manifest.json'), JSON.stringify(m));
  };
  const editState = (fn: (s: Record<string, any>) => void) => (d: string) => {
    const s = JSON.parse(readFileSync(join(d, 'state.json'), 'utf8'));
    fn(s);
    writeFileSync(join(d, 'state.json'), JSON.stringify(s));
    remanifest(d);
  };
  variant('kind lstm with bigram weights', editState((s) => { s.kind = 'lstm'; }), [1, 2]);
  variant('unknown kind', editState((s) => { s.kind = 'nosuchmodel'; }), [1, 2]); // (named: unknown model 'nosuchmodel')
  variant('vocabulary size changed', editState((s) => { s.config.vocabSize = 3; }), [1, 2]);
  variant('tokenizer removed', editState((s) => { delete s.tokenizer; }), [1, 2]);
  variant('tokenizer garbage', editState((s) => { s.tokenizer = { kind: 'char', chars: 5 }; }), [1, 2]);
  variant('version 99', editState((s) => { s.version = 99; }), [1, 2]);
  variant('state.json not JSON', (d) => { writeFileSync(join(d, 'state.json'), '{"kind": '); remanifest(d); }, [1, 2]);
  variant('weights header garbage', (d) => { writeFileSync(join(d, 'model.safetensors'), Buffer.from('\x08\0\0\0\0\0\0\0{"a":1}x')); remanifest(d); }, [1, 2]);
  variant('weights header huge', (d) => { const b = readFileSync(join(d, 'model.safetensors')); b.writeUInt32LE(0xffffff, 0); writeFileSync(join(d, 'model.safetensors'), b); remanifest(d); }, [1, 2]);
  variant('manifest of another format', (d) => writeFileSync(join(d, 'manifest.json'), '{"format":"other","version":2}'));
  variant('manifest is an array', (d) => writeFileSync(join(d, 'manifest.json'), '[]'));
  variant('empty folder', (d) => { for (const f of readdirSync(d)) rmSync(join(d, f), { recursive: true }); });
  for (const { dir, what, codes } of variants) {
    const names = [dir, 'v' + dir.split('/v').pop(), 'nosuchmodel'];
    cases.push({ argv: ['sample', dir, '--backend', 'reference', '--length', '5'], names, unchanged: [dir], codes });
    cases.push({ argv: ['train', '--resume', dir, '--steps', '6'], names, unchanged: [dir], codes });
    const out = join(tmp, 'report-never.html');
    cases.push({ argv: ['report', dir, '--backend', 'reference', '--samples', '1', '--length', '5', '--out', out], names, unchanged: [dir], absent: [out], codes });
    void what;
  }
  cases.push({ argv: ['train', 'lstm', '--resume', ckBigram], names: ['bigram'], unchanged: [ckBigram] });
  cases.push({ argv: ['train', 'bigram', '--resume', ckLstm], names: ['lstm'], unchanged: [ckLstm] });
  cases.push({ argv: ['train', 'gru', '--resume', ckLstm, '--steps', '9'], names: ['lstm'], unchanged: [ckLstm] });
  cases.push({ argv: ['train', '--resume', ckLstm, '--hidden', '8'], names: ['hidden'], unchanged: [ckLstm] });
  cases.push({ argv: ['train', '--resume', ckBigram, '--lr', '0.5'], names: ['lr'], unchanged: [ckBigram] });
  cases.push({ argv: ['train', '--resume', ckBigram, '--data', join(tmp, 'data', 'short2.txt')], names: ['corpus'], unchanged: [ckBigram] });
}

describe('the CLI on bad input', () => {
  it('exits 2 (or 1), with one line naming the problem, no stack trace, and nothing written, for every generated case', async () => {
    expect(cases.length).toBeGreaterThanOrEqual(1000);
    const failures: string[] = [];
    const byCode = new Map<number, number>();
    const saved = process.env.HANDGRAD_DEBUG;
    delete process.env.HANDGRAD_DEBUG;
    try {
      for (const c of cases) {
        const before = (c.unchanged ?? []).map(fingerprint);
        const r = await cli(...c.argv);
        byCode.set(r.code, (byCode.get(r.code) ?? 0) + 1);
        const why: string[] = [];
        if (!(c.codes ?? [2]).includes(r.code)) why.push(`exit ${r.code}`);
        if (!/^handgrad: [^\n]+\n$/.test(r.stderr)) why.push('stderr is not one "handgrad: …" line');
        if (/\n\s+at /.test(r.stderr) || /\bat .*\.ts:\d+/.test(r.stderr)) why.push('stack frames');
        const low = r.stderr.toLowerCase();
        if (!c.names.some((n) => low.includes(n.toLowerCase()))) why.push(`does not name ${c.names.map((n) => JSON.stringify(n)).join(' or ')}`);
        for (const p of c.absent ?? []) if (existsSync(p)) { why.push(`left ${p} behind`); rmSync(p, { recursive: true, force: true }); }
        (c.unchanged ?? []).forEach((p, i) => { if (fingerprint(p) !== before[i]) why.push(`changed ${p}`); });
        if (why.length) failures.push(`${JSON.stringify(c.argv.map((a) => a.replace(tmp, '$TMP')))}: ${why.join('; ')} — ${JSON.stringify(r.stderr.replaceAll(tmp, '$TMP').slice(0, 300))}`);
      }
    } finally {
      if (saved !== undefined) process.env.HANDGRAD_DEBUG = saved;
    }
    console.log(`fuzz: ${cases.length} bad invocations (exit codes: ${[...byCode].map(([k, n]) => `${k}×${n}`).join(', ')}), ${failures.length} failed`);
    expect(failures.slice(0, 80).join('\n')).toBe('');
  }, 600_000);

  it('a real process gives the same exit code and message as the in-process harness', async () => {
    const sample = [0, 100, 400, 700, cases.length - 1].map((i) => cases[Math.min(i, cases.length - 1)]);
    sample.push(cases.find((c) => c.argv[0] === 'sample' && c.codes)!, cases.find((c) => c.argv.includes(fileInTheWay))!);
    for (const c of sample) {
      const a = await cli(...c.argv);
      const b = runHandgrad(c.argv, 60_000);
      expect({ argv: c.argv, code: b.code, stderr: b.stderr, stdout: b.stdout }).toEqual({ argv: c.argv, code: a.code, stderr: a.stderr, stdout: a.stdout });
    }
  }, 300_000);
});
