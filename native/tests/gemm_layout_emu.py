# Run: python3 native/tests/gemm_layout_emu.py (CPU only, ~3 s). Checks, for every transposition and
# both BK, that the loader writes each shared element exactly once, that every ldmatrix phase is
# 16-byte aligned and bank-conflict-free, and that the fragments reproduce A·B exactly.
# Host emulation of gemm.cu's tile mapping (loader, shared layout, ldmatrix lanes, mma fragments)
# using the PTX-specified semantics of ldmatrix / ldmatrix.trans / mma.m16n8k16.
import numpy as np
BM=BN=128; THREADS=256; WM=64; WN=32; MI=4; NI=4; PAD=8
def run(TA, TB, BK):
    rng=np.random.default_rng(1)
    M=N=128; K=BK
    A=rng.integers(-4,5,(M,K)).astype(np.float64)  # op(A) m×k
    B=rng.integers(-4,5,(K,N)).astype(np.float64)  # op(B) k×n
    stage=max(BM*(BK+PAD), BK*(BM+PAD))
    LOADS=BM*BK//(4*THREADS)
    def fill(KCONTIG, get):  # get(r, kk) element of the operand (r = m or n index)
        s=np.full(stage, np.nan)
        for tid in range(THREADS):
            for i in range(LOADS):
                c=tid+i*THREADS
                if KCONTIG:
                    r=c//(BK//4); kk=(c%(BK//4))*4
                    vals=[get(r,kk+e) for e in range(4)]
                    off=(c//(BK//4))*(BK+PAD)+(c%(BK//4))*4
                else:
                    kk=c//(BM//4); r=(c%(BM//4))*4
                    vals=[get(r+e,kk) for e in range(4)]
                    off=(c//(BM//4))*(BM+PAD)+(c%(BM//4))*4
                for e in range(4):
                    assert np.isnan(s[off+e]); s[off+e]=vals[e]
        return s
    sA=fill(not TA, lambda r,kk: A[r,kk])
    sB=fill(TB, lambda r,kk: B[kk,r])
    def ldm(s, addrs, trans):  # addrs: 32 element offsets; returns regs[lane][q] = (lo, hi)
        for q in range(4):  # each 8x8 matrix is one shared-memory phase: 8 rows of 16 bytes
            rows=addrs[8*q:8*q+8]
            assert all((2*a) % 16 == 0 for a in rows), "ldmatrix row address not 16-byte aligned"
            assert len({(2*a//16) % 8 for a in rows}) == 8, "ldmatrix bank conflict"
        out=[[None]*4 for _ in range(32)]
        for l in range(32):
            for q in range(4):
                if not trans:
                    base=addrs[8*q + l//4]; out[l][q]=(s[base+2*(l%4)], s[base+2*(l%4)+1])
                else:
                    out[l][q]=(s[addrs[8*q+2*(l%4)] + l//4], s[addrs[8*q+2*(l%4)+1] + l//4])
        return out
    C=np.zeros((M,N))
    for warp in range(8):
        wm=(warp>>2)*WM; wn=(warp&3)*WN
        acc=np.zeros((32,MI,NI,4))
        for ks in range(0,BK,16):
            af=[None]*MI; bf=[[None,None] for _ in range(NI)]
            for i in range(MI):
                mb=wm+i*16; addrs=[]
                for lane in range(32):
                    lr=lane&7; lq=lane>>3
                    if not TA:
                        row=mb+lr+8*(lq&1); col=ks+8*(lq>>1); addrs.append(row*(BK+PAD)+col)
                    else:
                        krow=ks+lr+8*(lq>>1); col=mb+8*(lq&1); addrs.append(krow*(BM+PAD)+col)
                af[i]=ldm(sA, addrs, TA)
            for j in range(0,NI,2):
                nb=wn+j*8; addrs=[]
                for lane in range(32):
                    lr=lane&7; lq=lane>>3
                    if TB:
                        row=nb+lr+8*(lq>>1); col=ks+8*(lq&1); addrs.append(row*(BK+PAD)+col)
                    else:
                        krow=ks+lr+8*(lq&1); col=nb+8*(lq>>1); addrs.append(krow*(BN+PAD)+col)
                r=ldm(sB, addrs, not TB)
                for l in range(32):
                    bf[j][0]=bf[j][0] or [None]*32; bf[j][1]=bf[j][1] or [None]*32
                    bf[j+1][0]=bf[j+1][0] or [None]*32; bf[j+1][1]=bf[j+1][1] or [None]*32
                    bf[j][0][l]=r[l][0]; bf[j][1][l]=r[l][1]; bf[j+1][0][l]=r[l][2]; bf[j+1][1][l]=r[l][3]
            for i in range(MI):
                for j in range(NI):
                    # reconstruct the 16x16 A and 16x8 B tiles from fragments per PTX layout
                    At=np.full((16,16),np.nan); Bt=np.full((16,8),np.nan)
                    for l in range(32):
                        g=l>>2; t=l&3
                        a=af[i][l]
                        for h in range(2):
                            At[g,2*t+h]=a[0][h]; At[g+8,2*t+h]=a[1][h]; At[g,2*t+8+h]=a[2][h]; At[g+8,2*t+8+h]=a[3][h]
                            Bt[2*t+h,g]=bf[j][0][l][h]; Bt[2*t+8+h,g]=bf[j][1][l][h]
                    assert not np.isnan(At).any() and not np.isnan(Bt).any()
                    P=At@Bt
                    for l in range(32):
                        g=l>>2; t=l&3
                        for h2 in range(2):
                            for h in range(2):
                                acc[l,i,j,2*h2+h]+=P[g+8*h2,2*t+h]
        for l in range(32):
            g=l>>2; t=l&3
            for i in range(MI):
                for h2 in range(2):
                    row=wm+i*16+g+8*h2
                    for j in range(NI):
                        col=wn+j*8+2*t
                        C[row,col]+=acc[l,i,j,2*h2]; C[row,col+1]+=acc[l,i,j,2*h2+1]
    ok=np.array_equal(C, A@B)
    print(f"TA={TA} TB={TB} BK={BK}: {'OK' if ok else 'MISMATCH'}")
    return ok
allok=all(run(ta,tb,bk) for bk in (32,64) for ta in (False,True) for tb in (False,True))
print("ALL OK" if allok else "FAILED")
