// Reference embedding gather and scatter-add (Ops.embedding, Ops.embeddingBackward; the same family
// as assembly/embedding.ts and native/embedding.cu), on raw typed arrays (the conventions of every
// reference family file: ./index.ts).
import type { FloatArray } from '../../ops/types.js';

export function embedding(table: FloatArray, ids: Int32Array, out: FloatArray, n: number, dim: number): void {
  for (let i = 0; i < n; i++) {
    const id = ids[i];
    for (let c = 0; c < dim; c++) out[i * dim + c] = table[id * dim + c];
  }
}
export function embeddingBackward(dout: FloatArray, ids: Int32Array, dtable: FloatArray, n: number, dim: number): void {
  for (let i = 0; i < n; i++) {
    const id = ids[i];
    for (let c = 0; c < dim; c++) dtable[id * dim + c] += dout[i * dim + c];
  }
}
