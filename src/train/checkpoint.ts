// Checkpoints: a folder holding
//   model.safetensors  — every parameter, named as in model.params, in the backend's precision
//                        (F32 for wasm, F64 for the f64 reference backend), readable by PyTorch /
//                        Hugging Face tools; __metadata__ has the model kind and config as strings;
//   state.safetensors  — the rest of the numbers a resumed run needs: optimizer buffers
//                        ("optimizer.<role>.<param>", e.g. optimizer.m.embed.table), the carried
//                        recurrent state ("carry.h", "carry.c") and the loss of every step so far
//                        ("metrics.train_loss", F64);
//   state.json         — what the model is (kind, config, tokenizer) and where training stands:
//                        settings, step, elapsed time, optimizer step count, RNG states, batcher
//                        position, data fingerprint, metrics (src/train/trainer.ts fills it);
//   manifest.json      — written LAST: the byte length and SHA-256 of each of the three files.
//
// Every file is written atomically (temporary file in the same folder, fsync, rename, fsync of the
// folder). Overwriting a checkpoint keeps a complete one on disk at every moment: the new files are
// first written in full into <dir>/.incoming/ (manifest last), then the old manifest is removed,
// the files are written into <dir> and the manifest last, and .incoming is removed. A reader
// takes <dir> if its manifest verifies, else a complete .incoming (a save that was cut off).
// Any truncated or altered file fails its checksum: one line naming the file.
//
// The old format (model.json + weights.bin, version 1) is still read for sampling.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Ops } from '../ops/types.js';
import type { SequenceModel } from '../models/types.js';
import { createModel } from '../models/registry.js';
import { tokenizerFromJSON, type Tokenizer, type TokenizerJSON } from '../data/tokenizer.js';
import { Rng } from '../util/rng.js';
import { decodeSafetensors, encodeSafetensors, SafetensorsError, type SafeDtype, type SafeTensorInput, type SafetensorsFile } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'handgrad-checkpoint';
export const CHECKPOINT_VERSION = 2;
export const MANIFEST_FILE = 'manifest.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const STATE_FILE = 'state.json';
export const STATE_TENSORS_FILE = 'state.safetensors';
/** Where a save writes the complete new checkpoint before copying it over the old one. */
export const INCOMING_DIR = '.incoming';
const FILES = [WEIGHTS_FILE, STATE_TENSORS_FILE, STATE_FILE] as const;

/** A checkpoint that cannot be read or does not fit: one line naming the file and what was wrong. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** A checkpoint could not be written (full disk, no permission): the user's to fix, not a bug. */
export class CheckpointWriteError extends Error {
  override name = 'CheckpointWriteError';
}

/** One line for a failed write: what went wrong, in words, and what to do. */
function writeFailure(dir: string, bytes: number, e: unknown): CheckpointWriteError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const mib = (bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 2 : 0);
  const why = code === 'ENOSPC' || code === 'EDQUOT' ? `no space left on the device (${code}; the checkpoint needs about ${mib} MiB); free some space or choose another --out`
    : code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? `no permission to write there (${code}); choose another --out`
      : `${(e as Error).message}`;
  return new CheckpointWriteError(`cannot save the checkpoint in ${dir}: ${why}`);
}

/** state.json. `training` is whatever the training loop records (see trainer.ts's TrainingState). */
export interface CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  /** Registered model name: `createModel(ops, kind, config, rng)` rebuilds it. */
  kind: string;
  config: Record<string, unknown>;
  tokenizer: TokenizerJSON;
  params: number;
  /** The precision of model.safetensors and state.safetensors. */
  dtype: SafeDtype;
  /** Optimizer steps taken. */
  step: number;
  seed: number;
  training: Record<string, unknown>;
  createdAt: string;
}

export interface Manifest {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  step: number;
  files: Record<string, { bytes: number; sha256: string }>;
  createdAt: string;
}

// ---- writing -------------------------------------------------------------------------------------

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
export function fsyncDir(dir: string): void {
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

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** The safetensors dtype that holds a backend's values exactly. */
export function dtypeOf(model: SequenceModel): SafeDtype {
  return model.params[0]?.value.data instanceof Float64Array ? 'F64' : 'F32';
}

/** model.safetensors' bytes: every parameter by name, in the order of model.params. */
export function encodeWeights(model: SequenceModel): Uint8Array {
  const dtype = dtypeOf(model);
  const names = new Set<string>();
  const entries: [string, SafeTensorInput][] = [];
  for (const p of model.params) {
    if (names.has(p.name)) throw new Error(`${model.kind}: two parameters are named '${p.name}'; checkpoints need unique names`);
    names.add(p.name);
    entries.push([p.name, { dtype, shape: p.shape, data: p.value.data }]);
  }
  return encodeSafetensors(entries, { format: 'pt', 'handgrad.kind': model.kind, 'handgrad.config': JSON.stringify(model.config) });
}

export interface SaveCheckpointInput {
  model: SequenceModel;
  tokenizer: Tokenizer;
  step: number;
  seed: number;
  /** Everything else the training loop wants back on resume (plain JSON). */
  training: Record<string, unknown>;
  /** state.safetensors' tensors (optimizer buffers, carried state, loss history). */
  tensors?: [string, SafeTensorInput][];
}

/** Writes a checkpoint into `dir` (created if needed), replacing the one there safely; returns `dir`. */
export function saveCheckpoint(dir: string, input: SaveCheckpointInput): string {
  const { model, tokenizer } = input;
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw writeFailure(dir, 0, e);
  }
  const dtype = dtypeOf(model);
  const state: CheckpointState = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    kind: model.kind,
    config: model.config,
    tokenizer: tokenizer.toJSON(),
    params: model.params.reduce((s, p) => s + p.value.size, 0),
    dtype,
    step: input.step,
    seed: input.seed,
    training: input.training,
    createdAt: new Date().toISOString(),
  };
  const bytes: Record<string, Uint8Array> = {
    [WEIGHTS_FILE]: encodeWeights(model),
    [STATE_TENSORS_FILE]: encodeSafetensors(input.tensors ?? [], { format: 'pt' }),
    [STATE_FILE]: Buffer.from(JSON.stringify(state, null, 2) + '\n', 'utf8'),
  };
  const manifest: Manifest = {
    format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, step: input.step, files: {}, createdAt: state.createdAt,
  };
  for (const f of FILES) manifest.files[f] = { bytes: bytes[f].length, sha256: sha256(bytes[f]) };
  const manifestText = JSON.stringify(manifest, null, 2) + '\n';

  const writeSet = (into: string) => {
    for (const f of FILES) writeFileAtomic(join(into, f), bytes[f]);
    fsyncDir(into);
    writeFileAtomic(join(into, MANIFEST_FILE), manifestText);
    fsyncDir(into);
  };
  // 1. the complete new checkpoint beside the old one; 2. retire the old one (its manifest);
  // 3. the new one in place, manifest last; 4. drop the spare copy.
  const incoming = join(dir, INCOMING_DIR);
  const total = FILES.reduce((n, f) => n + bytes[f].length, manifestText.length);
  try {
    rmSync(incoming, { recursive: true, force: true });
    mkdirSync(incoming);
    fsyncDir(dir);
    writeSet(incoming);
  } catch (e) {
    // Nothing of the new checkpoint may stay behind; the previous one (if any) is untouched.
    rmSync(incoming, { recursive: true, force: true });
    throw writeFailure(dir, total, e);
  }
  rmSync(join(dir, MANIFEST_FILE), { force: true });
  fsyncDir(dir);
  writeSet(dir);
  rmSync(incoming, { recursive: true, force: true });
  fsyncDir(dir);
  return dir;
}

// ---- reading -------------------------------------------------------------------------------------

/** A verified checkpoint's contents, before any model is built. */
export interface CheckpointFiles {
  /** The folder the files came from (the checkpoint folder, or its .incoming after a cut-off save). */
  dir: string;
  manifest: Manifest;
  state: CheckpointState;
  weights: SafetensorsFile;
  tensors: SafetensorsFile;
}

function readBytes(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new CheckpointError(`${path}: cannot read ${what} (${(e as { code?: string }).code ?? (e as Error).message})`);
  }
}

function parseJson<T>(path: string, bytes: Buffer): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (e) {
    throw new CheckpointError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** Reads one folder's manifest, checks every file against it and parses them. */
function readVerified(dir: string): CheckpointFiles {
  const mpath = join(dir, MANIFEST_FILE);
  const manifest = parseJson<Manifest>(mpath, readBytes(mpath, 'the manifest'));
  if (manifest?.format !== CHECKPOINT_FORMAT) throw new CheckpointError(`${mpath}: not a handgrad checkpoint manifest`);
  if (manifest.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(`${mpath}: checkpoint version ${manifest.version}, this handgrad reads version ${CHECKPOINT_VERSION}`);
  }
  const contents: Record<string, Buffer> = {};
  for (const f of FILES) {
    const entry = manifest.files?.[f];
    if (!entry || typeof entry.sha256 !== 'string') throw new CheckpointError(`${mpath}: does not list ${f}`);
    const path = join(dir, f);
    const bytes = readBytes(path, 'a checkpoint file');
    if (bytes.length !== entry.bytes) {
      throw new CheckpointError(`${path}: ${bytes.length} bytes, ${MANIFEST_FILE} says ${entry.bytes} (truncated or altered)`);
    }
    if (sha256(bytes) !== entry.sha256) {
      throw new CheckpointError(`${path}: SHA-256 differs from ${MANIFEST_FILE} (the file was altered or damaged)`);
    }
    contents[f] = bytes;
  }
  const spath = join(dir, STATE_FILE);
  const state = parseJson<CheckpointState>(spath, contents[STATE_FILE]);
  if (state?.format !== CHECKPOINT_FORMAT || state.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(`${spath}: not a version ${CHECKPOINT_VERSION} handgrad checkpoint state`);
  }
  if (typeof state.kind !== 'string' || typeof state.config !== 'object' || state.config === null || !state.tokenizer) {
    throw new CheckpointError(`${spath}: missing kind, config or tokenizer`);
  }
  const decode = (f: string) => {
    try {
      return decodeSafetensors(contents[f], join(dir, f));
    } catch (e) {
      if (e instanceof SafetensorsError) throw new CheckpointError(e.message);
      throw e;
    }
  };
  return { dir, manifest, state, weights: decode(WEIGHTS_FILE), tensors: decode(STATE_TENSORS_FILE) };
}

/** Is `dir` an old-format (model.json + weights.bin) checkpoint? */
export function isLegacyCheckpoint(dir: string): boolean {
  return !existsSync(join(dir, MANIFEST_FILE)) && !existsSync(join(dir, INCOMING_DIR, MANIFEST_FILE)) && existsSync(join(dir, LEGACY_MODEL_FILE));
}

/** Finds, verifies and parses the checkpoint in `dir` (or the complete copy a cut-off save left). */
export function readCheckpoint(dir: string): CheckpointFiles {
  let isDir = false;
  try { isDir = statSync(dir).isDirectory(); } catch { /* missing */ }
  const incoming = join(dir, INCOMING_DIR);
  const hasMain = isDir && existsSync(join(dir, MANIFEST_FILE));
  const hasIncoming = isDir && existsSync(join(incoming, MANIFEST_FILE));
  if (!hasMain && !hasIncoming) {
    throw new CheckpointError(`${dir}: not a checkpoint folder (no ${MANIFEST_FILE}; expected the --out folder of 'handgrad train')`);
  }
  if (hasMain) {
    try {
      return readVerified(dir);
    } catch (e) {
      if (!hasIncoming) throw e;
      try { return readVerified(incoming); } catch { throw e; }
    }
  }
  return readVerified(incoming);
}

export interface LoadedCheckpoint {
  model: SequenceModel;
  tokenizer: Tokenizer;
  kind: string;
  /** null for an old-format checkpoint. */
  files: CheckpointFiles | null;
}

/** Copies a safetensors file's tensors into the model's parameters, checking names and shapes. */
export function loadWeightsInto(model: SequenceModel, weights: SafetensorsFile, file: string): void {
  const seen = new Set<string>();
  for (const p of model.params) {
    const t = weights.tensors.get(p.name);
    if (!t) throw new CheckpointError(`${file}: no tensor for parameter '${p.name}' of ${model.kind}`);
    if (t.shape.join('×') !== p.shape.join('×')) {
      throw new CheckpointError(`${file}: '${p.name}' is ${t.shape.join('×')} in the file, the model has ${p.shape.join('×')}`);
    }
    p.value.data.set(t.data);
    seen.add(p.name);
  }
  for (const name of weights.tensors.keys()) {
    if (!seen.has(name)) throw new CheckpointError(`${file}: tensor '${name}' is not a parameter of ${model.kind}`);
  }
}

/** Rebuilds the model on `ops` from a checkpoint folder (either format) and loads its weights. */
export function loadCheckpoint(dir: string, ops: Ops): LoadedCheckpoint {
  if (isLegacyCheckpoint(dir)) return loadLegacyCheckpoint(dir, ops);
  const files = readCheckpoint(dir);
  const { state } = files;
  let tokenizer: Tokenizer;
  try {
    tokenizer = tokenizerFromJSON(state.tokenizer);
  } catch (e) {
    throw new CheckpointError(`${join(files.dir, STATE_FILE)}: bad tokenizer (${(e as Error).message})`);
  }
  // The weights are overwritten below, so the seed only has to be valid.
  let model: SequenceModel;
  try {
    model = createModel(ops, state.kind, state.config, new Rng(state.seed ?? 0));
  } catch (e) {
    if ((e as Error).name === 'UnknownModelError') throw e;
    throw new CheckpointError(`${join(files.dir, STATE_FILE)}: does not describe a usable model (${(e as Error).message})`);
  }
  loadWeightsInto(model, files.weights, join(files.dir, WEIGHTS_FILE));
  return { model, tokenizer, kind: state.kind, files };
}

/** The model kind of the checkpoint in `dir` (either format), checking it without building anything. */
export function checkpointKind(dir: string): string {
  return isLegacyCheckpoint(dir) ? readModelJson(dir).kind : readCheckpoint(dir).state.kind;
}

// ---- the old format, read only ---------------------------------------------------------------------

export const LEGACY_MODEL_FILE = 'model.json';

interface LegacyWeightEntry { name: string; shape: number[]; offset: number; length: number }

/** Version 1's model.json (the weights were raw float32 in weights.bin). */
export interface ModelJson {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  kind: string;
  config: Record<string, unknown>;
  tokenizer: TokenizerJSON;
  training?: { seed?: number };
  weights: { file: string; bytes: number; tensors: LegacyWeightEntry[] };
}

/** Reads and validates an old-format model.json. */
export function readModelJson(dir: string): ModelJson {
  const path = join(dir, LEGACY_MODEL_FILE);
  const json = parseJson<ModelJson>(path, readBytes(path, 'the model description'));
  if (json?.format !== CHECKPOINT_FORMAT) throw new CheckpointError(`${path}: not a handgrad checkpoint (format is ${JSON.stringify(json?.format)})`);
  if (json.version !== 1) throw new CheckpointError(`${path}: checkpoint version ${json.version}, expected 1 for a model.json checkpoint`);
  if (typeof json.kind !== 'string' || typeof json.config !== 'object' || !json.weights || !Array.isArray(json.weights.tensors)) {
    throw new CheckpointError(`${path}: missing kind, config or weights`);
  }
  return json;
}

function loadLegacyCheckpoint(dir: string, ops: Ops): LoadedCheckpoint {
  const json = readModelJson(dir);
  const wpath = join(dir, json.weights.file);
  const bytes = readBytes(wpath, 'the weights');
  if (bytes.length !== json.weights.bytes) {
    throw new CheckpointError(`${wpath}: holds ${bytes.length} bytes, ${LEGACY_MODEL_FILE} says ${json.weights.bytes} (truncated or mismatched)`);
  }
  let tokenizer: Tokenizer;
  try {
    tokenizer = tokenizerFromJSON(json.tokenizer);
  } catch (e) {
    throw new CheckpointError(`${join(dir, LEGACY_MODEL_FILE)}: bad tokenizer (${(e as Error).message})`);
  }
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
  return { model, tokenizer, kind: json.kind, files: null };
}
