// What the recurrent layers share (src/layers/recurrent.ts): the stack's layer list and the size
// checks every layer and stack makes.
import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { GRU } from '../../src/layers/gru.js';
import { LSTM, LstmLayer } from '../../src/layers/lstm.js';
import { RNN } from '../../src/layers/rnn.js';
import { Rng } from '../../src/util/rng.js';

const ops = new ReferenceOps('f64');

describe('recurrent stacks and layers', () => {
  it('stack layer 0 on the input width and every other layer on H, named <name>.<l>', () => {
    const s = new LSTM(ops, 'enc', 3, 5, new Rng(1), { layers: 3 });
    expect(s.layers.map((l) => [l.inDim, l.hidden])).toEqual([[3, 5], [5, 5], [5, 5]]);
    expect(s.layers.every((l) => l instanceof LstmLayer)).toBe(true);
    expect(s.params.map((p) => p.name).slice(0, 4)).toEqual(['enc.0.Wx', 'enc.0.Wh', 'enc.0.b', 'enc.1.Wx']);
    expect([s.inDim, s.hidden, s.depth]).toEqual([3, 5, 3]);
  });

  it('refuses a layer count that is not an integer ≥ 1, naming the kind', () => {
    expect(() => new RNN(ops, 'r', 2, 3, new Rng(1), { layers: 0 })).toThrow('rnn: layers must be an integer ≥ 1, got 0');
    expect(() => new LSTM(ops, 'l', 2, 3, new Rng(1), { layers: 1.5 })).toThrow('lstm: layers must be an integer ≥ 1, got 1.5');
    expect(() => new GRU(ops, 'g', 2, 3, new Rng(1), { layers: -1 })).toThrow('gru: layers must be');
  });

  it('refuses sizes that are not integers ≥ 1', () => {
    expect(() => new RNN(ops, 'r', 0, 3, new Rng(1))).toThrow('rnn: input and hidden sizes must be integers ≥ 1, got 0 and 3');
    expect(() => new GRU(ops, 'g', 2, 2.5, new Rng(1), { variant: 'paper' })).toThrow('gru: input and hidden sizes');
  });

  it('initialises every weight U(±1/√H) and the biases as documented', () => {
    const H = 4, s = new GRU(ops, 'g', 3, H, new Rng(2));
    for (const p of s.params) {
      const d = Array.from(p.value.data);
      if (p.shape.length === 1) expect(d.every((v) => v === 0), p.name).toBe(true);
      else expect(d.every((v) => Math.abs(v) <= 1 / Math.sqrt(H)) && d.some((v) => v !== 0), p.name).toBe(true);
    }
  });
});
