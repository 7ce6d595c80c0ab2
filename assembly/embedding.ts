// Embedding lookup (a row gather) and its gradient (a row scatter-add). ids are i32; their range
// (0 ≤ id < vocab) is checked by the JS wrapper before these run, so the kernels trust them.

// table: vocab×dim, ids: n i32, out: n×dim. out[i,:] = table[ids[i],:].
export function embedding(table: usize, ids: usize, out: usize, n: i32, dim: i32): void {
  const rowBytes = <usize>dim << 2;
  for (let i = 0; i < n; i++) {
    const id = load<i32>(ids + (<usize>i << 2));
    const src = table + <usize>id * rowBytes, dst = out + <usize>i * rowBytes;
    let c = 0;
    for (; c + 8 <= dim; c += 8) {
      const o = <usize>c << 2;
      v128.store(dst + o, v128.load(src + o));
      v128.store(dst + o, v128.load(src + o, 16), 16);
    }
    for (; c + 4 <= dim; c += 4) {
      const o = <usize>c << 2;
      v128.store(dst + o, v128.load(src + o));
    }
    for (; c < dim; c++) {
      const o = <usize>c << 2;
      store<f32>(dst + o, load<f32>(src + o));
    }
  }
}

// dout: n×dim, ids: n i32, dtable: vocab×dim. dtable[ids[i],:] += dout[i,:] (ACCUMULATES).
// A scatter-add done one position at a time, in order, so repeated ids simply sum (no two
// updates of the same row are ever in flight at once).
export function embeddingBackward(dout: usize, ids: usize, dtable: usize, n: i32, dim: i32): void {
  const rowBytes = <usize>dim << 2;
  for (let i = 0; i < n; i++) {
    const id = load<i32>(ids + (<usize>i << 2));
    const src = dout + <usize>i * rowBytes, dst = dtable + <usize>id * rowBytes;
    let c = 0;
    for (; c + 8 <= dim; c += 8) {
      const o = <usize>c << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
      v128.store(dst + o, f32x4.add(v128.load(dst + o, 16), v128.load(src + o, 16)), 16);
    }
    for (; c + 4 <= dim; c += 4) {
      const o = <usize>c << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
    }
    for (; c < dim; c++) {
      const o = <usize>c << 2;
      store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
    }
  }
}
