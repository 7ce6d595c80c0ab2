// A small, strict reader and writer for the safetensors format (what PyTorch and Hugging Face
// tools read), F32 and F64 only:
//
//   [8 bytes: N, unsigned little-endian] [N bytes: JSON header, space-padded to a multiple of 8]
//   [data: every tensor's raw little-endian values, back to back]
//
//   header = { "__metadata__": { string: string }, name: { "dtype": "F32", "shape": [..],
//              "data_offsets": [begin, end] }, … }      (offsets relative to the start of the data)
//
// The writer lays tensors out in the order given, with no gaps, as Python's `safetensors` does
// for tensors of one dtype. The reader checks everything before trusting it — header length
// inside the file, valid JSON, known dtype, integer shape, offsets in range, contiguous and
// non-overlapping, shape product × dtype size = byte length, data section fully used — and says
// what was wrong in one line that names the file.

export type SafeDtype = 'F32' | 'F64';
const DTYPE_BYTES: Record<SafeDtype, number> = { F32: 4, F64: 8 };
/** Header lengths above this are refused (the Rust reader's limit is 100 MB too). */
const MAX_HEADER = 100_000_000;

export interface SafeTensor {
  dtype: SafeDtype;
  shape: number[];
  data: Float32Array | Float64Array;
}

export interface SafeTensorInput {
  dtype: SafeDtype;
  shape: readonly number[];
  /** prod(shape) values; converted to dtype. */
  data: ArrayLike<number>;
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

/** A safetensors file or buffer that is malformed: the message names the file and the problem. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Encodes tensors (in the given order) and string metadata as safetensors bytes. */
export function encodeSafetensors(
  tensors: Iterable<[string, SafeTensorInput]>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`safetensors metadata '${k}' must be a string, got ${typeof v}`);
    }
    header.__metadata__ = metadata;
  }
  const list: [string, SafeTensorInput, number][] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__' || name in header) throw new RangeError(`safetensors: duplicate or reserved tensor name '${name}'`);
    if (!(t.dtype in DTYPE_BYTES)) throw new RangeError(`safetensors: tensor '${name}' has unsupported dtype ${t.dtype}`);
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new RangeError(`safetensors: tensor '${name}' has a bad shape [${t.shape}]`);
    const n = product(t.shape);
    if (t.data.length !== n) throw new RangeError(`safetensors: tensor '${name}' has shape [${t.shape}] (${n} values) but ${t.data.length} values`);
    const bytes = n * DTYPE_BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    list.push([name, t, offset]);
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  const base = 8 + json.length;
  for (const [, t, off] of list) {
    const n = t.data.length;
    if (LITTLE_ENDIAN) {
      const Arr = t.dtype === 'F32' ? Float32Array : Float64Array;
      const typed = new Arr(n);
      typed.set(t.data);
      out.set(new Uint8Array(typed.buffer), base + off);
    } else if (t.dtype === 'F32') {
      for (let i = 0; i < n; i++) view.setFloat32(base + off + 4 * i, t.data[i], true);
    } else {
      for (let i = 0; i < n; i++) view.setFloat64(base + off + 8 * i, t.data[i], true);
    }
  }
  return out;
}

/** Decodes and validates safetensors bytes; `file` names the source in error messages. */
export function decodeSafetensors(bytes: Uint8Array, file = 'safetensors buffer'): SafetensorsFile {
  const fail = (what: string): never => { throw new SafetensorsError(`${file}: ${what}`); };
  if (bytes.length < 8) fail(`${bytes.length} bytes, too short for a safetensors header (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) fail(`header length ${n64} is implausibly large (not a safetensors file?)`);
  const n = Number(n64);
  if (8 + n > bytes.length) fail(`header length ${n} runs past the end of the ${bytes.length}-byte file (truncated?)`);
  if (n < 2) fail(`header length ${n} is too short for a JSON header`);
  const headerText = Buffer.from(bytes.buffer, bytes.byteOffset + 8, n).toString('utf8');
  if (headerText[0] !== '{') fail('header does not start with \'{\' (not a safetensors file?)');
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafeDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__ '${k}' is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const e = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null || Array.isArray(e)) fail(`tensor '${name}' is not an object`);
    if (typeof e.dtype !== 'string') fail(`tensor '${name}' has no dtype`);
    if (!((e.dtype as string) in DTYPE_BYTES)) fail(`tensor '${name}' has dtype ${e.dtype as string}; handgrad reads F32 and F64`);
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor '${name}' has a bad shape ${JSON.stringify(shape)} (expected a list of integers ≥ 0)`);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[0] > off[1]) {
      fail(`tensor '${name}' has bad data_offsets ${JSON.stringify(off)} (expected [begin, end] with 0 ≤ begin ≤ end)`);
    }
    const [begin, end] = off as number[];
    const dtype = e.dtype as SafeDtype;
    const want = product(shape as number[]) * DTYPE_BYTES[dtype];
    if (end - begin !== want) {
      fail(`tensor '${name}' is ${dtype} [${(shape as number[]).join(', ')}] = ${want} bytes, but its data_offsets span ${end - begin}`);
    }
    if (end > dataLength) fail(`tensor '${name}' ends at data byte ${end}, past the ${dataLength}-byte data section (truncated?)`);
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  // Contiguous from 0, no overlaps, no gaps, nothing left over.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of entries) {
    if (e.begin < at) fail(`tensor '${e.name}' overlaps the tensor before it (data_offsets [${e.begin}, ${e.end}])`);
    if (e.begin > at) fail(`a gap of ${e.begin - at} bytes before tensor '${e.name}' (data_offsets must be contiguous)`);
    at = e.end;
  }
  if (at !== dataLength) fail(`the tensors cover ${at} data bytes but the file holds ${dataLength} (truncated or trailing bytes)`);

  const tensors = new Map<string, SafeTensor>();
  for (const e of entries) {
    const count = (e.end - e.begin) / DTYPE_BYTES[e.dtype];
    const Arr = e.dtype === 'F32' ? Float32Array : Float64Array;
    const data = new Arr(count);
    const src = bytes.byteOffset + dataStart + e.begin;
    if (LITTLE_ENDIAN) {
      new Uint8Array(data.buffer).set(new Uint8Array(bytes.buffer, src, e.end - e.begin));
    } else {
      for (let i = 0; i < count; i++) {
        data[i] = e.dtype === 'F32' ? view.getFloat32(dataStart + e.begin + 4 * i, true) : view.getFloat64(dataStart + e.begin + 8 * i, true);
      }
    }
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  // Keep the header's order for callers that list the tensors.
  const ordered = new Map<string, SafeTensor>();
  for (const name of Object.keys(header as object)) if (tensors.has(name)) ordered.set(name, tensors.get(name)!);
  return { tensors: ordered, metadata };
}
