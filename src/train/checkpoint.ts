// Checkpoints, minimal form: a folder holding
//   model.json   — what the model is (kind, config, tokenizer), how it was trained (step count,
//                  optimizer, schedule, seed, data) and how well (final losses), plus the table of
//                  where each weight tensor lies in weights.bin;
//   weights.bin  — every parameter's values, as little-endian float32, one tensor after another
//                  in the order of model.params (offsets in bytes, recorded in model.json).
// Both files are written atomically (temporary file in the same folder, fsync, rename, fsync of the
// folder), weights first: model.json is the commit point, so a folder with a model.json always
// has the weights that model.json describes, even if the process dies mid-write.
//
// NOTE: the weights are not safetensors yet. The npm package `safetensors` is a 0.0.1 placeholder
// (no release in years), so there is no well-kept library to use; the issue that adds exact resume
// (optimizer moments, RNG and batcher position) is to switch weights.bin to the safetensors layout
// (8-byte header length + JSON header + the same raw little-endian data), which is a small change.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Ops } from '../ops/types.js';
import type { SequenceModel } from '../models/types.js';
import { createModel } from '../models/registry.js';
import { tokenizerFromJSON, type Tokenizer, type TokenizerJSON } from '../data/tokenizer.js';
import { Rng } from '../util/rng.js';

export const CHECKPOINT_FORMAT = 'handgrad-checkpoint';
export const CHECKPOINT_VERSION = 1;
export const MODEL_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';

export interface WeightEntry {
  name: string;
  shape: number[];
  /** Byte offset in weights.bin. */
  offset: number;
  /** Number of float32 values. */
  length: number;
}

/** What the training loop knows about a run, saved next to the model. */
export interface TrainingRecord {
  steps: number;
  optimizer: string;
  lr: number;
  schedule: string;
  warmup: number;
  clip: number;
  batch: number;
  seq: number;
  sampler: string;
  seed: number;
  backend: string;
  data: { name: string; source: string; tokens: number; trainTokens: number; valTokens: number };
  trainLoss: number;
  /** null when there was no validation split. */
  valLoss: number | null;
  valBits: number | null;
  seconds: number;
  tokensPerSec: number;
}

export interface ModelJson {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  /** Registered model name: `createModel(ops, kind, config, rng)` rebuilds it. */
  kind: string;
  config: Record<string, unknown>;
  tokenizer: TokenizerJSON;
  params: number;
  training: TrainingRecord;
  weights: { file: string; dtype: 'f32'; byteOrder: 'little'; bytes: number; tensors: WeightEntry[] };
  createdAt: string;
}

/** Writes `data` to `path` so that readers see the old file or the whole new one, never a part. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/** fsync a folder so a rename inside it survives a crash (a no-op where folders cannot be opened). */
function fsyncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Windows cannot open a folder; its renames are durable enough for us.
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Every parameter as little-endian float32, back to back, and the table of where each one is. */
export function packWeights(model: SequenceModel): { bytes: Uint8Array; tensors: WeightEntry[] } {
  const names = new Set<string>();
  const tensors: WeightEntry[] = [];
  let offset = 0;
  for (const p of model.params) {
    if (names.has(p.name)) throw new Error(`${model.kind}: two parameters are named '${p.name}'; checkpoints need unique names`);
    names.add(p.name);
    tensors.push({ name: p.name, shape: [...p.shape], offset, length: p.value.size });
    offset += 4 * p.value.size;
  }
  const bytes = new Uint8Array(offset);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < tensors.length; i++) {
    const src = model.params[i].value.data;
    const e = tensors[i];
    if (LITTLE_ENDIAN) {
      new Float32Array(bytes.buffer, e.offset, e.length).set(src);
    } else {
      for (let j = 0; j < e.length; j++) view.setFloat32(e.offset + 4 * j, src[j], true);
    }
  }
  return { bytes, tensors };
}

export interface SaveCheckpointInput {
  model: SequenceModel;
  tokenizer: Tokenizer;
  training: TrainingRecord;
}

/** Writes model.json and weights.bin into `dir` (created if needed); returns the folder. */
export function saveCheckpoint(dir: string, input: SaveCheckpointInput): string {
  const { model, tokenizer, training } = input;
  mkdirSync(dir, { recursive: true });
  const { bytes, tensors } = packWeights(model);
  writeFileAtomic(join(dir, WEIGHTS_FILE), bytes);
  const json: ModelJson = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    kind: model.kind,
    config: model.config,
    tokenizer: tokenizer.toJSON(),
    params: tensors.reduce((s, t) => s + t.length, 0),
    training,
    weights: { file: WEIGHTS_FILE, dtype: 'f32', byteOrder: 'little', bytes: bytes.length, tensors },
    createdAt: new Date().toISOString(),
  };
  writeFileAtomic(join(dir, MODEL_FILE), JSON.stringify(json, null, 2) + '\n');
  fsyncDir(dir);
  return dir;
}

/** A checkpoint that cannot be read: one line naming the file and what was expected. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** Reads and validates model.json. */
export function readModelJson(dir: string): ModelJson {
  const path = join(dir, MODEL_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new CheckpointError(code === 'ENOENT' || code === 'ENOTDIR'
      ? `${dir}: not a checkpoint folder (no ${MODEL_FILE}; expected the --out folder of 'handgrad train')`
      : `${path}: cannot read it (${code ?? (e as Error).message})`);
  }
  let json: ModelJson;
  try {
    json = JSON.parse(text) as ModelJson;
  } catch (e) {
    throw new CheckpointError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (json?.format !== CHECKPOINT_FORMAT) throw new CheckpointError(`${path}: not a handgrad checkpoint (format is ${JSON.stringify(json?.format)})`);
  if (json.version !== CHECKPOINT_VERSION) throw new CheckpointError(`${path}: checkpoint version ${json.version}, this handgrad reads version ${CHECKPOINT_VERSION}`);
  if (typeof json.kind !== 'string' || typeof json.config !== 'object' || !json.weights || !Array.isArray(json.weights.tensors)) {
    throw new CheckpointError(`${path}: missing kind, config or weights`);
  }
  return json;
}

export interface LoadedCheckpoint {
  model: SequenceModel;
  tokenizer: Tokenizer;
  json: ModelJson;
}

/** Rebuilds the model on `ops` from a checkpoint folder and loads its weights. */
export function loadCheckpoint(dir: string, ops: Ops): LoadedCheckpoint {
  const json = readModelJson(dir);
  const wpath = join(dir, json.weights.file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(wpath);
  } catch (e) {
    throw new CheckpointError(`${wpath}: cannot read the weights (${(e as { code?: string }).code ?? (e as Error).message})`);
  }
  if (bytes.length !== json.weights.bytes) {
    throw new CheckpointError(`${wpath}: holds ${bytes.length} bytes, ${MODEL_FILE} says ${json.weights.bytes} (truncated or mismatched)`);
  }
  let tokenizer: Tokenizer;
  try {
    tokenizer = tokenizerFromJSON(json.tokenizer);
  } catch (e) {
    throw new CheckpointError(`${join(dir, MODEL_FILE)}: bad tokenizer (${(e as Error).message})`);
  }
  // The weights are overwritten below, so the seed only has to be valid.
  const model = createModel(ops, json.kind, json.config, new Rng(json.training?.seed ?? 0));
  const entries = new Map(json.weights.tensors.map((e) => [e.name, e]));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const p of model.params) {
    const e = entries.get(p.name);
    if (!e) throw new CheckpointError(`${wpath}: no weights for parameter '${p.name}' of ${json.kind}`);
    if (e.length !== p.value.size || e.shape.join('×') !== p.shape.join('×')) {
      throw new CheckpointError(`${wpath}: '${p.name}' is ${e.shape.join('×')} in the file, the model has ${p.shape.join('×')}`);
    }
    if (e.offset < 0 || e.offset + 4 * e.length > bytes.length) throw new CheckpointError(`${wpath}: '${p.name}' lies outside the file`);
    const dst = p.value.data;
    for (let j = 0; j < e.length; j++) dst[j] = view.getFloat32(e.offset + 4 * j, true);
  }
  return { model, tokenizer, json };
}
