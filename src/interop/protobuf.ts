// The Protocol Buffers wire format, the writing half and only what an ONNX file uses: varints
// (int32/int64/enums), 32-bit floats, length-delimited fields (strings, bytes, nested messages,
// packed repeated numbers). An ONNX export needs nothing more, and this replaces a protobuf
// runtime plus a 23 MB compiled schema in every install (onnx-graph.ts holds the field numbers;
// tests/interop/onnx-proto.test.ts checks the bytes against the official schema's encoder).
// https://protobuf.dev/programming-guides/encoding/

const WIRE_VARINT = 0, WIRE_LEN = 2, WIRE_FIXED32 = 5;

export class ProtoWriter {
  private buf = new Uint8Array(256);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** A raw varint: an int64 (two's complement, so a negative number takes ten bytes). */
  private rawVarint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    this.reserve(10);
    while (v > 0x7fn) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }

  private tag(field: number, wire: number): void {
    this.rawVarint((field << 3) | wire);
  }

  /** An int32, int64 or enum field. */
  varint(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.rawVarint(value);
    return this;
  }

  /** A float (32-bit) field. */
  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    this.reserve(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, value, true);
    this.len += 4;
    return this;
  }

  /** A bytes field. */
  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.rawVarint(data.length);
    this.reserve(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
    return this;
  }

  /** A string field (UTF-8). */
  string(field: number, text: string): this {
    return this.bytes(field, new TextEncoder().encode(text));
  }

  /** A nested message field: `write` fills it. */
  message(field: number, write: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    write(inner);
    return this.bytes(field, inner.finish());
  }

  /** A packed repeated int32/int64 field (nothing when empty, as proto3 encoders do). */
  packedVarints(field: number, values: readonly (number | bigint)[]): this {
    if (values.length === 0) return this;
    const inner = new ProtoWriter();
    for (const v of values) inner.rawVarint(v);
    return this.bytes(field, inner.finish());
  }

  /** A packed repeated float field (nothing when empty). */
  packedFloats(field: number, values: readonly number[]): this {
    if (values.length === 0) return this;
    return this.bytes(field, new Uint8Array(Float32Array.from(values).buffer));
  }

  /** The bytes written. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
