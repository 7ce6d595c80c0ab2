// The CUDA addon is optional: its loader must answer, never throw, whatever is installed.
import { describe, expect, it } from 'vitest';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cudaStatus } from '../../src/backends/cuda/index.js';

describe('CUDA addon loader', () => {
  it('reports a missing addon as unavailable with the build command', () => {
    const s = cudaStatus('/nonexistent/handgrad.node');
    expect(s).toEqual({ available: false, reason: 'CUDA addon not built (npm run build:cuda)', devices: [] });
  });

  it('reports a corrupt addon as unavailable instead of throwing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'handgrad-cuda-'));
    const bogus = join(dir, 'handgrad.node');
    writeFileSync(bogus, 'not a shared object');
    const s = cudaStatus(bogus);
    expect(s.available).toBe(false);
    expect(s.reason).toMatch(/failed to load/);
  });

  it('answers for the real build location (built or not, GPU or not)', () => {
    const s = cudaStatus();
    expect(typeof s.available).toBe('boolean');
    expect(s.reason.length).toBeGreaterThan(0);
    if (s.available) expect(s.devices.length).toBeGreaterThan(0);
    else expect(s.devices).toEqual([]);
  });
});
