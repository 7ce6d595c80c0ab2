// `handgrad import`: a run folder from weights in our layout (docs/weights.md), e.g. weights
// trained in PyTorch and renamed, or a file from `handgrad export --format safetensors`.
//
//   1. read the safetensors file (F32 or F64; every check of src/train/safetensors.ts);
//   2. the model: --model KIND and its options (the same flags as `handgrad train`), defaulting to
//      the file's `handgrad.kind` / `handgrad.config` metadata when it has them;
//   3. the tokenizer: --tokenizer FILE (our JSON form or a tokenizer.json), else the file's
//      `handgrad.tokenizer`; its vocabulary size is the model's vocabSize;
//   4. build the model and copy the tensors in: every parameter must be there with its exact shape,
//      and every tensor must be a parameter (one line naming the tensor otherwise);
//   5. write the run with saveCheckpoint (step 0, manifest and checksums as for any run) and load
//      it back once, so what was written is known to be a valid run.
// The run can be sampled and exported; it has no training state, so `train --resume` refuses it.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createOps } from '../backends/index.js';
import type { Ops } from '../ops/types.js';
import { getModel, modelConfig, UnknownModelError } from '../models/registry.js';
import type { SequenceModel } from '../models/types.js';
import { tokenizerFromJSON, type Tokenizer } from '../data/tokenizer.js';
import { CheckpointError, loadCheckpoint, loadWeightsInto, saveCheckpoint } from '../train/checkpoint.js';
import { decodeSafetensors, SafetensorsError, type SafetensorsFile } from '../train/safetensors.js';
import { Rng } from '../util/rng.js';
import { ImportError } from './errors.js';
import { readTokenizerFile } from './tokenizer-json.js';
import { META_CONFIG, META_KIND, META_TOKENIZER } from './weights-file.js';

export interface ImportOptions {
  /** The safetensors file. */
  weights: string;
  /** The model kind (default: the file's handgrad.kind). */
  kind?: string;
  /** Model options as given on the command line (raw values, checked by the model's spec). */
  modelOptions?: Record<string, unknown>;
  /** A tokenizer file (default: the file's handgrad.tokenizer). */
  tokenizer?: string;
  /** The run folder to write; must not exist or be empty. */
  out: string;
  /** Recorded as the run's seed (the weights do not depend on it). */
  seed?: number;
}

export interface ImportSummary {
  out: string;
  kind: string;
  config: Record<string, unknown>;
  params: number;
  tensors: number;
  dtype: 'F32' | 'F64';
  tokenizer: string;
  vocabSize: number;
}

export async function importWeights(opts: ImportOptions): Promise<ImportSummary> {
  const file = readWeights(opts.weights);
  const meta = file.metadata;

  const kind = opts.kind ?? meta[META_KIND];
  if (kind === undefined) throw new ImportError(`${opts.weights}: no handgrad.kind metadata; give the model with --model KIND`);
  let spec;
  try {
    spec = getModel(kind);
  } catch (e) {
    if (e instanceof UnknownModelError) throw new ImportError(e.message);
    throw e;
  }

  let tokenizer: Tokenizer;
  if (opts.tokenizer !== undefined) tokenizer = readTokenizerFile(opts.tokenizer);
  else if (meta[META_TOKENIZER] !== undefined) {
    try {
      tokenizer = tokenizerFromJSON(JSON.parse(meta[META_TOKENIZER]));
    } catch (e) {
      throw new ImportError(`${opts.weights}: bad handgrad.tokenizer metadata (${(e as Error).message})`);
    }
  } else throw new ImportError(`${opts.weights}: no handgrad.tokenizer metadata; give the tokenizer with --tokenizer FILE`);

  // Options: the file's config (when it is this kind's), then what was given on the command line.
  const given: Record<string, unknown> = {};
  if (meta[META_CONFIG] !== undefined && meta[META_KIND] === spec.name) {
    let saved: Record<string, unknown>;
    try {
      saved = JSON.parse(meta[META_CONFIG]) as Record<string, unknown>;
    } catch (e) {
      throw new ImportError(`${opts.weights}: bad handgrad.config metadata (${(e as Error).message})`);
    }
    for (const o of spec.options) if (saved[o.key] !== undefined) given[o.key] = saved[o.key];
  }
  Object.assign(given, opts.modelOptions ?? {});
  let config: Record<string, unknown>;
  try {
    config = modelConfig(spec, given, tokenizer.vocabSize);
  } catch (e) {
    throw new ImportError((e as Error).message);
  }

  const dtypes = new Set([...file.tensors.values()].map((t) => t.dtype));
  const dtype = dtypes.size === 1 && dtypes.has('F64') ? 'F64' : 'F32';
  const ops = await createOps({ backend: 'reference', dtype: dtype === 'F64' ? 'f64' : 'f32' });
  let model: SequenceModel;
  try {
    model = spec.create(ops, config, new Rng(opts.seed ?? 0));
  } catch (e) {
    throw new ImportError(`--model ${spec.name}: ${(e as Error).message}`);
  }
  try {
    loadWeightsInto(model, file, opts.weights);
  } catch (e) {
    if (e instanceof CheckpointError) {
      // The most common mismatch is the vocabulary: say where the model's vocabSize came from.
      throw new ImportError(`${e.message} (vocabSize ${tokenizer.vocabSize} comes from the ${tokenizer.kind} tokenizer; other sizes from the --model options)`);
    }
    throw e;
  }
  for (const p of model.params) {
    if (!p.value.data.every(Number.isFinite)) throw new ImportError(`${opts.weights}: '${p.name}' holds NaN or infinite values`);
  }

  if (existsSync(opts.out)) {
    if (!statSync(opts.out).isDirectory()) throw new ImportError(`--out ${opts.out} is a file, not a folder`);
    if (readdirSync(opts.out).length > 0) throw new ImportError(`--out ${opts.out} already exists and is not empty (choose a new folder)`);
  }
  saveCheckpoint(opts.out, {
    model, tokenizer, step: 0, seed: opts.seed ?? 0,
    training: { imported: { from: opts.weights, at: new Date().toISOString() } },
  });
  verify(opts.out, ops);
  return {
    out: opts.out, kind: spec.name, config: model.config, params: model.params.reduce((s, p) => s + p.value.size, 0),
    tensors: model.params.length, dtype, tokenizer: tokenizer.kind, vocabSize: tokenizer.vocabSize,
  };
}

function readWeights(path: string): SafetensorsFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new ImportError(`${path}: cannot read the weights (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return decodeSafetensors(bytes, path);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new ImportError(e.message);
    throw e;
  }
}

/** Loads the run just written: a failure here is a bug, not the user's input. */
function verify(dir: string, ops: Ops): void {
  loadCheckpoint(dir, ops);
}
