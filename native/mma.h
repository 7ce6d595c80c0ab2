// Tensor-core building blocks shared by gemm.cu and attention.cu: bf16 packing/rounding, ldmatrix
// and mma.sync.m16n8k16 (bf16 inputs, fp32 accumulation; valid on sm_80+, so on both targets we
// build, sm_86 and sm_90).
//
// Under HANDGRAD_HOST_EMU (native/tests/host-emu/run.sh, which includes cuda_emu.h first) the same
// functions are implemented on the host with the PTX semantics, one lane per OS thread exchanging
// fragments through a per-warp buffer, so both kernel files' fragment addressing runs on a machine
// without a GPU. This header is not rewritten by run.sh, so it must stay free of `__shared__` and
// launch syntax.
#pragma once
#include <cstdint>
#include <cstring>
#ifdef HANDGRAD_HOST_EMU
#include <vector>
#endif
#ifndef HANDGRAD_HOST_EMU
#include <cuda_bf16.h>
#endif

namespace handgrad {

#ifndef HANDGRAD_HOST_EMU
// Two floats → two bf16 (round to nearest even) in one register, lo in the low half (the order
// mma fragments expect).
__device__ __forceinline__ uint32_t packBf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}
// x rounded to bf16 and back: the CUDA-core paths round operands exactly as the tensor-core paths do.
__device__ __forceinline__ float bf16Round(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }
__device__ __forceinline__ uint32_t smemAddr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
// Four 8×8 b16 matrices from shared memory; lane t gives the address of row t % 8 of matrix t / 8.
__device__ __forceinline__ void ldmatrixX4(uint32_t (&r)[4], const uint16_t* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smemAddr(p)));
}
// The same, each matrix transposed on the way (for operands stored with k as the row index).
__device__ __forceinline__ void ldmatrixX4T(uint32_t (&r)[4], const uint16_t* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smemAddr(p)));
}
// x rounded to bf16 (round to nearest even), as the 16-bit pattern stored in a bf16 array.
__device__ __forceinline__ uint16_t toBf16(float x) { return __bfloat16_as_ushort(__float2bfloat16_rn(x)); }
// cp.async (sm_80+): 16 bytes global → shared without passing through registers; the first
// srcBytes (0…16) are copied and the rest of the 16 zero-filled (ragged edges). Copies issued by a
// thread form a group at each cpAsyncCommit(); cpAsyncWait<N>() returns once at most N of the
// thread's groups are still in flight (a __syncthreads() after it publishes them to the block).
// .cg: cached in L2 only, since an operand tile is read once per block.
__device__ __forceinline__ void cpAsync16(void* dst, const void* src, int srcBytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smemAddr(dst)), "l"(src), "r"(srcBytes));
}
__device__ __forceinline__ void cpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
// c (16×8 fp32) += a (16×16 bf16, row) · b (16×8 bf16, col).
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
#else
inline uint32_t bf16Bits(float x) {  // round to nearest even (inputs here are finite)
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return u >> 16;
}
inline float bf16Float(uint32_t b) {
  const uint32_t u = (b & 0xffffu) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}
inline uint32_t packBf16(float lo, float hi) { return bf16Bits(lo) | (bf16Bits(hi) << 16); }
inline float bf16Round(float x) { return bf16Float(bf16Bits(x)); }
inline uint16_t toBf16(float x) { return static_cast<uint16_t>(bf16Bits(x)); }
// cp.async, emulated ASYNCHRONOUSLY: a copy reads its source at issue (as the hardware may) but
// lands in shared memory only when a cpAsyncWait<N>() retires its group, so a kernel that reads a
// stage before waiting for it, or refills a stage another warp may still read, gets wrong data
// here too. Queues are per CUDA thread (emu::sched.cur, the thread's index in its block).
struct EmuCpAsync {
  void* dst;
  unsigned char bytes[16];
  unsigned group;
};
inline std::vector<EmuCpAsync> emuCpQueue[1024];
inline unsigned emuCpGroup[1024];  // the open group's number, per thread
inline void cpAsync16(void* dst, const void* src, int srcBytes) {
  EmuCpAsync c{dst, {}, emuCpGroup[emu::sched.cur]};
  std::memset(c.bytes, 0, 16);
  if (srcBytes > 0) std::memcpy(c.bytes, src, srcBytes);
  emuCpQueue[emu::sched.cur].push_back(c);
}
inline void cpAsyncCommit() { emuCpGroup[emu::sched.cur]++; }
template <int N>
inline void cpAsyncWait() {
  // Groups numbered below (open group − N) must have landed: the newest N committed may wait.
  auto& q = emuCpQueue[emu::sched.cur];
  const unsigned open = emuCpGroup[emu::sched.cur];
  size_t keep = 0;
  for (size_t i = 0; i < q.size(); i++) {
    if (q[i].group + N < open) std::memcpy(q[i].dst, q[i].bytes, 16);
    else q[keep++] = q[i];
  }
  q.resize(keep);
}
// Per warp, per lane: the values a lane contributes to one collective (an address, or a fragment).
alignas(16) inline uint64_t emuX[32][32][8];
inline void ldmatrixEmu(uint32_t (&r)[4], const uint16_t* p, bool trans) {
  uint64_t* mine = emuX[emu::warp][emu::lane];
  mine[0] = reinterpret_cast<uint64_t>(p);
  __syncwarp();
  const int l = emu::lane;
  for (int m = 0; m < 4; m++) {
    uint32_t lo, hi;
    if (!trans) {  // row l/4 of matrix m, elements 2(l%4), 2(l%4)+1
      const uint16_t* row = reinterpret_cast<const uint16_t*>(emuX[emu::warp][m * 8 + l / 4][0]);
      lo = row[2 * (l % 4)];
      hi = row[2 * (l % 4) + 1];
    } else {  // transposed: stored rows 2(l%4), 2(l%4)+1, element l/4
      lo = reinterpret_cast<const uint16_t*>(emuX[emu::warp][m * 8 + 2 * (l % 4)][0])[l / 4];
      hi = reinterpret_cast<const uint16_t*>(emuX[emu::warp][m * 8 + 2 * (l % 4) + 1][0])[l / 4];
    }
    r[m] = lo | (hi << 16);
  }
  __syncwarp();
}
inline void ldmatrixX4(uint32_t (&r)[4], const uint16_t* p) { ldmatrixEmu(r, p, false); }
inline void ldmatrixX4T(uint32_t (&r)[4], const uint16_t* p) { ldmatrixEmu(r, p, true); }
inline void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  uint64_t* mine = emuX[emu::warp][emu::lane];
  for (int i = 0; i < 4; i++) mine[i] = a[i];
  mine[4] = b0;
  mine[5] = b1;
  __syncwarp();
  float A[16][16], B[16][8];
  for (int t = 0; t < 32; t++) {
    const uint64_t* x = emuX[emu::warp][t];
    const int g = t / 4, c = 2 * (t % 4);
    for (int e = 0; e < 2; e++) {
      A[g][c + e] = bf16Float(uint32_t(x[0]) >> (16 * e));
      A[g + 8][c + e] = bf16Float(uint32_t(x[1]) >> (16 * e));
      A[g][c + 8 + e] = bf16Float(uint32_t(x[2]) >> (16 * e));
      A[g + 8][c + 8 + e] = bf16Float(uint32_t(x[3]) >> (16 * e));
      B[c + e][g] = bf16Float(uint32_t(x[4]) >> (16 * e));
      B[c + 8 + e][g] = bf16Float(uint32_t(x[5]) >> (16 * e));
    }
  }
  __syncwarp();
  const int g = emu::lane / 4, cc = 2 * (emu::lane % 4);
  for (int q = 0; q < 4; q++) {
    const int row = g + 8 * (q >> 1), col = cc + (q & 1);
    float s = c[q];
    for (int k = 0; k < 16; k++) s += A[row][k] * B[k][col];
    c[q] = s;
  }
}
#endif

// ---- fragments of whole 16×16 operand blocks from shared memory (bf16, row pitch P elements) ----
// The addressing of the four 8×8 matrices of each ldmatrix.x4 (lane t gives row t % 8 of matrix
// t / 8) in the order the m16n8k16 fragments want them. Used by attention.cu; gemm.cu inlines the
// same addressing so it can issue all of a k-step's loads before its mma.

// A fragment of rows row0…row0+15, k columns k0…k0+15, stored [row][k].
__device__ __forceinline__ void loadA(uint32_t (&a)[4], const uint16_t* X, int P, int row0, int k0, int lane) {
  const int lr = lane & 7, lq = lane >> 3;  // matrices: (r0-7,k0-7) (r8-15,k0-7) (r0-7,k8-15) (r8-15,k8-15)
  ldmatrixX4(a, X + (row0 + lr + 8 * (lq & 1)) * P + k0 + 8 * (lq >> 1));
}
// c0, c1 (the n8 tiles n0 and n0+8) += a · B, with B's 16 columns stored as rows: [n][k].
__device__ __forceinline__ void mmaPairNK(float (&c0)[4], float (&c1)[4], const uint32_t (&a)[4], const uint16_t* X,
                                          int P, int n0, int k0, int lane) {
  const int lr = lane & 7, lq = lane >> 3;  // (n0-7,k0-7) (n0-7,k8-15) (n8-15,k0-7) (n8-15,k8-15)
  uint32_t r[4];
  ldmatrixX4(r, X + (n0 + lr + 8 * (lq >> 1)) * P + k0 + 8 * (lq & 1));
  mma16816(c0, a, r[0], r[1]);
  mma16816(c1, a, r[2], r[3]);
}
// The same with B stored [k][n], transposed on load.
__device__ __forceinline__ void mmaPairKN(float (&c0)[4], float (&c1)[4], const uint32_t (&a)[4], const uint16_t* X,
                                          int P, int k0, int n0, int lane) {
  const int lr = lane & 7, lq = lane >> 3;
  uint32_t r[4];
  ldmatrixX4T(r, X + (k0 + lr + 8 * (lq & 1)) * P + n0 + 8 * (lq >> 1));
  mma16816(c0, a, r[0], r[1]);
  mma16816(c1, a, r[2], r[3]);
}
// The accumulators of two adjacent n8 tiles, rounded to bf16, as the A fragment of one k16 step
// (the C layout of tiles j, j+1 is the A layout of k columns 8j…8j+15): S → P·V without shared memory.
__device__ __forceinline__ void packA(uint32_t (&a)[4], const float (&c0)[4], const float (&c1)[4]) {
  a[0] = packBf16(c0[0], c0[1]);
  a[1] = packBf16(c0[2], c0[3]);
  a[2] = packBf16(c1[0], c1[1]);
  a[3] = packBf16(c1[2], c1[3]);
}

}  // namespace handgrad
