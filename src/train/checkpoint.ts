// Checkpoints. A run folder (the --out of `handgrad train`) holds numbered generations, a pointer
// to the newest, and a copy of the best one:
//
//   latest.json          the pointer: {"generation": "ckpt-000000120", "step": 120, …}, replaced
//                        atomically (temporary file, fsync, rename, fsync of the folder)
//   ckpt-000000100/      one generation per save, named by the step (a second save of the same step
//   ckpt-000000120/      becomes ckpt-000000120-1, -2, …: a save never replaces a folder in place)
//   best/                the weights with the best validation loss so far: a run folder of its own
//                        (latest.json + one generation), updated by the same scheme
//   metrics.jsonl        the metrics log (src/train/metrics-log.ts)
//
// A generation holds
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
// Why this shape: at every instant at least one complete, verified checkpoint is on disk, whatever
// cuts a save off (kill -9, a full disk, a power cut). A save (1) writes the new generation into
// ckpt-….tmp-<pid>/, every file fsynced, the manifest last, then fsyncs that folder; (2) renames it
// to ckpt-<step>/ and fsyncs the run folder; (3) points latest.json at it; (4) only then removes
// the generations beyond the newest --keep-checkpoints (default 2) and fsyncs the run folder again.
// Nothing that exists before a save is touched before step (3) is durable. Readers follow the
// pointer; when it is missing or damaged, or its generation fails verification (a file truncated
// or altered), they take the newest generation that verifies. Any truncated or altered file fails
// its checksum: one line naming the file inside its generation.
//
// Leftovers of a killed save (ckpt-*.tmp-<pid>/, latest.json.tmp-<pid>, metrics.jsonl.tmp-<pid>,
// a generation folder whose manifest is missing or does not match its files), and of a failed one
// that could not remove them (a disk turned read-only), are removed at the start of the next save, but only names this code writes, and never a temporary file of a
// process that is still running.
//
// Older layouts are still read: the single-folder checkpoint of version 2 (the four files directly
// in the run folder, or in its .incoming/ after a save that was cut off), which a resumed run
// turns into generations (its files are removed only once the first generation and the pointer are
// durable), and version 1 (model.json + weights.bin), for sampling.
//
// Test hook: HANDGRAD_TEST_SAVE_DELAY_MS=<ms> makes every save sleep that long between its phases
// (each file, the manifest, the rename, the pointer, each removal), so a test can land a kill -9
// inside a save at will (tests/cli/chaos.test.ts). It has no other effect; never set it otherwise.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Ops } from '../ops/types.js';
import type { SequenceModel } from '../models/types.js';
import { createModel } from '../models/registry.js';
import { tokenizerFromJSON, type Tokenizer, type TokenizerJSON } from '../data/tokenizer.js';
import { Rng } from '../util/rng.js';
import { removeQuietly } from '../util/remove-quietly.js';
import { decodeSafetensors, encodeSafetensors, SafetensorsError, type SafeDtype, type SafeTensorInput, type SafetensorsFile } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'handgrad-checkpoint';
export const CHECKPOINT_VERSION = 2;
export const MANIFEST_FILE = 'manifest.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const STATE_FILE = 'state.json';
export const STATE_TENSORS_FILE = 'state.safetensors';
/** The pointer naming a run folder's newest complete generation. */
export const POINTER_FILE = 'latest.json';
/** The sub-folder of a run folder holding the checkpoint with the best validation loss (a run folder itself). */
export const BEST_DIR = 'best';
/** Generations a run folder keeps unless told otherwise (--keep-checkpoints). */
export const DEFAULT_KEEP_CHECKPOINTS = 2;
/** The old single-folder layout's spare copy (a save wrote it before overwriting the folder); read only now. */
export const INCOMING_DIR = '.incoming';
const FILES = [WEIGHTS_FILE, STATE_TENSORS_FILE, STATE_FILE] as const;

/** A generation folder: ckpt-<step, 9 digits>, with -<revision> for a second save of the same step. */
const GENERATION_NAME = /^ckpt-(\d+)(?:-(\d+))?$/;
/**
 * The temporary names written into a run folder, <name>.tmp-<pid>: a generation being written (or
 * being removed), the pointer and the metrics log (writeFileAtomic), and the old layout's files.
 */
const LEFTOVER_NAME = /^(?:ckpt-\d+(?:-\d+)?|latest\.json|metrics\.jsonl|model\.safetensors|state\.safetensors|state\.json|manifest\.json)\.tmp-(\d+)$/;

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
    : code === 'EROFS' ? 'the file system is read-only (EROFS); choose another --out'
    : code === 'EACCES' || code === 'EPERM' ? `no permission to write there (${code}); choose another --out`
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

/** latest.json. */
export interface CheckpointPointer {
  format: typeof CHECKPOINT_FORMAT;
  /** The generation folder's name (ckpt-…), inside the run folder. */
  generation: string;
  step: number;
  createdAt: string;
}

/** A generation folder of a run folder. */
export interface Generation {
  name: string;
  step: number;
  revision: number;
}

// ---- test hook -----------------------------------------------------------------------------------

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** HANDGRAD_TEST_SAVE_DELAY_MS (see the top of this file): a pause between two phases of a save. */
function testPause(): void {
  const ms = Number(process.env.HANDGRAD_TEST_SAVE_DELAY_MS);
  if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
}

// ---- writing -------------------------------------------------------------------------------------

/**
 * Writes `data` to `path` so that readers see the old file or the whole new one, never a part. On
 * failure the temporary file is removed if it can be, and the error thrown is the write's or the
 * rename's (see removeQuietly: a clean-up that fails too must not replace it).
 */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileDurable(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    removeQuietly(tmp);
    throw e;
  }
}

/** Writes `data` to `path` and fsyncs it (the caller makes the name durable: fsyncDir). */
function writeFileDurable(path: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const fd = openSync(path, 'w');
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
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

export interface SaveCheckpointOptions {
  /** Keep this many newest generations (default DEFAULT_KEEP_CHECKPOINTS); older ones go once the new one is durable. */
  keep?: number;
}

/** A generation's folder name for a step (and a revision, for a second save of the same step). */
export function generationName(step: number, revision = 0): string {
  return `ckpt-${String(step).padStart(9, '0')}${revision > 0 ? `-${revision}` : ''}`;
}

/** The generation folders of a run folder, oldest first (by step, then revision); [] when there is none. */
export function listGenerations(dir: string): Generation[] {
  let names: string[];
  try { names = readdirSync(dir); } catch { return []; }
  const out: Generation[] = [];
  for (const name of names) {
    const m = GENERATION_NAME.exec(name);
    if (m) out.push({ name, step: Number(m[1]), revision: m[2] === undefined ? 0 : Number(m[2]) });
  }
  return out.sort((a, b) => a.step - b.step || a.revision - b.revision);
}

/**
 * Writes a checkpoint as a new generation of the run folder `dir` (created if needed), points
 * latest.json at it, then removes the generations beyond the newest `keep` (and the files of the
 * old single-folder layout); see the top of this file. Returns the generation's folder.
 */
export function saveCheckpoint(dir: string, input: SaveCheckpointInput, options: SaveCheckpointOptions = {}): string {
  const { model, tokenizer } = input;
  const keep = options.keep ?? DEFAULT_KEEP_CHECKPOINTS;
  if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`keep must be an integer ≥ 1, got ${keep}`);
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
  const total = FILES.reduce((n, f) => n + bytes[f].length, manifestText.length);

  try {
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true });
      fsyncDir(dirname(resolve(dir)));
    }
  } catch (e) {
    throw writeFailure(dir, total, e);
  }
  cleanCheckpointLeftovers(dir);

  // 1. The new generation, complete, under a temporary name; 2. under its own name.
  const revision = listGenerations(dir).filter((g) => g.step === input.step).reduce((r, g) => Math.max(r, g.revision + 1), 0);
  const name = generationName(input.step, revision);
  const tmp = join(dir, `${name}.tmp-${process.pid}`);
  try {
    removeQuietly(tmp); // cleanCheckpointLeftovers took it already, if it could; if not, mkdirSync says why
    mkdirSync(tmp);
    for (const f of FILES) {
      writeFileDurable(join(tmp, f), bytes[f]);
      testPause();
    }
    writeFileDurable(join(tmp, MANIFEST_FILE), manifestText);
    fsyncDir(tmp);
    testPause();
    renameSync(tmp, join(dir, name));
    fsyncDir(dir);
  } catch (e) {
    // Nothing of the new checkpoint may stay behind (where the disk still lets us remove it: a disk
    // gone read-only keeps it, and the next save's clean-up takes it); everything that was there is
    // untouched. The error reported is the one that stopped the save.
    removeQuietly(tmp);
    throw writeFailure(dir, total, e);
  }
  testPause();
  // 3. The pointer. Should this fail, the new generation stays: complete, and found by a reader's scan.
  const pointer: CheckpointPointer = { format: CHECKPOINT_FORMAT, generation: name, step: input.step, createdAt: state.createdAt };
  try {
    writeFileAtomic(join(dir, POINTER_FILE), JSON.stringify(pointer, null, 2) + '\n'); // removes its temporary file on failure
    fsyncDir(dir);
  } catch (e) {
    throw writeFailure(dir, total, e);
  }
  testPause();
  // 4. Only now: what is no longer needed.
  pruneGenerations(dir, name, keep);
  return join(dir, name);
}

/**
 * After `newest` is durable and pointed at: keeps it and the keep−1 generations before it, and
 * removes every other generation (older ones, and newer ones: those of a run that was resumed from
 * an earlier generation, which the pointer no longer leads to), then the old layout's files. A
 * generation is renamed to a temporary name before it is deleted, so no half-deleted folder ever
 * carries a generation's name.
 */
function pruneGenerations(dir: string, newest: string, keep: number): void {
  const gens = listGenerations(dir);
  const at = gens.findIndex((g) => g.name === newest);
  const kept = new Set(gens.slice(Math.max(0, at - keep + 1), at + 1).map((g) => g.name));
  for (const g of gens) {
    if (kept.has(g.name)) continue;
    const doomed = join(dir, `${g.name}.tmp-${process.pid}`);
    try {
      renameSync(join(dir, g.name), doomed);
    } catch { continue; }
    removeQuietly(doomed);
    testPause();
  }
  removeLegacyFiles(dir);
  fsyncDir(dir);
}

/** Is the file a handgrad manifest (of any version)? */
function isOurManifest(path: string): boolean {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { format?: unknown })?.format === CHECKPOINT_FORMAT;
  } catch {
    return false;
  }
}

/**
 * The old single-folder layout's files, once a generation holds the checkpoint: only where a
 * handgrad manifest (in the folder or its .incoming) shows they are ours, the manifest first.
 */
function removeLegacyFiles(dir: string): void {
  const top = isOurManifest(join(dir, MANIFEST_FILE));
  if (!top && !isOurManifest(join(dir, INCOMING_DIR, MANIFEST_FILE))) return;
  for (const f of [MANIFEST_FILE, ...FILES]) removeQuietly(join(dir, f));
  removeQuietly(join(dir, INCOMING_DIR));
}

/** Is the process still running (so its temporary files are still being written)? */
function isRunning(pid: number): boolean {
  if (pid === process.pid) return false; // ours: no save of this process is under way while we clean
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Does a generation folder have a manifest that lists its files at their sizes (no checksums: cheap)? */
function looksComplete(gen: string): boolean {
  try {
    const m = JSON.parse(readFileSync(join(gen, MANIFEST_FILE), 'utf8')) as Manifest;
    if (m?.format !== CHECKPOINT_FORMAT || typeof m.files !== 'object' || m.files === null) return false;
    return FILES.every((f) => m.files[f] !== undefined && statSync(join(gen, f)).size === m.files[f].bytes);
  } catch {
    return false;
  }
}

/**
 * Removes what a killed save left in the run folder `dir` and its best/: temporary files and
 * folders of processes that are no longer running, and generation folders whose manifest is
 * missing or does not list their files (matching only the names this module writes). Called by
 * every save (best/ is cleaned with its run folder, since a run may not write best/ again).
 */
export function cleanCheckpointLeftovers(dir: string): void {
  let names: string[];
  try { names = readdirSync(dir); } catch { return; }
  for (const name of names) {
    const tmp = LEFTOVER_NAME.exec(name);
    if (tmp) {
      if (!isRunning(Number(tmp[1]))) removeQuietly(join(dir, name));
    } else if (GENERATION_NAME.test(name) && !looksComplete(join(dir, name))) {
      removeQuietly(join(dir, name));
    } else if (name === BEST_DIR) {
      cleanCheckpointLeftovers(join(dir, name));
    }
  }
}

// ---- reading -------------------------------------------------------------------------------------

/** A verified checkpoint's contents, before any model is built. */
export interface CheckpointFiles {
  /** The folder the files came from: a generation of the run folder (or the folder itself, old layout). */
  dir: string;
  manifest: Manifest;
  state: CheckpointState;
  weights: SafetensorsFile;
  tensors: SafetensorsFile;
  /** Why newer or pointed-at checkpoints of the folder were passed over to reach this one (one line each); usually []. */
  passedOver: string[];
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
  return { dir, manifest, state, weights: decode(WEIGHTS_FILE), tensors: decode(STATE_TENSORS_FILE), passedOver: [] };
}

/** The generation latest.json names; null when there is no latest.json; a CheckpointError when it is damaged. */
function readPointer(dir: string): string | null {
  const path = join(dir, POINTER_FILE);
  if (!existsSync(path)) return null;
  const p = parseJson<CheckpointPointer>(path, readBytes(path, 'the checkpoint pointer'));
  if (p?.format !== CHECKPOINT_FORMAT || typeof p.generation !== 'string' || !GENERATION_NAME.test(p.generation)) {
    throw new CheckpointError(`${path}: not a handgrad checkpoint pointer (expected {"format": "${CHECKPOINT_FORMAT}", "generation": "ckpt-…"})`);
  }
  return p.generation;
}

/** Does `dir` hold anything of a checkpoint (the pointer, a generation, or the old layout's files), readable or not? */
export function hasCheckpointFiles(dir: string): boolean {
  return listGenerations(dir).length > 0 ||
    [POINTER_FILE, MANIFEST_FILE, INCOMING_DIR, WEIGHTS_FILE, STATE_FILE].some((f) => existsSync(join(dir, f)));
}

/** Is `dir` an old-format (model.json + weights.bin) checkpoint? */
export function isLegacyCheckpoint(dir: string): boolean {
  return !existsSync(join(dir, MANIFEST_FILE)) && !existsSync(join(dir, INCOMING_DIR, MANIFEST_FILE)) &&
    !existsSync(join(dir, POINTER_FILE)) && listGenerations(dir).length === 0 && existsSync(join(dir, LEGACY_MODEL_FILE));
}

/**
 * Finds, verifies and parses the checkpoint in `dir`: the generation latest.json names; else
 * (pointer missing or damaged, generation failing verification) the newest generation that
 * verifies; else the old single-folder layout (the folder itself, then a complete .incoming).
 * A generation or best/ folder given directly is read as a single folder. When nothing verifies,
 * the error of the first candidate (one line naming the file).
 */
export function readCheckpoint(dir: string): CheckpointFiles {
  let isDir = false;
  try { isDir = statSync(dir).isDirectory(); } catch { /* missing */ }
  const failures: CheckpointError[] = [];
  let pointerProblem: CheckpointError | null = null;
  const passedOver = (): string[] => [...(pointerProblem ? [pointerProblem.message] : []), ...failures.map((e) => e.message)];
  const attempt = (folder: string): CheckpointFiles | null => {
    try {
      const files = readVerified(folder);
      files.passedOver = passedOver();
      return files;
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      failures.push(e);
      return null;
    }
  };
  if (isDir) {
    let pointed: string | null = null;
    try { pointed = readPointer(dir); } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      pointerProblem = e;
    }
    const gens = listGenerations(dir).map((g) => g.name).reverse();
    if (pointed === null && pointerProblem === null && gens.length > 0) {
      pointerProblem = new CheckpointError(`${join(dir, POINTER_FILE)}: missing (a save was cut off before it)`);
    }
    for (const name of pointed === null ? gens : [pointed, ...gens.filter((g) => g !== pointed)]) {
      const found = attempt(join(dir, name));
      if (found) return found;
    }
    for (const folder of [dir, join(dir, INCOMING_DIR)]) {
      if (!existsSync(join(folder, MANIFEST_FILE))) continue;
      const found = attempt(folder);
      if (found) return found;
    }
  }
  if (failures.length > 0) throw failures[0];
  if (pointerProblem && existsSync(join(dir, POINTER_FILE))) throw pointerProblem;
  throw new CheckpointError(`${dir}: not a checkpoint folder (no ${POINTER_FILE} and no ckpt-* generation; expected the --out folder of 'handgrad train')`);
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

/** Rebuilds the model on `ops` from a checkpoint folder (any layout) and loads its weights. */
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

/** The model kind of the checkpoint in `dir` (any layout), checking it without building anything. */
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
