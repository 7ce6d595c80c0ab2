import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { createModel } from '../../src/models/registry.js';
import { buildTokenizer } from '../../src/data/tokenizer.js';
import { Rng } from '../../src/util/rng.js';
import { decodeSafetensors } from '../../src/train/safetensors.js';
import {
  CheckpointError, checkpointKind, listGenerations, loadCheckpoint, readCheckpoint, saveCheckpoint, type Manifest,
} from '../../src/train/checkpoint.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-checkpoint-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ops = new ReferenceOps('f64');
const tokenizer = buildTokenizer('hello world, hello whale', { kind: 'char' });
const model = createModel(ops, 'lstm', { vocabSize: tokenizer.vocabSize, hidden: 4, layers: 1, embed: 3 }, new Rng(3));
const dir = join(tmp, 'ck');
const save = (into: string, step: number, keep?: number) => saveCheckpoint(into, {
  model, tokenizer, step, seed: 3, training: { note: 'test' },
  tensors: [['optimizer.m.head.W', { dtype: 'F64', shape: [2], data: [step, -step] }]],
}, { keep });

/** A fresh copy of the checkpoint to damage. */
function copy(name: string): string {
  const to = join(tmp, name);
  cpSync(dir, to, { recursive: true });
  return to;
}

beforeAll(() => { save(dir, 5); });

/** The generation folder of `dir`'s step-5 checkpoint. */
const gen5 = (d: string) => join(d, 'ckpt-000000005');

describe('checkpoints', () => {
  it('writes a generation (model.safetensors, state.json, state.safetensors, manifest with their SHA-256) and a pointer to it', () => {
    expect(readdirSync(dir).sort()).toEqual(['ckpt-000000005', 'latest.json']);
    expect(JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8'))).toMatchObject({ format: 'handgrad-checkpoint', generation: 'ckpt-000000005', step: 5 });
    expect(readdirSync(gen5(dir)).sort()).toEqual(['manifest.json', 'model.safetensors', 'state.json', 'state.safetensors']);
    const manifest = JSON.parse(readFileSync(join(gen5(dir), 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest).toMatchObject({ format: 'handgrad-checkpoint', version: 2, step: 5 });
    expect(Object.keys(manifest.files).sort()).toEqual(['model.safetensors', 'state.json', 'state.safetensors']);
    expect(manifest.files['model.safetensors'].sha256).toMatch(/^[0-9a-f]{64}$/);
    // model.safetensors is plain safetensors: every parameter by name, the model in the metadata.
    const w = decodeSafetensors(readFileSync(join(gen5(dir), 'model.safetensors')));
    expect([...w.tensors.keys()]).toEqual(model.params.map((p) => p.name));
    expect(w.metadata).toMatchObject({ format: 'pt', 'handgrad.kind': 'lstm' });
    expect(JSON.parse(w.metadata['handgrad.config'])).toEqual(model.config);
    expect(w.tensors.get(model.params[0].name)!.dtype).toBe('F64');
  });

  it('loads back the same weights, bit for bit', () => {
    const loaded = loadCheckpoint(dir, new ReferenceOps('f64'));
    expect(loaded.kind).toBe('lstm');
    expect(loaded.files!.dir).toBe(gen5(dir));
    expect(loaded.files!.passedOver).toEqual([]);
    expect(checkpointKind(dir)).toBe('lstm');
    for (let i = 0; i < model.params.length; i++) expect(loaded.model.params[i].value.data).toEqual(model.params[i].value.data);
    expect(loaded.tokenizer.toJSON()).toEqual(tokenizer.toJSON());
    expect(readCheckpoint(dir).tensors.tensors.get('optimizer.m.head.W')!.data).toEqual(new Float64Array([5, -5]));
    // A generation folder given directly reads as a checkpoint of its own.
    expect(readCheckpoint(gen5(dir)).state.step).toBe(5);
  });

  it('detects a truncated file, naming it', () => {
    const d = copy('truncated');
    truncateSync(join(gen5(d), 'model.safetensors'), 100);
    expect(() => readCheckpoint(d)).toThrow(CheckpointError);
    expect(() => readCheckpoint(d)).toThrow(/ckpt-000000005\/model\.safetensors: 100 bytes, manifest\.json says \d+ \(truncated or altered\)$/);
  });

  it('detects an altered byte, naming the file', () => {
    const d = copy('altered');
    const p = join(gen5(d), 'state.safetensors');
    const b = readFileSync(p);
    b[b.length - 1] ^= 1;
    writeFileSync(p, b);
    expect(() => loadCheckpoint(d, ops)).toThrow(/state\.safetensors: SHA-256 differs from manifest\.json \(the file was altered or damaged\)$/);
  });

  it('reports a bad safetensors header and a damaged manifest in one line', () => {
    const d = gen5(copy('badheader'));
    // Rewrite the file with a broken header AND a manifest that matches it: the header check catches it.
    const p = join(d, 'model.safetensors');
    const b = readFileSync(p);
    b.writeBigUInt64LE(BigInt(b.length), 0);
    writeFileSync(p, b);
    const m = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8')) as Manifest;
    m.files['model.safetensors'].sha256 = createHash('sha256').update(b).digest('hex');
    writeFileSync(join(d, 'manifest.json'), JSON.stringify(m));
    expect(() => readCheckpoint(d)).toThrow(/model\.safetensors: header length \d+ runs past the end/);
    writeFileSync(join(d, 'manifest.json'), '{"format": "handgrad-ch');
    expect(() => readCheckpoint(d)).toThrow(/manifest\.json: not valid JSON/);
  });

  it('refuses a folder that is not a checkpoint', () => {
    mkdirSync(join(tmp, 'empty'));
    expect(() => readCheckpoint(join(tmp, 'empty'))).toThrow(/empty: not a checkpoint folder \(no latest\.json and no ckpt-\* generation; expected the --out folder of 'handgrad train'\)/);
    expect(() => readCheckpoint(join(tmp, 'missing'))).toThrow(/not a checkpoint folder/);
  });

  it('keeps the newest N generations (--keep-checkpoints)', () => {
    const d = join(tmp, 'keep');
    for (let s = 1; s <= 5; s++) save(d, s, 2);
    expect(readdirSync(d).sort()).toEqual(['ckpt-000000004', 'ckpt-000000005', 'latest.json']);
    save(d, 6, 3);
    save(d, 7, 3);
    expect(listGenerations(d).map((g) => g.step)).toEqual([5, 6, 7]);
    save(d, 8, 1);
    expect(readdirSync(d).sort()).toEqual(['ckpt-000000008', 'latest.json']);
    expect(readCheckpoint(d).state.step).toBe(8);
  });

  it('a second save of the same step writes a new generation beside the first, never over it', () => {
    const d = copy('same-step');
    const first = readFileSync(join(gen5(d), 'manifest.json'));
    expect(save(d, 5, 2)).toBe(join(d, 'ckpt-000000005-1'));
    expect(readFileSync(join(gen5(d), 'manifest.json')).equals(first)).toBe(true); // untouched
    expect(readCheckpoint(d).dir).toBe(join(d, 'ckpt-000000005-1'));
    save(d, 5, 1);
    expect(readdirSync(d).sort()).toEqual(['ckpt-000000005-2', 'latest.json']);
    expect(readCheckpoint(d).state.step).toBe(5);
  });

  it('falls back to the newest generation that verifies when the pointer is damaged, missing or leads to a damaged one', () => {
    const d = join(tmp, 'fallback');
    for (const s of [5, 6, 7]) save(d, s, 3);
    writeFileSync(join(d, 'latest.json'), '{"format": "handgrad-checkpoint", "genera');
    let r = readCheckpoint(d);
    expect(r.state.step).toBe(7);
    expect(r.passedOver).toEqual([expect.stringMatching(/latest\.json: not valid JSON/)]);
    writeFileSync(join(d, 'latest.json'), JSON.stringify({ format: 'handgrad-checkpoint', generation: '../../etc' }));
    expect(readCheckpoint(d).state.step).toBe(7);
    rmSync(join(d, 'latest.json'));
    expect(readCheckpoint(d).state.step).toBe(7);
    // The pointer leads to a generation with a truncated file: the newest one that verifies is taken.
    writeFileSync(join(d, 'latest.json'), JSON.stringify({ format: 'handgrad-checkpoint', generation: 'ckpt-000000007', step: 7 }));
    truncateSync(join(d, 'ckpt-000000007', 'model.safetensors'), 10);
    r = readCheckpoint(d);
    expect(r.state.step).toBe(6);
    expect(r.dir).toBe(join(d, 'ckpt-000000006'));
    expect(r.passedOver).toEqual([expect.stringMatching(/ckpt-000000007\/model\.safetensors: 10 bytes, manifest\.json says/)]);
    expect(loadCheckpoint(d, ops).files!.state.step).toBe(6);
    // The pointer leads to a generation that is gone: the same.
    writeFileSync(join(d, 'latest.json'), JSON.stringify({ format: 'handgrad-checkpoint', generation: 'ckpt-000000009', step: 9 }));
    expect(readCheckpoint(d).state.step).toBe(6);
    // Nothing verifies: the error of the first candidate, naming its file.
    truncateSync(join(d, 'ckpt-000000006', 'state.json'), 3);
    truncateSync(join(d, 'ckpt-000000005', 'state.json'), 3);
    expect(() => readCheckpoint(d)).toThrow(/ckpt-000000009\/manifest\.json: cannot read the manifest \(ENOENT\)/);
  });

  it('cleans what a killed save left behind on the next save, and only that', () => {
    const d = copy('leftovers');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // a process that has exited
    const ours = [`ckpt-000000006.tmp-${dead}`, `latest.json.tmp-${dead}`, `metrics.jsonl.tmp-${dead}`, `model.safetensors.tmp-${dead}`];
    mkdirSync(join(d, ours[0]));
    writeFileSync(join(d, ours[0], 'model.safetensors'), 'partial');
    for (const f of ours.slice(1)) writeFileSync(join(d, f), 'partial');
    // A generation folder without a manifest (or whose files do not match it) was cut off.
    mkdirSync(join(d, 'ckpt-000000007'));
    writeFileSync(join(d, 'ckpt-000000007', 'model.safetensors'), 'partial');
    // Not ours, or of a process that is still running: kept.
    const foreign = ['notes.tmp-123', 'ckpt-notes.txt', 'model.safetensors.tmp-x', `latest.json.tmp-${process.ppid}`, 'ckpt-9.tmp-abc'];
    for (const f of foreign) writeFileSync(join(d, f), 'not ours');
    save(d, 8, 2);
    expect(readdirSync(d).sort()).toEqual(['ckpt-000000005', 'ckpt-000000008', 'latest.json', ...foreign].sort());
  });

  it('still reads the single-folder layout (with or without a cut-off .incoming), and a save turns it into generations', () => {
    // The layout before generations: the four files in the run folder itself.
    const legacy = join(tmp, 'legacy-v2');
    mkdirSync(join(legacy, '.incoming'), { recursive: true });
    for (const f of ['model.safetensors', 'state.safetensors', 'state.json', 'manifest.json']) cpSync(join(gen5(dir), f), join(legacy, f));
    expect(readCheckpoint(legacy).state.step).toBe(5);
    expect(readCheckpoint(legacy).dir).toBe(legacy);
    // Cut off while its spare copy was being written: the folder itself still verifies.
    writeFileSync(join(legacy, '.incoming', 'model.safetensors'), 'partial');
    expect(readCheckpoint(legacy).state.step).toBe(5);
    // Cut off after the spare copy was complete and the old manifest removed: .incoming is read.
    const cut = join(tmp, 'legacy-cut');
    cpSync(legacy, cut, { recursive: true });
    save(join(tmp, 'legacy-src12'), 12);
    cpSync(join(tmp, 'legacy-src12', 'ckpt-000000012'), join(cut, '.incoming'), { recursive: true });
    rmSync(join(cut, 'manifest.json'));
    writeFileSync(join(cut, 'model.safetensors'), readFileSync(join(cut, '.incoming', 'model.safetensors')));
    const r = readCheckpoint(cut);
    expect(r.state.step).toBe(12);
    expect(r.dir).toBe(join(cut, '.incoming'));
    expect(checkpointKind(cut)).toBe('lstm');
    // The next save writes a generation; the old files go only once it is pointed at.
    save(cut, 13);
    expect(readdirSync(cut).sort()).toEqual(['ckpt-000000013', 'latest.json']);
    // A folder whose model.safetensors is not ours (no handgrad manifest) keeps it.
    const foreign = join(tmp, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'model.safetensors'), 'a file of the user');
    save(foreign, 1);
    expect(readFileSync(join(foreign, 'model.safetensors'), 'utf8')).toBe('a file of the user');
  });

  it('still reads the old model.json + weights.bin format for sampling', () => {
    const d = join(tmp, 'legacy');
    mkdirSync(d);
    const V = 3;
    const w = new Float32Array(V * V + V).map((_, i) => i / 10);
    writeFileSync(join(d, 'weights.bin'), new Uint8Array(w.buffer));
    writeFileSync(join(d, 'model.json'), JSON.stringify({
      format: 'handgrad-checkpoint', version: 1, kind: 'bigram', config: { vocabSize: V },
      tokenizer: buildTokenizer('abc', { kind: 'char' }).toJSON(), training: { seed: 1 },
      weights: { file: 'weights.bin', dtype: 'f32', byteOrder: 'little', bytes: w.byteLength,
        tensors: [{ name: 'W', shape: [V, V], offset: 0, length: V * V }, { name: 'b', shape: [V], offset: 4 * V * V, length: V }] },
    }));
    expect(checkpointKind(d)).toBe('bigram');
    const { model: m, files } = loadCheckpoint(d, ops);
    expect(files).toBeNull();
    expect(Array.from(m.params[1].value.data)).toEqual(Array.from(w.subarray(V * V)));
    renameSync(join(d, 'weights.bin'), join(d, 'w.bin'));
    expect(() => loadCheckpoint(d, ops)).toThrow(/weights\.bin: cannot read the weights/);
  });
});
