// Weight initialisation. For a weight of shape [fanIn, fanOut] (our layout: y = x·W):
//   xavier: U(±√(6/(fanIn+fanOut)))  keeps activation variance steady through tanh/sigmoid layers
//           (Glorot & Bengio 2010);
//   he:     N(0, 2/fanIn)             keeps it steady through ReLU-family layers (He et al. 2015);
//   normal: N(0, std²), uniform: U(±a), zeros, ones, constant.
import type { Rng } from '../util/rng.js';

export type Init =
  | { kind: 'xavier' }
  | { kind: 'he' }
  | { kind: 'normal'; std: number }
  | { kind: 'uniform'; a: number }
  | { kind: 'constant'; value: number };

export const zeros: Init = { kind: 'constant', value: 0 };
export const ones: Init = { kind: 'constant', value: 1 };

/** Values for a parameter of the given shape; fanIn = shape[0], fanOut = the rest. */
export function initValues(init: Init, shape: number[], rng: Rng): Float64Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(size);
  const fanIn = shape[0] ?? 1;
  const fanOut = shape.length > 1 ? size / fanIn : fanIn;
  switch (init.kind) {
    case 'xavier': {
      const a = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < size; i++) out[i] = rng.uniform(-a, a);
      break;
    }
    case 'he':
      rng.fillNormal(out, 0, Math.sqrt(2 / fanIn));
      break;
    case 'normal':
      rng.fillNormal(out, 0, init.std);
      break;
    case 'uniform':
      for (let i = 0; i < size; i++) out[i] = rng.uniform(-init.a, init.a);
      break;
    case 'constant':
      out.fill(init.value);
      break;
  }
  return out;
}
