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
  CheckpointError, checkpointKind, loadCheckpoint, readCheckpoint, saveCheckpoint, type Manifest,
} from '../../src/train/checkpoint.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-checkpoint-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ops = new ReferenceOps('f64');
const tokenizer = buildTokenizer('hello world, hello whale', { kind: 'char' });
const model = createModel(ops, 'lstm', { vocabSize: tokenizer.vocabSize, hidden: 4, layers: 1, embed: 3 }, new Rng(3));
const dir = join(tmp, 'ck');
const save = (into: string, step: number) => saveCheckpoint(into, {
  model, tokenizer, step, seed: 3, training: { note: 'test' },
  tensors: [['optimizer.m.head.W', { dtype: 'F64', shape: [2], data: [step, -step] }]],
});

/** A fresh copy of the checkpoint to damage. */
function copy(name: string): string {
  const to = join(tmp, name);
  cpSync(dir, to, { recursive: true });
  return to;
}

beforeAll(() => { save(dir, 5); });

describe('checkpoints', () => {
  it('writes model.safetensors, state.json, state.safetensors and a manifest with their SHA-256', () => {
    expect(readdirSync(dir).sort()).toEqual(['manifest.json', 'model.safetensors', 'state.json', 'state.safetensors']);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest).toMatchObject({ format: 'handgrad-checkpoint', version: 2, step: 5 });
    expect(Object.keys(manifest.files).sort()).toEqual(['model.safetensors', 'state.json', 'state.safetensors']);
    expect(manifest.files['model.safetensors'].sha256).toMatch(/^[0-9a-f]{64}$/);
    // model.safetensors is plain safetensors: every parameter by name, the model in the metadata.
    const w = decodeSafetensors(readFileSync(join(dir, 'model.safetensors')));
    expect([...w.tensors.keys()]).toEqual(model.params.map((p) => p.name));
    expect(w.metadata).toMatchObject({ format: 'pt', 'handgrad.kind': 'lstm' });
    expect(JSON.parse(w.metadata['handgrad.config'])).toEqual(model.config);
    expect(w.tensors.get(model.params[0].name)!.dtype).toBe('F64');
  });

  it('loads back the same weights, bit for bit', () => {
    const loaded = loadCheckpoint(dir, new ReferenceOps('f64'));
    expect(loaded.kind).toBe('lstm');
    expect(checkpointKind(dir)).toBe('lstm');
    for (let i = 0; i < model.params.length; i++) expect(loaded.model.params[i].value.data).toEqual(model.params[i].value.data);
    expect(loaded.tokenizer.toJSON()).toEqual(tokenizer.toJSON());
    expect(readCheckpoint(dir).tensors.tensors.get('optimizer.m.head.W')!.data).toEqual(new Float64Array([5, -5]));
  });

  it('detects a truncated file, naming it', () => {
    const d = copy('truncated');
    truncateSync(join(d, 'model.safetensors'), 100);
    expect(() => readCheckpoint(d)).toThrow(CheckpointError);
    expect(() => readCheckpoint(d)).toThrow(/model\.safetensors: 100 bytes, manifest\.json says \d+ \(truncated or altered\)$/);
  });

  it('detects an altered byte, naming the file', () => {
    const d = copy('altered');
    const p = join(d, 'state.safetensors');
    const b = readFileSync(p);
    b[b.length - 1] ^= 1;
    writeFileSync(p, b);
    expect(() => loadCheckpoint(d, ops)).toThrow(/state\.safetensors: SHA-256 differs from manifest\.json \(the file was altered or damaged\)$/);
  });

  it('reports a bad safetensors header and a damaged manifest in one line', () => {
    const d = copy('badheader');
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
    expect(() => readCheckpoint(join(tmp, 'empty'))).toThrow(/empty: not a checkpoint folder \(no manifest\.json; expected the --out folder of 'handgrad train'\)/);
    expect(() => readCheckpoint(join(tmp, 'missing'))).toThrow(/not a checkpoint folder/);
  });

  it('overwrites safely: after a save cut off at any point, a complete checkpoint is found', () => {
    const d = copy('cutoff');
    save(d, 9);
    expect(readCheckpoint(d).state.step).toBe(9);
    expect(existsSync(join(d, '.incoming'))).toBe(false);
    // Cut off after the new set is complete in .incoming and the old manifest is gone, while the
    // new files are being copied into place: the reader takes .incoming.
    const cut = copy('cutoff2');
    save(join(cut, '.incoming'), 12);
    rmSync(join(cut, 'manifest.json'));
    writeFileSync(join(cut, 'model.safetensors'), readFileSync(join(cut, '.incoming', 'model.safetensors')));
    const r = readCheckpoint(cut);
    expect(r.state.step).toBe(12);
    expect(r.dir).toBe(join(cut, '.incoming'));
    // Cut off while .incoming is being written: the old checkpoint in place still verifies.
    const early = copy('cutoff3');
    mkdirSync(join(early, '.incoming'));
    writeFileSync(join(early, '.incoming', 'model.safetensors'), 'partial');
    expect(readCheckpoint(early).state.step).toBe(5);
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
