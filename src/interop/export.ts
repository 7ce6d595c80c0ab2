// `handgrad export RUN --format onnx|hf|safetensors`: a run's model in a form other tools read.
// The run is read only through loadCheckpoint (whatever its on-disk layout), on the f64 reference
// backend, which holds f32 and f64 weights exactly.
//
//   onnx         one .onnx file: the forward pass as a standard graph (onnx.ts)
//   hf           a Hugging Face-style folder (hf.ts): config.json, model.safetensors, tokenizer files
//   safetensors  one .safetensors file in our layout with kind, config and tokenizer as metadata
//                (weights-file.ts): what `handgrad import` rebuilds a run from
import { mkdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { createOps } from '../backends/index.js';
import { loadCheckpoint, writeFileAtomic } from '../train/checkpoint.js';
import type { SequenceModel } from '../models/types.js';
import type { SafeDtype } from '../train/safetensors.js';
import { exportOnnx } from './onnx.js';
import { hfFolder } from './hf.js';
import { encodeWeightsFile } from './weights-file.js';
import { ExportError } from './errors.js';

export const EXPORT_FORMATS = ['onnx', 'hf', 'safetensors'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportSummary {
  run: string;
  format: ExportFormat;
  kind: string;
  /** The file or folder written. */
  out: string;
  /** The files written (for hf: inside `out`). */
  files: string[];
  bytes: number;
  /** hf: the Hugging Face architecture the weights are named for (null: our names). */
  architecture?: string | null;
  notes: string[];
}

/** Where an export goes when --out is not given: beside the current folder, named after the run. */
export function defaultExportPath(run: string, format: ExportFormat): string {
  const name = basename(resolve(run));
  return format === 'hf' ? `${name}-hf` : `${name}.${format}`;
}

/** F32 when every weight is a float32 value (a wasm or cuda run), else F64 (an f64 reference run). */
export function weightsDtype(model: SequenceModel): SafeDtype {
  for (const p of model.params) for (const v of p.value.data) if (Math.fround(v) !== v) return 'F64';
  return 'F32';
}

export async function exportRun(run: string, format: ExportFormat, out = defaultExportPath(run, format), producerVersion = ''): Promise<ExportSummary> {
  const ops = await createOps({ backend: 'reference', dtype: 'f64' });
  const { model, tokenizer, kind } = loadCheckpoint(run, ops);
  const dtype = weightsDtype(model);
  const summary = (files: string[], bytes: number, extra: Partial<ExportSummary> = {}): ExportSummary =>
    ({ run, format, kind, out, files, bytes, notes: [], ...extra });
  if (format === 'onnx' || format === 'safetensors') {
    const bytes = format === 'onnx' ? exportOnnx(model, tokenizer, producerVersion) : encodeWeightsFile(model, tokenizer, dtype);
    writeOut(out, bytes);
    return summary([out], bytes.length);
  }
  const folder = hfFolder(model, tokenizer, dtype);
  try {
    mkdirSync(out, { recursive: true });
  } catch (e) {
    throw new ExportError(`--out ${out}: cannot make the folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!statSync(out).isDirectory()) throw new ExportError(`--out ${out}: not a folder`);
  let bytes = 0;
  for (const [name, content] of Object.entries(folder.files)) {
    const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    writeOut(join(out, name), data);
    bytes += data.length;
  }
  return summary(Object.keys(folder.files), bytes, { architecture: folder.architecture, notes: folder.notes });
}

function writeOut(path: string, data: Uint8Array): void {
  try {
    writeFileAtomic(path, data);
  } catch (e) {
    throw new ExportError(`cannot write ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
