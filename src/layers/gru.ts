// GRU layer, stackable, in two conventions (src/layers/recurrent.ts has the shared pattern).
// Both interpolate the same way, h_t = (1−z)⊙n + z⊙h_{t−1} (z = 1 keeps the old state), and
// differ in where the reset gate r acts:
//
// variant 'pytorch' (torch.nn.GRU, and cuDNN): r scales the recurrent product AFTER it,
//   xp = x_t·Wx + bx,  hp = h_{t−1}·Wh + bh            [B,3H], blocks r, z, n
//   r = σ(xp_r + hp_r),  z = σ(xp_z + hp_z),  n = tanh(xp_n + r⊙hp_n)
//   One recurrent gemm per step (all three blocks at once); needs two biases (bh_n sits inside r⊙·).
//
// variant 'paper' (Cho et al. 2014, "Learning Phrase Representations…", eq. 5–8): r acts on the
// state BEFORE the product,
//   r, z = σ(x_t·Wrz + brz + h_{t−1}·Urz)              [B,2H]
//   n    = tanh(x_t·Wn + bn + (r⊙h_{t−1})·Un)           [B,H]
//   Two dependent recurrent gemms per step (r must be known before (r⊙h)·Un), so the weights are
//   kept as separate [·,2H] and [·,H] matrices (gemm writes whole contiguous matrices).
//
// Backward, t = T−1 … 0, dh = dh_t (dy_t + what step t+1 sent back):
//   both:    dn_pre = dh⊙(1−z)⊙(1−n²)   dz_pre = dh⊙(h_{t−1}−n)⊙z(1−z)   dh_{t−1} += dh⊙z
//   pytorch: dr_pre = dn_pre⊙hp_n⊙r(1−r);  dxp = (dr, dz, dn);  dhp = (dr, dz, dn⊙r)
//            dh_{t−1} += dhp·Whᵀ                              (ops.gruCellBackward + one gemm)
//   paper:   d(r⊙h) = dn_pre·Unᵀ;  dr_pre = d(r⊙h)⊙h_{t−1}⊙r(1−r);  dh_{t−1} += d(r⊙h)⊙r
//            dh_{t−1} += (dr, dz)·Urzᵀ                       (two fused ops + two gemms)
// then once over all steps: the weight gradients as Xᵀ·dP and H_prevᵀ·dP (paper: (R⊙H)ᵀ·dN for
// Un), the biases as column sums, and dX = dP·Wxᵀ.
//
// Init as PyTorch's nn.GRU: every weight U(±1/√H); biases 0.
import type { Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { makeParam, type Param } from './param.js';
import { zeros } from './init.js';
import {
  RecurrentLayerBase, RecurrentProduct, RecurrentStack, SeqBuffer, projectRows, projectRowsBackward, stackLayers,
} from './recurrent.js';

export type GruVariant = 'pytorch' | 'paper';
export const GRU_VARIANTS: readonly GruVariant[] = ['pytorch', 'paper'];

/** The PyTorch-convention GRU layer (reset gate after the recurrent product). */
export class GruLayer extends RecurrentLayerBase {
  readonly Wx: Param;
  readonly bx: Param;
  readonly Wh: Param;
  readonly bh: Param;
  readonly params: Param[];
  /** xp [T,B,3H] (pre-activations, then r, z, n), hp [T,B,3H] (hs and dy: RecurrentLayerBase). */
  private readonly xp: SeqBuffer;
  private readonly hp: SeqBuffer;
  /** dxp, dhp [T,B,3H], dh0 scratch [B,H]. */
  private readonly dxp: SeqBuffer;
  private readonly dhp: SeqBuffer;
  private readonly scratch: SeqBuffer;
  /** The per-step products h_{t−1}·Wh (forward) and dhp_t·Whᵀ (backward), Wh packed once per pass. */
  private readonly hWh: RecurrentProduct;
  private readonly dhpWhT: RecurrentProduct;

  constructor(ops: Ops, name: string, inDim: number, hidden: number, rng: Rng) {
    super(ops, 'gru', inDim, hidden);
    const H = hidden;
    this.Wx = this.weight(`${name}.Wx`, inDim, 3 * H, rng);
    this.bx = makeParam(ops, `${name}.bx`, [3 * H], zeros, rng);
    this.Wh = this.weight(`${name}.Wh`, H, 3 * H, rng);
    this.bh = makeParam(ops, `${name}.bh`, [3 * H], zeros, rng);
    this.params = [this.Wx, this.bx, this.Wh, this.bh];
    this.xp = new SeqBuffer(ops, 3 * H);
    this.hp = new SeqBuffer(ops, 3 * H);
    this.dxp = new SeqBuffer(ops, 3 * H);
    this.dhp = new SeqBuffer(ops, 3 * H);
    this.scratch = new SeqBuffer(ops, H);
    this.hWh = new RecurrentProduct(ops, this.Wh, false, H, 3 * H);
    this.dhpWhT = new RecurrentProduct(ops, this.Wh, true, 3 * H, H);
  }

  /** x [T,B,I] → y [T,B,H]. */
  forward(x: Tensor, T: number, B: number, h0: Tensor, _c0: Tensor | null, hT: Tensor): Tensor {
    const { ops, xp, hp, hs } = this, H = this.hidden;
    xp.prepare(T, B);
    hp.prepare(T, B);
    hs.prepare(T + 1, B);
    this.x = x;
    projectRows(ops, x, this.Wx, this.bx, T * B, this.inDim, 3 * H, xp.all); // XP = X·Wx + bx
    ops.copy(h0, hs.at(0));
    this.hWh.begin(T);
    for (let t = 0; t < T; t++) {
      this.hWh.run(B, hs.at(t), 0, hp.at(t)); // hp_t = h_{t−1}·Wh + bh
      ops.addBias(hp.at(t), this.bh.value, B, 3 * H);
      ops.gruCell(xp.at(t), hp.at(t), hs.at(t), hs.at(t + 1), B, H);
    }
    ops.copy(hs.at(T), hT);
    return hs.tail;
  }

  /** dy (in outputGrad) → dx [T,B,I], dh0 [B,H]; accumulates dWx, dbx, dWh, dbh. */
  backward(dx: Tensor | null, T: number, B: number, dh0: Tensor | null): void {
    const { ops, xp, hp, hs, dxp, dhp, dy } = this, H = this.hidden;
    dxp.prepare(T, B);
    dhp.prepare(T, B);
    dy.prepare(T, B);
    this.scratch.prepare(1, B);
    this.dhpWhT.begin(dh0 ? T : T - 1);
    for (let t = T - 1; t >= 0; t--) {
      // dh_{t−1} collects z⊙dh_t (in the cell op) and dhp_t·Whᵀ; at t = 0 it is dh0 (or thrown away).
      const dPrev = t > 0 ? dy.at(t - 1) : (dh0 ?? this.scratch.at(0));
      if (t === 0) ops.fill(dPrev, 0);
      ops.gruCellBackward(xp.at(t), hp.at(t), hs.at(t), dy.at(t), dxp.at(t), dhp.at(t), dPrev, B, H);
      if (t > 0 || dh0) this.dhpWhT.run(B, dhp.at(t), 1, dPrev);
    }
    const n = T * B;
    projectRowsBackward(ops, this.x!, dxp.all, this.Wx, this.bx, n, this.inDim, 3 * H, dx); // dWx += Xᵀ·dXP, dbx, dX = dXP·Wxᵀ
    projectRowsBackward(ops, hs.all, dhp.all, this.Wh, this.bh, n, H, 3 * H, null); // dWh += H_prevᵀ·dHP, dbh
  }
}

/** The paper-convention GRU layer (Cho et al. 2014: reset gate before the recurrent product). */
export class GruPaperLayer extends RecurrentLayerBase {
  readonly Wrz: Param;
  readonly brz: Param;
  readonly Wn: Param;
  readonly bn: Param;
  readonly Urz: Param;
  readonly Un: Param;
  readonly params: Param[];
  /** xrz [T,B,2H] (pre-activations, then r, z), xn [T,B,H] (then n), rh [T,B,H] = r⊙h_{t−1} (hs and dy: RecurrentLayerBase). */
  private readonly xrz: SeqBuffer;
  private readonly xn: SeqBuffer;
  private readonly rh: SeqBuffer;
  /** hrz [B,2H] = h_{t−1}·Urz (one step's scratch). */
  private readonly hrz: SeqBuffer;
  /** drz [T,B,2H], dn [T,B,H], drh [B,H] scratch, dh0 scratch [B,H]. */
  private readonly drz: SeqBuffer;
  private readonly dn: SeqBuffer;
  private readonly drh: SeqBuffer;
  private readonly scratch: SeqBuffer;
  /** The per-step products, each weight packed once per pass: h_{t−1}·Urz and (r⊙h_{t−1})·Un
   *  (forward), dn_t·Unᵀ and drz_t·Urzᵀ (backward). */
  private readonly hUrz: RecurrentProduct;
  private readonly rhUn: RecurrentProduct;
  private readonly dnUnT: RecurrentProduct;
  private readonly drzUrzT: RecurrentProduct;

  constructor(ops: Ops, name: string, inDim: number, hidden: number, rng: Rng) {
    super(ops, 'gru', inDim, hidden);
    const H = hidden;
    this.Wrz = this.weight(`${name}.Wrz`, inDim, 2 * H, rng);
    this.brz = makeParam(ops, `${name}.brz`, [2 * H], zeros, rng);
    this.Wn = this.weight(`${name}.Wn`, inDim, H, rng);
    this.bn = makeParam(ops, `${name}.bn`, [H], zeros, rng);
    this.Urz = this.weight(`${name}.Urz`, H, 2 * H, rng);
    this.Un = this.weight(`${name}.Un`, H, H, rng);
    this.params = [this.Wrz, this.brz, this.Wn, this.bn, this.Urz, this.Un];
    this.xrz = new SeqBuffer(ops, 2 * H);
    this.xn = new SeqBuffer(ops, H);
    this.rh = new SeqBuffer(ops, H);
    this.hrz = new SeqBuffer(ops, 2 * H);
    this.drz = new SeqBuffer(ops, 2 * H);
    this.dn = new SeqBuffer(ops, H);
    this.drh = new SeqBuffer(ops, H);
    this.scratch = new SeqBuffer(ops, H);
    this.hUrz = new RecurrentProduct(ops, this.Urz, false, H, 2 * H);
    this.rhUn = new RecurrentProduct(ops, this.Un, false, H, H);
    this.dnUnT = new RecurrentProduct(ops, this.Un, true, H, H);
    this.drzUrzT = new RecurrentProduct(ops, this.Urz, true, 2 * H, H);
  }

  /** x [T,B,I] → y [T,B,H]. */
  forward(x: Tensor, T: number, B: number, h0: Tensor, _c0: Tensor | null, hT: Tensor): Tensor {
    const { ops, xrz, xn, rh, hs } = this, H = this.hidden, n = T * B;
    xrz.prepare(T, B);
    xn.prepare(T, B);
    rh.prepare(T, B);
    hs.prepare(T + 1, B);
    this.hrz.prepare(1, B);
    const hrz = this.hrz.at(0);
    this.x = x;
    projectRows(ops, x, this.Wrz, this.brz, n, this.inDim, 2 * H, xrz.all); // XRZ = X·Wrz + brz
    projectRows(ops, x, this.Wn, this.bn, n, this.inDim, H, xn.all); // XN = X·Wn + bn
    ops.copy(h0, hs.at(0));
    this.hUrz.begin(T);
    this.rhUn.begin(T);
    for (let t = 0; t < T; t++) {
      this.hUrz.run(B, hs.at(t), 0, hrz); // h_{t−1}·Urz
      ops.gruPaperGates(xrz.at(t), hrz, hs.at(t), rh.at(t), B, H); // r, z; rh = r⊙h_{t−1}
      this.rhUn.run(B, rh.at(t), 1, xn.at(t)); // xn_t += (r⊙h_{t−1})·Un
      ops.gruPaperOutput(xrz.at(t), xn.at(t), hs.at(t), hs.at(t + 1), B, H); // n, h_t
    }
    ops.copy(hs.at(T), hT);
    return hs.tail;
  }

  /** dy (in outputGrad) → dx [T,B,I], dh0 [B,H]; accumulates every parameter gradient. */
  backward(dx: Tensor | null, T: number, B: number, dh0: Tensor | null): void {
    const { ops, xrz, xn, rh, hs, drz, dn, dy } = this, H = this.hidden;
    drz.prepare(T, B);
    dn.prepare(T, B);
    dy.prepare(T, B);
    this.drh.prepare(1, B);
    this.scratch.prepare(1, B);
    const drh = this.drh.at(0);
    this.dnUnT.begin(T);
    this.drzUrzT.begin(dh0 ? T : T - 1);
    for (let t = T - 1; t >= 0; t--) {
      const dPrev = t > 0 ? dy.at(t - 1) : (dh0 ?? this.scratch.at(0));
      if (t === 0) ops.fill(dPrev, 0);
      ops.gruPaperOutputBackward(xrz.at(t), xn.at(t), hs.at(t), dy.at(t), drz.at(t), dn.at(t), dPrev, B, H); // dz, dn; += z⊙dh
      this.dnUnT.run(B, dn.at(t), 0, drh); // d(r⊙h) = dn·Unᵀ
      ops.gruPaperGatesBackward(xrz.at(t), hs.at(t), drh, drz.at(t), dPrev, B, H); // dr; += r⊙d(r⊙h)
      if (t > 0 || dh0) this.drzUrzT.run(B, drz.at(t), 1, dPrev); // += drz·Urzᵀ
    }
    const n = T * B;
    projectRowsBackward(ops, this.x!, drz.all, this.Wrz, this.brz, n, this.inDim, 2 * H, dx); // dWrz += Xᵀ·dRZ, dbrz, dX = dRZ·Wrzᵀ
    projectRowsBackward(ops, this.x!, dn.all, this.Wn, this.bn, n, this.inDim, H, dx, true); // dWn += Xᵀ·dN, dbn, dX += dN·Wnᵀ
    projectRowsBackward(ops, hs.all, drz.all, this.Urz, null, n, H, 2 * H, null); // dUrz += H_prevᵀ·dRZ
    projectRowsBackward(ops, rh.all, dn.all, this.Un, null, n, H, H, null); // dUn += (R⊙H_prev)ᵀ·dN
  }
}

export interface GruOptions {
  /** Stacked layers (default 1). */
  layers?: number;
  /** Where the reset gate acts (default 'pytorch'); see the top of this file. */
  variant?: GruVariant;
}

/** A stack of GRU layers: x [T,B,I] → y [T,B,H]. */
export class GRU extends RecurrentStack {
  readonly variant: GruVariant;

  constructor(ops: Ops, name: string, inDim: number, hidden: number, rng: Rng, opts: GruOptions = {}) {
    const variant = opts.variant ?? 'pytorch';
    if (!GRU_VARIANTS.includes(variant)) throw new RangeError(`gru: variant must be one of ${GRU_VARIANTS.join(', ')}, got '${variant}'`);
    const Layer = variant === 'pytorch' ? GruLayer : GruPaperLayer;
    super(ops, stackLayers('gru', name, inDim, hidden, opts.layers, (n, i) => new Layer(ops, n, i, hidden, rng)), false);
    this.variant = variant;
  }
}
