import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, SafetensorsError } from '../../src/train/safetensors.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-safetensors-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A file laid out by hand: header text (padded with spaces to 8 bytes unless `pad` is false), then data. */
function file(header: string | object, data: Uint8Array = new Uint8Array(0), pad = true): Uint8Array {
  let h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  if (pad && h.length % 8) h = Buffer.concat([h, Buffer.alloc(8 - (h.length % 8), 0x20)]);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}
const f32 = (...v: number[]) => new Uint8Array(new Float32Array(v).buffer);

describe('safetensors', () => {
  it('reads a file laid out as Python safetensors writes it', () => {
    // safetensors.torch.save_file({"a": torch.tensor([1., 2.]), "b": torch.tensor([[3.], [4.], [5.]])}, metadata={"format": "pt"})
    const header = '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"b":{"dtype":"F32","shape":[3,1],"data_offsets":[8,20]}}';
    const bytes = file(header, f32(1, 2, 3, 4, 5));
    expect((8 + header.length) % 8).not.toBe(0); // the padding matters here
    const { tensors, metadata } = decodeSafetensors(bytes, 'x.safetensors');
    expect(metadata).toEqual({ format: 'pt' });
    expect([...tensors.keys()]).toEqual(['a', 'b']);
    expect(tensors.get('a')).toEqual({ dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) });
    expect(tensors.get('b')!.shape).toEqual([3, 1]);
    expect(Array.from(tensors.get('b')!.data)).toEqual([3, 4, 5]);
  });

  it('writes that same layout, and round-trips F32 and F64 bit for bit', () => {
    const bytes = encodeSafetensors([['a', { dtype: 'F32', shape: [2], data: [1, 2] }], ['b', { dtype: 'F32', shape: [3, 1], data: [3, 4, 5] }]],
      { format: 'pt' });
    const expected = file('{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"b":{"dtype":"F32","shape":[3,1],"data_offsets":[8,20]}}', f32(1, 2, 3, 4, 5));
    expect(Buffer.from(bytes).equals(Buffer.from(expected))).toBe(true);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);

    const x = new Float64Array([Math.PI, -0, 1e-310, Number.MAX_VALUE, 1 / 3]);
    const y = new Float32Array([Math.E, -1.5, 3.4e38]);
    const z = new Float32Array(0);
    const back = decodeSafetensors(encodeSafetensors([['x', { dtype: 'F64', shape: [5], data: x }], ['y', { dtype: 'F32', shape: [1, 3], data: y }],
      ['empty', { dtype: 'F32', shape: [0, 4], data: z }]]));
    expect(back.metadata).toEqual({});
    expect(Buffer.from(back.tensors.get('x')!.data.buffer).equals(Buffer.from(x.buffer))).toBe(true);
    expect(Buffer.from(back.tensors.get('y')!.data.buffer).equals(Buffer.from(y.buffer))).toBe(true);
    expect(back.tensors.get('empty')).toEqual({ dtype: 'F32', shape: [0, 4], data: new Float32Array(0) });
  });

  it('refuses bad input when writing', () => {
    expect(() => encodeSafetensors([['a', { dtype: 'F32', shape: [3], data: [1, 2] }]])).toThrow(/shape \[3\] \(3 values\) but 2 values/);
    expect(() => encodeSafetensors([['a', { dtype: 'BF16' as 'F32', shape: [1], data: [1] }]])).toThrow(/unsupported dtype BF16/);
    expect(() => encodeSafetensors([['a', { dtype: 'F32', shape: [1], data: [1] }], ['a', { dtype: 'F32', shape: [1], data: [1] }]])).toThrow(/duplicate/);
  });

  const good = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } };
  it.each([
    ['too short', new Uint8Array(5), /x\.st: 5 bytes, too short/],
    ['header past the end', (() => { const b = file(good, f32(1, 2, 3)); return b.subarray(0, 20); })(), /x\.st: header length \d+ runs past the end of the 20-byte file \(truncated\?\)/],
    ['huge header length', (() => { const b = new Uint8Array(16); new DataView(b.buffer).setBigUint64(0, 1n << 40n, true); return b; })(), /implausibly large/],
    ['not JSON', file('{"a": nope}'), /x\.st: header is not valid JSON/],
    ['not an object', file('{"a":1}'), /tensor 'a' is not an object/],
    ['not starting with {', file('[1,2]'), /does not start with '\{'/],
    ['unknown dtype', file({ a: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor 'a' has dtype BF16; handgrad reads F32 and F64/],
    ['bad shape', file({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor 'a' has a bad shape \[-1\]/],
    ['bad offsets', file({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, new Uint8Array(4)), /tensor 'a' has bad data_offsets \[4,0\]/],
    ['size mismatch', file({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), /tensor 'a' is F32 \[3\] = 12 bytes, but its data_offsets span 8/],
    ['overlap', file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /tensor 'b' overlaps/],
    ['gap', file({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /a gap of 4 bytes before tensor 'a'/],
    ['truncated data', file(good, f32(1, 2)), /tensor 'b' ends at data byte 12, past the 8-byte data section \(truncated\?\)/],
    ['trailing bytes', file(good, f32(1, 2, 3, 4)), /the tensors cover 12 data bytes but the file holds 16/],
    ['metadata not strings', file({ __metadata__: { step: 3 } }), /__metadata__ 'step' is not a string/],
  ])('refuses a file with %s, naming the file', (_what, bytes, message) => {
    expect(() => decodeSafetensors(bytes as Uint8Array, 'x.st')).toThrow(SafetensorsError);
    expect(() => decodeSafetensors(bytes as Uint8Array, 'x.st')).toThrow(message as RegExp);
  });

  // An independent implementation: Python + torch (without the safetensors package), where installed.
  const python = '/usr/bin/python3';
  const hasTorch = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!hasTorch)('matches files written and read by Python/torch (cross-check)', () => {
    const ours = join(tmp, 'ours.safetensors'), theirs = join(tmp, 'theirs.safetensors');
    writeFileSync(ours, encodeSafetensors([
      ['w', { dtype: 'F32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6.5] }],
      ['v', { dtype: 'F64', shape: [2], data: [Math.PI, -2] }],
    ], { format: 'pt' }));
    const script = `
import json, struct, sys, torch
def read(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n]); meta = h.pop('__metadata__', {})
    dt = {'F32': torch.float32, 'F64': torch.float64}
    return meta, {k: torch.frombuffer(bytearray(b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]]), dtype=dt[v['dtype']]).reshape(v['shape']) for k, v in h.items()}
meta, t = read(sys.argv[1])
assert meta == {'format': 'pt'}, meta
assert torch.equal(t['w'], torch.tensor([[1., 2., 3.], [4., 5., 6.5]])), t['w']
assert torch.equal(t['v'], torch.tensor([3.141592653589793, -2.], dtype=torch.float64)), t['v']
# Write the way safetensors' serializer does: metadata first, compact JSON, spaces to 8 bytes.
tensors = {'emb': torch.arange(6, dtype=torch.float32).reshape(3, 2) / 7, 'bias': torch.tensor([0.1, 0.2, 0.3], dtype=torch.float32)}
header, data, off = {'__metadata__': {'format': 'pt'}}, b'', 0
for k in sorted(tensors):
    raw = tensors[k].numpy().tobytes(); header[k] = {'dtype': 'F32', 'shape': list(tensors[k].shape), 'data_offsets': [off, off + len(raw)]}
    data += raw; off += len(raw)
h = json.dumps(header, separators=(',', ':')).encode(); h += b' ' * ((8 - len(h) % 8) % 8)
open(sys.argv[2], 'wb').write(struct.pack('<Q', len(h)) + h + data)
print(json.dumps({k: v.flatten().tolist() for k, v in tensors.items()}))
`;
    const r = spawnSync(python, ['-c', script, ours, theirs], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const expected = JSON.parse(r.stdout) as Record<string, number[]>;
    const { tensors, metadata } = decodeSafetensors(readFileSync(theirs), theirs);
    expect(metadata).toEqual({ format: 'pt' });
    expect(tensors.get('emb')!.shape).toEqual([3, 2]);
    expect(Array.from(tensors.get('emb')!.data)).toEqual(expected.emb);
    expect(Array.from(tensors.get('bias')!.data)).toEqual(expected.bias);
  });
});
