// The machinery shared by every GEMM micro-kernel: blocking, packing and the loop nest
// (gemmRange<K>), plus the code that stores a finished tile. The micro-kernels and the exported
// entry points live in assembly/gemm.ts (plain SIMD) and assembly/gemm_relaxed.ts (relaxed SIMD);
// this file is not re-exported by an entry, so nothing here becomes a WebAssembly export.
//
// What is computed:  C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, all matrices row-major
// and contiguous: A is m×k (or k×m when transposed), B is k×n (or n×k), C is m×n. Transposes cost
// nothing extra: they are absorbed while packing.
//
// Blocking (the classic Goto/BLIS loop nest, outermost first):
//   jc: NC = 2048 columns of C/B   the packed B block (KC×NC floats = 2 MiB) lives in L3
//   pc: KC = 256 of the k dimension one packed B micro-panel (KC×NR = 16 KiB for NR = 16)
//                                   stays in L1 while the whole packed A block streams past it
//   ic: MC = 144 rows of C/A        the packed A block (MC×KC = 144 KiB) lives in L2
//   jr: NR columns, ir: one A panel one micro-kernel call: an h×NR tile of C held in registers
//                                   for kc steps, C read and written once per kc block
// Block sizes are balanced (k = 257 makes two blocks of 129, not 256 + 1) and rounded to tiles.
// A panel has h = the kernel's MR rows (4 for the 4×8 kernels; 6 for the 16-wide ones, which
// also take 4-row panels where that avoids padding: see panelRows). MC = 144 is a multiple of both.
//
// Packed layouts (zero-padded past the edges, so micro-kernels never have a ragged case):
//   A block: panels of h rows, the panel at row ir is kc×h: Ap[ir·kc + p·h + r] = op(A)[ic + ir + r, pc + p]
//   B block: ceil(nc/NR) panels, panel q is kc×NR: Bp[q·kc·NR + p·NR + j] = op(B)[pc + p, jc + q·NR + j]
// so a micro-kernel reads both operands strictly sequentially, one k step at a time: per step one
// row of NR floats of B (whole vectors) and h floats of A (broadcast to vectors). With few rows
// (m ≤ MC) and B stored k×n, B is read in place instead (its row p is already NR adjacent floats;
// the kernel just steps n floats per k step): see `direct` in gemmRange. Otherwise, with B stored
// k×n, the 16-wide kernels pack B's whole panels while they first read them (tilePack, see
// `fuse` in gemmRange) rather than in a pass of their own. With fewer than 4 rows in all (a
// batch-1 recurrent step) nothing is packed and no padded rows are computed: see
// gemmRowsDirect and gemmRowsDot.
//
// Threads: gemmRange computes any row range [m0, m1) × column range [n0, n1) of C, packing only
// what that range needs into the caller's `scratch` (SCRATCH_BYTES, one per thread), so threads
// split C between them and never touch each other's memory.
// Nothing is allocated here and there is no static data: every instance shares one memory.

// Products with fewer rows than this in all take the few-rows paths (gemmRowsDirect/gemmRowsDot).
// @ts-ignore: decorator
@inline export const FEW_ROWS: i32 = 4;
// @ts-ignore: decorator
@inline const MR_MAX: i32 = 6;
// @ts-ignore: decorator
@inline const KC: i32 = 256;
// @ts-ignore: decorator
@inline const MC: i32 = 144;
// @ts-ignore: decorator
@inline const NC: i32 = 2048;
// @ts-ignore: decorator
@inline const NR_MAX: i32 = 16;

// Scratch layout per thread: [ Bp: KC×NC | Ap: MC×KC | edge tile: MR_MAX×NR_MAX ] floats.
// @ts-ignore: decorator
@inline const BP_BYTES: usize = <usize>(KC * NC) << 2;
// @ts-ignore: decorator
@inline const AP_BYTES: usize = <usize>(MC * KC) << 2;
// @ts-ignore: decorator
@inline const TILE_BYTES: usize = <usize>(MR_MAX * NR_MAX) << 2;
// @ts-ignore: decorator
@inline export const SCRATCH_BYTES: usize = BP_BYTES + AP_BYTES + TILE_BYTES;

// ---- storing a finished tile ----------------------------------------------------------------
// C = alpha·acc (beta = 0: C is overwritten, NaN or not) or alpha·acc + beta·C. Stores of one row
// are adjacent (offsets 0, 16, 32, 48) so that revectorization can pair them into 256-bit stores.

// @ts-ignore: decorator
@inline function storeRow4(c: usize, va: v128, x0: v128, x1: v128, x2: v128, x3: v128): void {
  v128.store(c, f32x4.mul(va, x0), 0); v128.store(c, f32x4.mul(va, x1), 16);
  v128.store(c, f32x4.mul(va, x2), 32); v128.store(c, f32x4.mul(va, x3), 48);
}

// The row of C is loaded completely before anything is stored: V8 does not move a load above a
// store to prove they do not overlap, and with loads and stores interleaved it cannot pair them
// into 256-bit operations. Unpaired, the accumulators' upper halves get extracted on every k step
// of the kernel's loop (measured: 30% slower).
// @ts-ignore: decorator
@inline function updateRow4(c: usize, va: v128, vb: v128, x0: v128, x1: v128, x2: v128, x3: v128): void {
  const d0 = v128.load(c, 0), d1 = v128.load(c, 16), d2 = v128.load(c, 32), d3 = v128.load(c, 48);
  v128.store(c, f32x4.add(f32x4.mul(va, x0), f32x4.mul(vb, d0)), 0);
  v128.store(c, f32x4.add(f32x4.mul(va, x1), f32x4.mul(vb, d1)), 16);
  v128.store(c, f32x4.add(f32x4.mul(va, x2), f32x4.mul(vb, d2)), 32);
  v128.store(c, f32x4.add(f32x4.mul(va, x3), f32x4.mul(vb, d3)), 48);
}

// C += x: a later k block with alpha = 1 (the usual case); the same bits as updateRow4 with
// alpha = beta = 1, whose multiplications by 1 are exact.
// @ts-ignore: decorator
@inline function addRow4(c: usize, x0: v128, x1: v128, x2: v128, x3: v128): void {
  const d0 = v128.load(c, 0), d1 = v128.load(c, 16), d2 = v128.load(c, 32), d3 = v128.load(c, 48);
  v128.store(c, f32x4.add(x0, d0), 0); v128.store(c, f32x4.add(x1, d1), 16);
  v128.store(c, f32x4.add(x2, d2), 32); v128.store(c, f32x4.add(x3, d3), 48);
}

// @ts-ignore: decorator
@inline function storeRow2(c: usize, va: v128, x0: v128, x1: v128): void {
  v128.store(c, f32x4.mul(va, x0), 0); v128.store(c, f32x4.mul(va, x1), 16);
}

// @ts-ignore: decorator
@inline function updateRow2(c: usize, va: v128, vb: v128, x0: v128, x1: v128): void {
  const d0 = v128.load(c, 0), d1 = v128.load(c, 16);
  v128.store(c, f32x4.add(f32x4.mul(va, x0), f32x4.mul(vb, d0)), 0);
  v128.store(c, f32x4.add(f32x4.mul(va, x1), f32x4.mul(vb, d1)), 16);
}

/** Stores a 4×16 tile; c<r><g> holds row r, columns 4g..4g+3. ldc: row stride in bytes. */
// @ts-ignore: decorator
@inline export function storeTile4x16(c: usize, ldc: usize, alpha: f32, beta: f32,
  c00: v128, c01: v128, c02: v128, c03: v128, c10: v128, c11: v128, c12: v128, c13: v128,
  c20: v128, c21: v128, c22: v128, c23: v128, c30: v128, c31: v128, c32: v128, c33: v128): void {
  const va = f32x4.splat(alpha);
  if (beta == 0) {
    storeRow4(c, va, c00, c01, c02, c03); c += ldc;
    storeRow4(c, va, c10, c11, c12, c13); c += ldc;
    storeRow4(c, va, c20, c21, c22, c23); c += ldc;
    storeRow4(c, va, c30, c31, c32, c33);
  } else if (alpha == 1 && beta == 1) {
    addRow4(c, c00, c01, c02, c03); c += ldc;
    addRow4(c, c10, c11, c12, c13); c += ldc;
    addRow4(c, c20, c21, c22, c23); c += ldc;
    addRow4(c, c30, c31, c32, c33);
  } else {
    const vb = f32x4.splat(beta);
    updateRow4(c, va, vb, c00, c01, c02, c03); c += ldc;
    updateRow4(c, va, vb, c10, c11, c12, c13); c += ldc;
    updateRow4(c, va, vb, c20, c21, c22, c23); c += ldc;
    updateRow4(c, va, vb, c30, c31, c32, c33);
  }
}

/** Stores a 6×16 tile; c<r><g> holds row r, columns 4g..4g+3. ldc: row stride in bytes. */
// @ts-ignore: decorator
@inline export function storeTile6x16(c: usize, ldc: usize, alpha: f32, beta: f32,
  c00: v128, c01: v128, c02: v128, c03: v128, c10: v128, c11: v128, c12: v128, c13: v128,
  c20: v128, c21: v128, c22: v128, c23: v128, c30: v128, c31: v128, c32: v128, c33: v128,
  c40: v128, c41: v128, c42: v128, c43: v128, c50: v128, c51: v128, c52: v128, c53: v128): void {
  const va = f32x4.splat(alpha);
  if (beta == 0) {
    storeRow4(c, va, c00, c01, c02, c03); c += ldc;
    storeRow4(c, va, c10, c11, c12, c13); c += ldc;
    storeRow4(c, va, c20, c21, c22, c23); c += ldc;
    storeRow4(c, va, c30, c31, c32, c33); c += ldc;
    storeRow4(c, va, c40, c41, c42, c43); c += ldc;
    storeRow4(c, va, c50, c51, c52, c53);
  } else if (alpha == 1 && beta == 1) {
    addRow4(c, c00, c01, c02, c03); c += ldc;
    addRow4(c, c10, c11, c12, c13); c += ldc;
    addRow4(c, c20, c21, c22, c23); c += ldc;
    addRow4(c, c30, c31, c32, c33); c += ldc;
    addRow4(c, c40, c41, c42, c43); c += ldc;
    addRow4(c, c50, c51, c52, c53);
  } else {
    const vb = f32x4.splat(beta);
    updateRow4(c, va, vb, c00, c01, c02, c03); c += ldc;
    updateRow4(c, va, vb, c10, c11, c12, c13); c += ldc;
    updateRow4(c, va, vb, c20, c21, c22, c23); c += ldc;
    updateRow4(c, va, vb, c30, c31, c32, c33); c += ldc;
    updateRow4(c, va, vb, c40, c41, c42, c43); c += ldc;
    updateRow4(c, va, vb, c50, c51, c52, c53);
  }
}

/** Stores a 4×8 tile; c<r><g> holds row r, columns 4g..4g+3. ldc: row stride in bytes. */
// @ts-ignore: decorator
@inline export function storeTile4x8(c: usize, ldc: usize, alpha: f32, beta: f32,
  c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128, c30: v128, c31: v128): void {
  const va = f32x4.splat(alpha);
  if (beta == 0) {
    storeRow2(c, va, c00, c01); c += ldc;
    storeRow2(c, va, c10, c11); c += ldc;
    storeRow2(c, va, c20, c21); c += ldc;
    storeRow2(c, va, c30, c31);
  } else {
    const vb = f32x4.splat(beta);
    updateRow2(c, va, vb, c00, c01); c += ldc;
    updateRow2(c, va, vb, c10, c11); c += ldc;
    updateRow2(c, va, vb, c20, c21); c += ldc;
    updateRow2(c, va, vb, c30, c31);
  }
}

// ---- packing --------------------------------------------------------------------------------

// @ts-ignore: decorator
@inline function f32at(base: usize, index: i32): f32 {
  return load<f32>(base + (<usize>index << 2));
}

/**
 * Rows of the A panel that starts where `left` rows of the block remain, for a kernel of mr rows
 * (4 or 6). With mr = 6: 6-row panels, except that the last 4, 7 or 8 rows (and any last 1–4)
 * take 4-row panels, so that an even number of rows is exactly 6-row and 4-row panels, with no
 * padded rows: 32 rows are 6+6+6+6+4+4, not 6·5 + a 2-row panel padded to 6; an odd number
 * pads one row. Row blocks are whole 6-row panels (mcStep's unit) but the last of a range.
 * Packing and the loop nest both walk the panels with it.
 */
// @ts-ignore: decorator
@inline function panelRows(left: i32, mr: i32): i32 {
  return mr == 4 || left <= 4 || left == 7 || left == 8 ? 4 : 6;
}

/**
 * Packs op(A)[i0 .. i0+mc, p0 .. p0+kc] into panels of panelRows(…, mr) rows at `ap` (layout above).
 * A is m×k (ta = 0, row i at a + i·k) or k×m (ta = 1, op(A)[i, p] = A[p, i]).
 */
function packA(ta: i32, a: usize, m: i32, k: i32, i0: i32, mc: i32, p0: i32, kc: i32, ap: usize, mr: i32): void {
  for (let ir = 0; ir < mc; ) {
    const h = panelRows(mc - ir, mr);
    const rows = min(h, mc - ir);
    const step = <usize>h << 2; // bytes of one k step of the panel
    const dst = ap + (<usize>(ir * kc) << 2);
    const i = i0 + ir;
    if (rows == h) {
      if (ta == 0) {
        // Rows of A side by side: read 4 k steps of each row, transpose 4×4 blocks (rows 0–3)
        // and, with 6 rows, a 2×4 block (rows 4–5).
        const lda = <usize>k << 2;
        const r0 = a + (<usize>(i * k + p0) << 2), r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda;
        const r4 = r3 + lda, r5 = r4 + lda;
        let p = 0;
        for (; p + 4 <= kc; p += 4) {
          const o = <usize>p << 2;
          const x0 = v128.load(r0 + o), x1 = v128.load(r1 + o), x2 = v128.load(r2 + o), x3 = v128.load(r3 + o);
          const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5); // r0p0 r1p0 r0p1 r1p1
          const t1 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7); // r0p2 r1p2 r0p3 r1p3
          const t2 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
          const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
          const d = dst + <usize>p * step;
          v128.store(d, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));            // k step p:   rows 0..3
          v128.store(d + step, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));     // k step p+1
          v128.store(d + 2 * step, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5)); // k step p+2
          v128.store(d + 3 * step, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7)); // k step p+3
          if (h == 6) {
            const x4 = v128.load(r4 + o), x5 = v128.load(r5 + o);
            const u0 = v128.shuffle<f32>(x4, x5, 0, 4, 1, 5); // r4p0 r5p0 r4p1 r5p1
            const u1 = v128.shuffle<f32>(x4, x5, 2, 6, 3, 7); // r4p2 r5p2 r4p3 r5p3
            v128.store64_lane(d + 16, u0, 0);
            v128.store64_lane(d + step + 16, u0, 1);
            v128.store64_lane(d + 2 * step + 16, u1, 0);
            v128.store64_lane(d + 3 * step + 16, u1, 1);
          }
        }
        for (; p < kc; p++) {
          const d = dst + <usize>p * step;
          store<f32>(d, f32at(r0, p), 0); store<f32>(d, f32at(r1, p), 4);
          store<f32>(d, f32at(r2, p), 8); store<f32>(d, f32at(r3, p), 12);
          if (h == 6) { store<f32>(d, f32at(r4, p), 16); store<f32>(d, f32at(r5, p), 20); }
        }
      } else {
        // A is k×m: the rows of op(A) at one k step are mr adjacent floats of A.
        const lda = <usize>m << 2;
        let src = a + (<usize>(p0 * m + i) << 2);
        let d = dst;
        for (let p = 0; p < kc; p++) {
          v128.store(d, v128.load(src));
          if (h == 6) v128.store64_lane(d + 16, v128.load64_zero(src + 16), 0);
          src += lda; d += step;
        }
      }
    } else {
      // Ragged last panel: fewer than h rows left, pad with zeros.
      for (let p = 0; p < kc; p++) {
        const d = dst + <usize>p * step;
        for (let r = 0; r < h; r++) {
          const v: f32 = r < rows ? (ta == 0 ? f32at(a, (i + r) * k + p0 + p) : f32at(a, (p0 + p) * m + i + r)) : 0;
          store<f32>(d + (<usize>r << 2), v);
        }
      }
    }
    ir += h;
  }
}

/**
 * Packs op(B)[p0 .. p0+kc, j0 .. j0+nc] into nr-column panels at `bp` (layout above).
 * B is k×n (tb = 0, row p at b + p·n) or n×k (tb = 1, op(B)[p, j] = B[j, p]).
 */
function packB(tb: i32, b: usize, n: i32, k: i32, j0: i32, nc: i32, p0: i32, kc: i32, bp: usize, nr: i32,
  raggedOnly: bool): void {
  const panelBytes = <usize>(kc * nr) << 2;
  const rowBytes = <usize>nr << 2;
  for (let jr = raggedOnly ? nc - nc % nr : 0; jr < nc; jr += nr) {
    const cols = min(nr, nc - jr);
    const dst = bp + <usize>(jr / nr) * panelBytes;
    const j = j0 + jr;
    if (cols == nr) {
      if (tb == 0) {
        // Row p of the panel is nr adjacent floats of row p of B: a straight copy.
        const ldb = <usize>n << 2;
        let src = b + (<usize>(p0 * n + j) << 2);
        let d = dst;
        if (nr == 16) {
          // Unrolled, and all loads before the stores: V8 then pairs them into 256-bit moves.
          for (let p = 0; p < kc; p++) {
            const x0 = v128.load(src, 0), x1 = v128.load(src, 16), x2 = v128.load(src, 32), x3 = v128.load(src, 48);
            v128.store(d, x0, 0); v128.store(d, x1, 16); v128.store(d, x2, 32); v128.store(d, x3, 48);
            src += ldb; d += 64;
          }
        } else {
          for (let p = 0; p < kc; p++) {
            for (let g: usize = 0; g < rowBytes; g += 16) v128.store(d + g, v128.load(src + g));
            src += ldb; d += rowBytes;
          }
        }
      } else {
        // B is n×k: column j of op(B) is row j of B. Transpose 4 columns × 4 k steps at a time.
        const ldb = <usize>k << 2;
        for (let g = 0; g < nr; g += 4) {
          const s0 = b + (<usize>((j + g) * k + p0) << 2), s1 = s0 + ldb, s2 = s1 + ldb, s3 = s2 + ldb;
          const dg = dst + (<usize>g << 2);
          let p = 0;
          for (; p + 4 <= kc; p += 4) {
            const o = <usize>p << 2;
            const x0 = v128.load(s0 + o), x1 = v128.load(s1 + o), x2 = v128.load(s2 + o), x3 = v128.load(s3 + o);
            const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
            const t1 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
            const t2 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
            const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
            const d = dg + <usize>p * rowBytes;
            v128.store(d, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
            v128.store(d + rowBytes, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
            v128.store(d + 2 * rowBytes, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
            v128.store(d + 3 * rowBytes, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
          }
          for (; p < kc; p++) {
            const d = dg + <usize>p * rowBytes;
            store<f32>(d, f32at(s0, p), 0); store<f32>(d, f32at(s1, p), 4);
            store<f32>(d, f32at(s2, p), 8); store<f32>(d, f32at(s3, p), 12);
          }
        }
      }
    } else {
      // Ragged last panel: fewer than nr columns left, pad with zeros.
      for (let p = 0; p < kc; p++) {
        const d = dst + <usize>p * rowBytes;
        for (let jj = 0; jj < nr; jj++) {
          const v: f32 = jj < cols ? (tb == 0 ? f32at(b, (p0 + p) * n + j + jj) : f32at(b, (j + jj) * k + p0 + p)) : 0;
          store<f32>(d + (<usize>jj << 2), v);
        }
      }
    }
  }
}

// ---- the driver -----------------------------------------------------------------------------

/** C[m0..m1, n0..n1] = beta · C (beta = 0 writes zeros): the whole job when k = 0 or alpha = 0. */
function scaleBlock(c: usize, n: i32, m0: i32, m1: i32, n0: i32, n1: i32, beta: f32): void {
  for (let i = m0; i < m1; i++) {
    const row = c + (<usize>(i * n) << 2);
    for (let j = n0; j < n1; j++) {
      const q = row + (<usize>j << 2);
      store<f32>(q, beta == 0 ? <f32>0 : beta * load<f32>(q));
    }
  }
}

/** Splits `total` into ceil(total/max) near-equal blocks; returns the block size rounded up to `unit`. */
// @ts-ignore: decorator
@inline function blockSize(total: i32, max: i32, unit: i32): i32 {
  const blocks = (total + max - 1) / max;
  const size = (total + blocks - 1) / blocks;
  return min(max, (size + unit - 1) / unit * unit);
}

// ---- few rows: no packing ---------------------------------------------------------------------
// A product with fewer than FEW_ROWS rows in all (m < 4: a recurrent step at batch 1–3, e.g. the seed
// notebooks' LSTM at batch 1) would run the 4-row micro-kernel on zero-padded rows (4× the work),
// pack its A row through the scalar ragged path, and with B stored n×k transpose the whole of B
// on every call. Here each row of C is computed straight from A and B instead. Decided on the
// whole product's m, never on a thread's row range, so a split product takes the same path.

/**
 * B stored k×n (tb = 0): per row of C, 32 (then 16, then 4, then the last 1–3) columns at a time are
 * accumulated over k from rows of B read in place. Per element this is exactly what the packed
 * path computes (the same k blocks, the same multiply-add of K, from zero in each block, then
 * alpha·acc + beta·C), so results are bit-identical to it.
 */
// @ts-ignore: decorator
@inline function gemmRowsDirect<K>(ta: i32, m: i32, n: i32, k: i32, alpha: f32, a: usize, b: usize,
  beta: f32, c: usize, m0: i32, m1: i32, n0: i32, n1: i32): void {
  const kern = changetype<K>(0);
  const kcStep = blockSize(k, KC, 1);
  const ldb = <usize>n << 2;
  const va = f32x4.splat(alpha);
  // A's k step stride: 1 float (A is m×k) or m floats (A is k×m).
  const sa = ta == 0 ? <usize>4 : <usize>m << 2;
  for (let i = m0; i < m1; i++) {
    const arow = a + (ta == 0 ? <usize>(i * k) << 2 : <usize>i << 2);
    const crow = c + (<usize>(i * n) << 2);
    for (let pc = 0; pc < k; pc += kcStep) {
      const kc = min(kcStep, k - pc);
      const betaBlk: f32 = pc == 0 ? beta : 1;
      const vb = f32x4.splat(betaBlk);
      const a0 = arow + <usize>pc * sa;
      const b0 = b + <usize>pc * ldb;
      let j = n0;
      // 32 columns: eight independent accumulator chains, enough to hide the multiply-add latency
      // (with four, a 1×400×100 product was latency-bound at ~1 vector multiply-add per cycle).
      for (; j + 32 <= n1; j += 32) {
        let x0 = f32x4.splat(0), x1 = f32x4.splat(0), x2 = f32x4.splat(0), x3 = f32x4.splat(0);
        let x4 = f32x4.splat(0), x5 = f32x4.splat(0), x6 = f32x4.splat(0), x7 = f32x4.splat(0);
        let ap = a0, bp = b0 + (<usize>j << 2);
        for (let p = 0; p < kc; p++) {
          const av = v128.load32_splat(ap);
          x0 = kern.madd(av, v128.load(bp, 0), x0); x1 = kern.madd(av, v128.load(bp, 16), x1);
          x2 = kern.madd(av, v128.load(bp, 32), x2); x3 = kern.madd(av, v128.load(bp, 48), x3);
          x4 = kern.madd(av, v128.load(bp, 64), x4); x5 = kern.madd(av, v128.load(bp, 80), x5);
          x6 = kern.madd(av, v128.load(bp, 96), x6); x7 = kern.madd(av, v128.load(bp, 112), x7);
          ap += sa; bp += ldb;
        }
        const cp = crow + (<usize>j << 2);
        if (betaBlk == 0) { storeRow4(cp, va, x0, x1, x2, x3); storeRow4(cp + 64, va, x4, x5, x6, x7); }
        else { updateRow4(cp, va, vb, x0, x1, x2, x3); updateRow4(cp + 64, va, vb, x4, x5, x6, x7); }
      }
      for (; j + 16 <= n1; j += 16) {
        let x0 = f32x4.splat(0), x1 = f32x4.splat(0), x2 = f32x4.splat(0), x3 = f32x4.splat(0);
        let ap = a0, bp = b0 + (<usize>j << 2);
        for (let p = 0; p < kc; p++) {
          const av = v128.load32_splat(ap);
          x0 = kern.madd(av, v128.load(bp, 0), x0); x1 = kern.madd(av, v128.load(bp, 16), x1);
          x2 = kern.madd(av, v128.load(bp, 32), x2); x3 = kern.madd(av, v128.load(bp, 48), x3);
          ap += sa; bp += ldb;
        }
        const cp = crow + (<usize>j << 2);
        if (betaBlk == 0) storeRow4(cp, va, x0, x1, x2, x3);
        else updateRow4(cp, va, vb, x0, x1, x2, x3);
      }
      for (; j + 4 <= n1; j += 4) {
        let x0 = f32x4.splat(0);
        let ap = a0, bp = b0 + (<usize>j << 2);
        for (let p = 0; p < kc; p++) {
          x0 = kern.madd(v128.load32_splat(ap), v128.load(bp), x0);
          ap += sa; bp += ldb;
        }
        const cp = crow + (<usize>j << 2);
        v128.store(cp, betaBlk == 0 ? f32x4.mul(va, x0) : f32x4.add(f32x4.mul(va, x0), f32x4.mul(vb, v128.load(cp))));
      }
      if (j < n1) {
        // The last 1–3 columns: the same vector arithmetic on lanes gathered one by one (reading
        // past column n1 could run off the end of B).
        const cols = n1 - j;
        let x0 = f32x4.splat(0);
        let ap = a0, bp = b0 + (<usize>j << 2);
        for (let p = 0; p < kc; p++) {
          let bv = f32x4.splat(load<f32>(bp));
          if (cols > 1) bv = f32x4.replace_lane(bv, 1, load<f32>(bp, 4));
          if (cols > 2) bv = f32x4.replace_lane(bv, 2, load<f32>(bp, 8));
          x0 = kern.madd(v128.load32_splat(ap), bv, x0);
          ap += sa; bp += ldb;
        }
        const v = f32x4.mul(va, x0);
        for (let jj = 0; jj < cols; jj++) {
          const q = crow + (<usize>(j + jj) << 2);
          const vj = lane(v, jj);
          store<f32>(q, betaBlk == 0 ? vj : vj + betaBlk * load<f32>(q));
        }
      }
    }
  }
}

// @ts-ignore: decorator
@inline function lane(v: v128, i: i32): f32 {
  return i == 0 ? f32x4.extract_lane(v, 0) : i == 1 ? f32x4.extract_lane(v, 1) : i == 2 ? f32x4.extract_lane(v, 2) : f32x4.extract_lane(v, 3);
}

/** Σ_p A[p]·B[p] over k floats at a and b (both contiguous): 4 lanes, then one fixed order. */
// @ts-ignore: decorator
@inline function dotLanes(a: usize, b: usize, k: i32, x: v128): f32 {
  let s: f32 = (f32x4.extract_lane(x, 0) + f32x4.extract_lane(x, 2)) + (f32x4.extract_lane(x, 1) + f32x4.extract_lane(x, 3));
  for (let p = k & ~3; p < k; p++) s += load<f32>(a + (<usize>p << 2)) * load<f32>(b + (<usize>p << 2));
  return s;
}

/**
 * The four lane sums of x0…x3 as one vector, each (x[0] + x[2]) + (x[1] + x[3]): the same
 * additions in the same order as dotLanes' first line, so a column's result does not depend on
 * whether it was reduced alone or in a group of four.
 */
// @ts-ignore: decorator
@inline function laneSums4(x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  // [x0₀+x0₂, x0₁+x0₃, x1₀+x1₂, x1₁+x1₃] and likewise for x2, x3.
  const s01 = f32x4.add(v128.shuffle<f32>(x0, x1, 0, 1, 4, 5), v128.shuffle<f32>(x0, x1, 2, 3, 6, 7));
  const s23 = f32x4.add(v128.shuffle<f32>(x2, x3, 0, 1, 4, 5), v128.shuffle<f32>(x2, x3, 2, 3, 6, 7));
  return f32x4.add(v128.shuffle<f32>(s01, s23, 0, 2, 4, 6), v128.shuffle<f32>(s01, s23, 1, 3, 5, 7));
}

/** Four dot products' lane accumulators to C[cp…cp+3]: alpha·s (+ beta·C), as storeDot per column. */
// @ts-ignore: decorator
@inline function storeDots4(cp: usize, alpha: f32, beta: f32, arow: usize, r0: usize, ldb: usize, k: i32,
  x0: v128, x1: v128, x2: v128, x3: v128): void {
  if ((k & 3) == 0) {
    // No k tail: reduce the four columns at once and store one vector.
    const v = f32x4.mul(f32x4.splat(alpha), laneSums4(x0, x1, x2, x3));
    v128.store(cp, beta == 0 ? v : f32x4.add(v, f32x4.mul(f32x4.splat(beta), v128.load(cp))));
  } else {
    storeDot(cp, alpha, beta, dotLanes(arow, r0, k, x0));
    storeDot(cp + 4, alpha, beta, dotLanes(arow, r0 + ldb, k, x1));
    storeDot(cp + 8, alpha, beta, dotLanes(arow, r0 + 2 * ldb, k, x2));
    storeDot(cp + 12, alpha, beta, dotLanes(arow, r0 + 3 * ldb, k, x3));
  }
}

/**
 * B stored n×k (tb = 1), A stored m×k (ta = 0): C[i, j] is the dot product of two contiguous
 * rows, so no transpose at all. Each dot product runs 4 k steps per vector (lane l sums k steps
 * ≡ l mod 4), adds the lanes in a fixed order, then the last k mod 4 steps: a different order of
 * summation than the packed path (results agree to f32 rounding), the same for every column
 * whichever group or thread computes it. Columns go 8, then 4, then 1 at a time: a lone column
 * is one dependent chain of adds (latency-bound: the last 4 of a 1×100×400 product, the seed
 * LSTM's backward step, took a sixth of its time that way), and groups of four are reduced and
 * stored as one vector when k is a multiple of 4.
 */
// @ts-ignore: decorator
@inline function gemmRowsDot<K>(n: i32, k: i32, alpha: f32, a: usize, b: usize,
  beta: f32, c: usize, m0: i32, m1: i32, n0: i32, n1: i32): void {
  const kern = changetype<K>(0);
  const ldb = <usize>k << 2;
  const k4 = <usize>(k & ~3) << 2;
  for (let i = m0; i < m1; i++) {
    const arow = a + (<usize>(i * k) << 2);
    const crow = c + (<usize>(i * n) << 2);
    let j = n0;
    for (; j + 8 <= n1; j += 8) {
      let x0 = f32x4.splat(0), x1 = f32x4.splat(0), x2 = f32x4.splat(0), x3 = f32x4.splat(0);
      let x4 = f32x4.splat(0), x5 = f32x4.splat(0), x6 = f32x4.splat(0), x7 = f32x4.splat(0);
      const r0 = b + <usize>j * ldb;
      const r1 = r0 + ldb, r2 = r1 + ldb, r3 = r2 + ldb, r4 = r3 + ldb, r5 = r4 + ldb, r6 = r5 + ldb, r7 = r6 + ldb;
      // Four vectors of k per pass, at constant offsets from one address per row: the eight row
      // addresses are then formed once per four k vectors (each costs an add in V8's code), the
      // same accumulation order as one vector per pass.
      let o: usize = 0;
      for (; o + 64 <= k4; o += 64) {
        const ap = arow + o, p0 = r0 + o, p1 = r1 + o, p2 = r2 + o, p3 = r3 + o, p4 = r4 + o, p5 = r5 + o, p6 = r6 + o, p7 = r7 + o;
        {
          const av = v128.load(ap, 0);
          x0 = kern.madd(av, v128.load(p0, 0), x0); x1 = kern.madd(av, v128.load(p1, 0), x1);
          x2 = kern.madd(av, v128.load(p2, 0), x2); x3 = kern.madd(av, v128.load(p3, 0), x3);
          x4 = kern.madd(av, v128.load(p4, 0), x4); x5 = kern.madd(av, v128.load(p5, 0), x5);
          x6 = kern.madd(av, v128.load(p6, 0), x6); x7 = kern.madd(av, v128.load(p7, 0), x7);
        }
        {
          const av = v128.load(ap, 16);
          x0 = kern.madd(av, v128.load(p0, 16), x0); x1 = kern.madd(av, v128.load(p1, 16), x1);
          x2 = kern.madd(av, v128.load(p2, 16), x2); x3 = kern.madd(av, v128.load(p3, 16), x3);
          x4 = kern.madd(av, v128.load(p4, 16), x4); x5 = kern.madd(av, v128.load(p5, 16), x5);
          x6 = kern.madd(av, v128.load(p6, 16), x6); x7 = kern.madd(av, v128.load(p7, 16), x7);
        }
        {
          const av = v128.load(ap, 32);
          x0 = kern.madd(av, v128.load(p0, 32), x0); x1 = kern.madd(av, v128.load(p1, 32), x1);
          x2 = kern.madd(av, v128.load(p2, 32), x2); x3 = kern.madd(av, v128.load(p3, 32), x3);
          x4 = kern.madd(av, v128.load(p4, 32), x4); x5 = kern.madd(av, v128.load(p5, 32), x5);
          x6 = kern.madd(av, v128.load(p6, 32), x6); x7 = kern.madd(av, v128.load(p7, 32), x7);
        }
        {
          const av = v128.load(ap, 48);
          x0 = kern.madd(av, v128.load(p0, 48), x0); x1 = kern.madd(av, v128.load(p1, 48), x1);
          x2 = kern.madd(av, v128.load(p2, 48), x2); x3 = kern.madd(av, v128.load(p3, 48), x3);
          x4 = kern.madd(av, v128.load(p4, 48), x4); x5 = kern.madd(av, v128.load(p5, 48), x5);
          x6 = kern.madd(av, v128.load(p6, 48), x6); x7 = kern.madd(av, v128.load(p7, 48), x7);
        }
      }
      for (; o < k4; o += 16) {
        const av = v128.load(arow + o);
        x0 = kern.madd(av, v128.load(r0 + o), x0); x1 = kern.madd(av, v128.load(r1 + o), x1);
        x2 = kern.madd(av, v128.load(r2 + o), x2); x3 = kern.madd(av, v128.load(r3 + o), x3);
        x4 = kern.madd(av, v128.load(r4 + o), x4); x5 = kern.madd(av, v128.load(r5 + o), x5);
        x6 = kern.madd(av, v128.load(r6 + o), x6); x7 = kern.madd(av, v128.load(r7 + o), x7);
      }
      const cp = crow + (<usize>j << 2);
      storeDots4(cp, alpha, beta, arow, r0, ldb, k, x0, x1, x2, x3);
      storeDots4(cp + 16, alpha, beta, arow, r4, ldb, k, x4, x5, x6, x7);
    }
    for (; j + 4 <= n1; j += 4) {
      let x0 = f32x4.splat(0), x1 = f32x4.splat(0), x2 = f32x4.splat(0), x3 = f32x4.splat(0);
      const r0 = b + <usize>j * ldb;
      const r1 = r0 + ldb, r2 = r1 + ldb, r3 = r2 + ldb;
      for (let o: usize = 0; o < k4; o += 16) {
        const av = v128.load(arow + o);
        x0 = kern.madd(av, v128.load(r0 + o), x0); x1 = kern.madd(av, v128.load(r1 + o), x1);
        x2 = kern.madd(av, v128.load(r2 + o), x2); x3 = kern.madd(av, v128.load(r3 + o), x3);
      }
      storeDots4(crow + (<usize>j << 2), alpha, beta, arow, r0, ldb, k, x0, x1, x2, x3);
    }
    for (; j < n1; j++) {
      let x0 = f32x4.splat(0);
      const r0 = b + <usize>j * ldb;
      for (let o: usize = 0; o < k4; o += 16) x0 = kern.madd(v128.load(arow + o), v128.load(r0 + o), x0);
      storeDot(crow + (<usize>j << 2), alpha, beta, dotLanes(arow, r0, k, x0));
    }
  }
}

// @ts-ignore: decorator
@inline function storeDot(q: usize, alpha: f32, beta: f32, s: f32): void {
  const v = alpha * s;
  store<f32>(q, beta == 0 ? v : v + beta * load<f32>(q));
}

/**
 * C[rows × cols] at cp (row stride ldc bytes) = alpha · T + beta · C (beta = 0: overwrite), T the
 * top-left of the nr-wide tile at `tile`: the part of an edge tile inside C. Whole rows of the
 * tile (cols = nr: only rows are ragged) go 4 floats at a time.
 */
function mergeTile(cp: usize, ldc: usize, tile: usize, nr: i32, rows: i32, cols: i32, alpha: f32, beta: f32): void {
  const va = f32x4.splat(alpha), vb = f32x4.splat(beta);
  for (let r = 0; r < rows; r++) {
    const crow = cp + <usize>r * ldc;
    const trow = tile + (<usize>(r * nr) << 2);
    let jj = 0;
    if (cols == nr) {
      for (; jj < nr; jj += 4) {
        const q = crow + (<usize>jj << 2);
        const v = f32x4.mul(va, v128.load(trow + (<usize>jj << 2)));
        v128.store(q, beta == 0 ? v : f32x4.add(v, f32x4.mul(vb, v128.load(q))));
      }
    }
    for (; jj < cols; jj++) {
      const q = crow + (<usize>jj << 2);
      const v = alpha * load<f32>(trow + (<usize>jj << 2));
      store<f32>(q, beta == 0 ? v : v + beta * load<f32>(q));
    }
  }
}

/**
 * The loop nest for micro-kernel K over rows [m0, m1) and columns [n0, n1) of C (m, n, k are the
 * whole product's sizes: they give the row strides). K is a class used only as a compile-time
 * type argument, so the driver is compiled once per kernel with the calls resolved statically.
 * AssemblyScript has no static calls through a type parameter, so the driver calls K's methods
 * on a null instance: kernel methods never touch `this`. K provides
 *   nr: the tile width (a multiple of 4, at most NR_MAX),
 *   mr: the rows of its main tile, 4 or 6 (at most MR_MAX; the A panels follow panelRows),
 *   madd(a, b, c): c + a·b per lane, the kernel's own multiply-add (fused or not),
 *   tile(kc, ap, bp, ldb, c, ldc, alpha, beta): C[mr×nr] at byte address c (row stride ldc
 *     bytes) gets alpha · Σ_p Ap[p·mr + r] · B_p[j] + beta · C (beta = 0: overwrite), where
 *     B_p, the k step p row of B's panel, is nr floats at bp + p·ldb (ldb = nr·4 when packed),
 *   tile4(…): the same for a 4-row panel (Ap[p·4 + r]); tile itself when mr = 4, and
 *   fusesPack, tilePack(kc, ap, bp, ldb, bdst, c, ldc, alpha, beta), tile4Pack(…): when
 *     fusesPack, tile and tile4 that also store each B_p to bdst + p·nr·4 (B read in place,
 *     written packed); never called otherwise.
 */
// @ts-ignore: decorator
@inline export function gemmRange<K>(ta: i32, tb: i32, m: i32, n: i32, k: i32, alpha: f32, a: usize, b: usize,
  beta: f32, c: usize, m0: i32, m1: i32, n0: i32, n1: i32, scratch: usize): void {
  if (m1 <= m0 || n1 <= n0) return;
  if (k == 0 || alpha == 0) { scaleBlock(c, n, m0, m1, n0, n1, beta); return; }
  if (m < FEW_ROWS) {
    // Few rows in all (see gemmRowsDirect): no packing, no padded rows.
    if (tb == 0) { gemmRowsDirect<K>(ta, m, n, k, alpha, a, b, beta, c, m0, m1, n0, n1); return; }
    if (ta == 0) { gemmRowsDot<K>(n, k, alpha, a, b, beta, c, m0, m1, n0, n1); return; }
  }
  const kern = changetype<K>(0);
  const nr = kern.nr, mr = kern.mr;
  const bpBase = scratch, apBase = scratch + BP_BYTES, tile = apBase + AP_BYTES;
  const ldc = <usize>n << 2;
  const ncStep = blockSize(n1 - n0, NC, nr);
  const kcStep = blockSize(k, KC, 1);
  const mcStep = blockSize(m1 - m0, MC, mr); // whole panels; only the last block ends in 4-row ones
  // Few rows (m ≤ MC, e.g. a recurrent step's batch): packing B costs about as much as using it,
  // so when B is stored k×n its full panels are read in place (rows n floats apart) and only the
  // ragged last panel is packed. Not when a row of B is a multiple of 4 KiB (n % 1024 = 0): then
  // every k step of a panel falls into the same L1 cache set and they evict each other.
  // Measured (Zen 3/4): 16×128·128×512 +30%, 32×256·256×1000 +23%; 64×256·256×1024 read in place
  // would lose 40%.
  // A row of 2 KiB (n % 512 = 0) puts the k steps of a panel into only two sets: read in place,
  // the panel never stays in L1, so every one of the (rows/4) micro-kernels reloads it from L2.
  // With more than 64 rows that reuse outweighs the cost of packing it once: the transformer's
  // weight gradient dW1 = xᵀ·dh, 128×512 over k = 4096, measured 69 → 75 GFLOP/s (1 thread,
  // loaded machine, alternating runs), 128×512×128 70 → 87; with 64 rows packing already loses
  // (64×512×4096: 69 → 64) and with 16 it loses half (16×512×128: 73 → 39), so they read in place.
  const rowsHere = m1 - m0;
  const aliased = (n & 1023) == 0 || ((n & 511) == 0 && rowsHere > 64);
  const direct = tb == 0 && rowsHere <= MC && !aliased;
  const ldbPacked = <usize>nr << 2, ldbDirect = <usize>n << 2;
  // Packing B's full panels inside the first micro-kernel pass over them (the first panel of A's
  // first block, when that panel is whole) instead of a pass of its own: the strided reads of B
  // overlap with that kernel's arithmetic. Measured (Zen 5, 1 thread): 32×256·256×1024 +30%.
  const firstMc = min(mcStep, m1 - m0);
  const firstH = panelRows(firstMc, mr);
  const fuse = kern.fusesPack && tb == 0 && !direct && firstMc >= firstH;
  for (let jc = n0; jc < n1; jc += ncStep) {
    const nc = min(ncStep, n1 - jc);
    for (let pc = 0; pc < k; pc += kcStep) {
      const kc = min(kcStep, k - pc);
      // The first k block applies beta; later ones add to what it left.
      const betaBlk: f32 = pc == 0 ? beta : 1;
      packB(tb, b, n, k, jc, nc, pc, kc, bpBase, nr, direct || fuse);
      for (let ic = m0; ic < m1; ic += mcStep) {
        const mc = min(mcStep, m1 - ic);
        packA(ta, a, m, k, ic, mc, pc, kc, apBase, mr);
        for (let jr = 0; jr < nc; jr += nr) {
          const cols = min(nr, nc - jr);
          const useDirect = direct && cols == nr;
          const inPlace = b + (<usize>(pc * n + jc + jr) << 2);
          const bp = useDirect ? inPlace : bpBase + (<usize>(jr * kc) << 2);
          const ldb = useDirect ? ldbDirect : ldbPacked;
          let ir = 0;
          if (fuse && ic == m0 && cols == nr) {
            // The first panel of the first block reads B's panel in place and packs it.
            const cp = c + (<usize>(ic * n + jc + jr) << 2);
            if (firstH == mr) kern.tilePack(kc, apBase, inPlace, ldbDirect, bp, cp, ldc, alpha, betaBlk);
            else kern.tile4Pack(kc, apBase, inPlace, ldbDirect, bp, cp, ldc, alpha, betaBlk);
            ir = firstH;
          }
          for (; ir < mc; ) {
            const h = panelRows(mc - ir, mr);
            const rows = min(h, mc - ir);
            const ap = apBase + (<usize>(ir * kc) << 2);
            const cp = c + (<usize>((ic + ir) * n + jc + jr) << 2);
            if (rows == h && cols == nr) {
              if (h == mr) kern.tile(kc, ap, bp, ldb, cp, ldc, alpha, betaBlk);
              else kern.tile4(kc, ap, bp, ldb, cp, ldc, alpha, betaBlk);
            } else {
              // Edge tile: compute the full tile into scratch, then merge the part inside C.
              if (h == mr) kern.tile(kc, ap, bp, ldb, tile, <usize>nr << 2, 1, 0);
              else kern.tile4(kc, ap, bp, ldb, tile, <usize>nr << 2, 1, 0);
              mergeTile(cp, ldc, tile, nr, rows, cols, alpha, betaBlk);
            }
            ir += h;
          }
        }
      }
    }
  }
}

// ---- a B operand packed once (Ops.packGemmB, Ops.gemmPackedB) ------------------------------------
// When one B multiplies many A's (a recurrent layer's h_{t−1}·Wh at every time step, Wh unchanged
// within the pass), gemmRange would pack it again on every call (with B stored n×k, or n a multiple
// of 1024: all of it). Instead B is packed once, whole, by packB itself: the whole matrix as ONE k
// block and ONE column block, so panel q (columns q·nr … q·nr+nr−1 of op(B), zero-padded past n)
// is k×nr floats at Bp + q·k·nr, and k block [pc, pc+kc) of panel q, kc×nr floats at
// Bp + (q·k + pc)·nr, is exactly the micro-panel gemmRange packs for that block. Size:
// packedBFloats(k, n, nr). The layout depends only on nr: not on KC, MC or NC.

/** Floats of a packed op(B), k×n, for micro-kernels nr columns wide: k·⌈n/nr⌉·nr. */
// @ts-ignore: decorator
@inline export function packedBFloats(k: i32, n: i32, nr: i32): i32 {
  return k * ((n + nr - 1) / nr * nr);
}

/** Packs the whole of op(B) (k×n; tb as in packB) into panels nr wide at bp (layout above). */
export function packWholeB(tb: i32, b: usize, n: i32, k: i32, bp: usize, nr: i32): void {
  if (k == 0 || n == 0) return;
  packB(tb, b, n, k, 0, n, 0, k, bp, nr, false);
}

/**
 * gemmRange with op(B) prepacked at bp by packWholeB (the same nr as K's): rows [m0, m1) × columns
 * [n0, n1) of C = alpha·op(A)·op(B) + beta·C. The same k blocks, packed A blocks, tiles and edge
 * tiles as gemmRange, so per element the same arithmetic as gemmRange's packed path; there is no
 * column blocking (NC sizes the B block gemmRange packs, and here nothing is packed): each k block
 * packs its A rows once and runs them against every panel. n0 need not be a multiple of nr (the
 * engine's column chunks are): a panel only partly inside [n0, n1) is computed as an edge tile.
 * Any m works; the engine sends products of fewer than FEW_ROWS rows to gemmRange with B itself instead
 * (gemmRowsDirect and gemmRowsDot read B in place, faster than padded tiles and needing no pack).
 */
// @ts-ignore: decorator
@inline export function gemmRangePackedB<K>(ta: i32, m: i32, n: i32, k: i32, alpha: f32, a: usize, bp: usize,
  beta: f32, c: usize, m0: i32, m1: i32, n0: i32, n1: i32, scratch: usize): void {
  if (m1 <= m0 || n1 <= n0) return;
  if (k == 0 || alpha == 0) { scaleBlock(c, n, m0, m1, n0, n1, beta); return; }
  const kern = changetype<K>(0);
  const nr = kern.nr, mr = kern.mr;
  const apBase = scratch + BP_BYTES, tile = apBase + AP_BYTES;
  const ldc = <usize>n << 2, ldb = <usize>nr << 2;
  const panelBytes = <usize>k * ldb;
  const kcStep = blockSize(k, KC, 1);
  const mcStep = blockSize(m1 - m0, MC, mr); // whole panels; only the last block ends in 4-row ones
  const q0 = n0 / nr, q1 = (n1 + nr - 1) / nr;
  for (let pc = 0; pc < k; pc += kcStep) {
    const kc = min(kcStep, k - pc);
    // The first k block applies beta; later ones add to what it left.
    const betaBlk: f32 = pc == 0 ? beta : 1;
    for (let ic = m0; ic < m1; ic += mcStep) {
      const mc = min(mcStep, m1 - ic);
      packA(ta, a, m, k, ic, mc, pc, kc, apBase, mr);
      for (let q = q0; q < q1; q++) {
        const j0 = max(n0, q * nr), j1 = min(n1, q * nr + nr);
        const bq = bp + <usize>q * panelBytes + <usize>pc * ldb;
        for (let ir = 0; ir < mc; ) {
          const h = panelRows(mc - ir, mr);
          const rows = min(h, mc - ir);
          const ap = apBase + (<usize>(ir * kc) << 2);
          const cp = c + (<usize>((ic + ir) * n + j0) << 2);
          if (rows == h && j1 - j0 == nr) {
            if (h == mr) kern.tile(kc, ap, bq, ldb, cp, ldc, alpha, betaBlk);
            else kern.tile4(kc, ap, bq, ldb, cp, ldc, alpha, betaBlk);
          } else {
            // Edge tile: compute the whole panel's tile into scratch, then merge the part inside C.
            if (h == mr) kern.tile(kc, ap, bq, ldb, tile, ldb, 1, 0);
            else kern.tile4(kc, ap, bq, ldb, tile, ldb, 1, 0);
            mergeTile(cp, ldc, tile + (<usize>(j0 - q * nr) << 2), nr, rows, j1 - j0, alpha, betaBlk);
          }
          ir += h;
        }
      }
    }
  }
}
