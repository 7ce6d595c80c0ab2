import { describe, expect, it } from 'vitest';
import { heatmap, shade, SHADES } from '../../src/viz/heatmap.js';

describe('terminal heatmap', () => {
  it('maps values to the five shades, light to dark', () => {
    expect([0, 0.25, 0.5, 0.75, 1].map((v) => shade(v, 0, 1))).toEqual([...SHADES]);
    expect(shade(Number.NaN, 0, 1)).toBe('?');
  });

  it('draws labelled rows and columns, two characters per cell', () => {
    const text = heatmap([1, 0, 0, 0, 0.5, 1], 2, 3, ['a', 'bb'], ['x', 'y', 'z'], { min: 0, max: 1, title: 'alignment' });
    expect(text.split('\n')).toEqual([
      'alignment',
      '   x y z',
      'a  ██    ',
      'bb   ▒▒██',
    ]);
  });

  it('rejects too few values', () => {
    expect(() => heatmap([1, 2], 2, 2, [], [])).toThrow(RangeError);
  });
});
