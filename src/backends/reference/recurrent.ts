// Reference recurrent cells (Ops.lstmCell … Ops.gruPaperGatesBackward; the same family as
// assembly/recurrent.ts): the fused per-time-step LSTM and GRU cells, on raw typed arrays (the
// conventions of every reference family file: ./index.ts). Row b, unit j of a gate block k lives at
// [b·(blocks·H) + k·H + j].
import type { FloatArray } from '../../ops/types.js';
import { activate } from './elementwise.js';

function sigmoid(x: number): number {
  return activate('sigmoid', x);
}

export function lstmCell(g: FloatArray, cp: FloatArray, cd: FloatArray, tc: FloatArray, hd: FloatArray,
  B: number, H: number): void {
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < H; j++) {
      const o4 = b * 4 * H + j, o = b * H + j;
      const ig = sigmoid(g[o4]), fg = sigmoid(g[o4 + H]), gg = Math.tanh(g[o4 + 2 * H]), og = sigmoid(g[o4 + 3 * H]);
      g[o4] = ig; g[o4 + H] = fg; g[o4 + 2 * H] = gg; g[o4 + 3 * H] = og;
      cd[o] = fg * cp[o] + ig * gg;
      tc[o] = Math.tanh(cd[o]);
      hd[o] = og * tc[o];
    }
  }
}

export function lstmCellBackward(g: FloatArray, cp: FloatArray, tc: FloatArray, dhd: FloatArray,
  dcd: FloatArray, dg: FloatArray, B: number, H: number): void {
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < H; j++) {
      const o4 = b * 4 * H + j, o = b * H + j;
      const ig = g[o4], fg = g[o4 + H], gg = g[o4 + 2 * H], og = g[o4 + 3 * H];
      // c = f⊙cPrev + i⊙g and h = o⊙tanh(c): dc collects the path through h and the one from t+1.
      const dct = dcd[o] + dhd[o] * og * (1 - tc[o] * tc[o]);
      dg[o4] = dct * gg * ig * (1 - ig);
      dg[o4 + H] = dct * cp[o] * fg * (1 - fg);
      dg[o4 + 2 * H] = dct * ig * (1 - gg * gg);
      dg[o4 + 3 * H] = dhd[o] * tc[o] * og * (1 - og);
      dcd[o] = dct * fg;
    }
  }
}

export function gruCell(x: FloatArray, p: FloatArray, hp0: FloatArray, hd: FloatArray, B: number, H: number): void {
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < H; j++) {
      const o3 = b * 3 * H + j, o = b * H + j;
      const r = sigmoid(x[o3] + p[o3]);
      const z = sigmoid(x[o3 + H] + p[o3 + H]);
      const n = Math.tanh(x[o3 + 2 * H] + r * p[o3 + 2 * H]);
      x[o3] = r; x[o3 + H] = z; x[o3 + 2 * H] = n;
      hd[o] = (1 - z) * n + z * hp0[o];
    }
  }
}

export function gruCellBackward(g: FloatArray, p: FloatArray, hp0: FloatArray, dhd: FloatArray,
  dx: FloatArray, dp: FloatArray, dhp0: FloatArray, B: number, H: number): void {
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < H; j++) {
      const o3 = b * 3 * H + j, o = b * H + j;
      const r = g[o3], z = g[o3 + H], n = g[o3 + 2 * H], d = dhd[o];
      const dn = d * (1 - z) * (1 - n * n); // through n = tanh(xp_n + r⊙hp_n)
      const dz = d * (hp0[o] - n) * z * (1 - z);
      const dr = dn * p[o3 + 2 * H] * r * (1 - r);
      dx[o3] = dr; dx[o3 + H] = dz; dx[o3 + 2 * H] = dn;
      dp[o3] = dr; dp[o3 + H] = dz; dp[o3 + 2 * H] = dn * r;
      dhp0[o] += d * z;
    }
  }
}

export function gruPaperGates(x: FloatArray, p: FloatArray, hp0: FloatArray, rhd: FloatArray, B: number,
  H: number): void {
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < H; j++) {
      const o2 = b * 2 * H + j, o = b * H + j;
      const r = sigmoid(x[o2] + p[o2]);
      x[o2] = r;
      x[o2 + H] = sigmoid(x[o2 + H] + p[o2 + H]);
      rhd[o] = r * hp0[o];
    }
  }
}

export function gruPaperOutput(g: FloatArray, x: FloatArray, hp0: FloatArray, hd: FloatArray, B: number,
  H: number): void {
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < H; j++) {
      const o = b * H + j, z = g[b * 2 * H + H + j];
      const n = Math.tanh(x[o]);
      x[o] = n;
      hd[o] = (1 - z) * n + z * hp0[o];
    }
  }
}

export function gruPaperOutputBackward(g: FloatArray, nd: FloatArray, hp0: FloatArray, dhd: FloatArray,
  dg: FloatArray, dnd: FloatArray, dhp0: FloatArray, B: number, H: number): void {
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < H; j++) {
      const o = b * H + j, oz = b * 2 * H + H + j;
      const z = g[oz], nn = nd[o], d = dhd[o];
      dg[oz] = d * (hp0[o] - nn) * z * (1 - z);
      dnd[o] = d * (1 - z) * (1 - nn * nn);
      dhp0[o] += d * z;
    }
  }
}

export function gruPaperGatesBackward(g: FloatArray, hp0: FloatArray, d: FloatArray, dg: FloatArray,
  dhp0: FloatArray, B: number, H: number): void {
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < H; j++) {
      const o = b * H + j, or = b * 2 * H + j;
      const r = g[or];
      dg[or] = d[o] * hp0[o] * r * (1 - r);
      dhp0[o] += d[o] * r;
    }
  }
}
