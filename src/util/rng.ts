// A seeded pseudo-random generator: the only source of randomness in handgrad, so that a run is
// reproducible from --seed alone (weight init, data shuffling, dropout, sampling, gradient-check
// sampling). Never call Math.random() elsewhere.
//
// Core: mulberry32 (a 32-bit state, one multiply-xorshift round per draw). It is small, fast, and
// passes the statistical tests that matter for initialisation and shuffling; it is not for
// cryptography. The state is one 32-bit integer plus Box–Muller's spare normal, so a checkpoint
// can save and restore it exactly (getState/setState).

/** Everything needed to resume a generator exactly; plain numbers, JSON-serialisable. */
export interface RngState {
  /** The mulberry32 state, an unsigned 32-bit integer. */
  s: number;
  /** Box–Muller draws normals in pairs; the unused second one waits here (null: none waiting). */
  spare: number | null;
}

export class Rng {
  private s: number;
  private spare: number | null = null;

  /** Any finite number is accepted as a seed; it is reduced to 32 bits. */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`Rng: seed must be a finite number, got ${seed}`);
    // Fractional seeds (rare, but e.g. from a parsed float) still mix in their fraction.
    this.s = (Math.floor(seed) ^ Math.floor((seed % 1) * 0x100000000)) >>> 0;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  }

  /** Uniform in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  /** Normal(mean, std²) by Box–Muller; the second value of each pair is kept for the next call. */
  normal(mean = 0, std = 1): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return mean + std * z;
    }
    const u1 = 1 - this.next(); // in (0, 1]: log(0) never happens
    const u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return mean + std * r * Math.cos(2 * Math.PI * u2);
  }

  /** A uniform integer in [lo, hi) (hi exclusive, like a range). */
  int(lo: number, hi: number): number {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi <= lo) {
      throw new RangeError(`Rng.int: need integers lo < hi, got [${lo}, ${hi})`);
    }
    return lo + Math.floor(this.next() * (hi - lo));
  }

  /** Shuffles `a` in place (Fisher–Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: any }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** Fills `out` with Normal(mean, std²) draws (e.g. `rng.fillNormal(w.data, 0, 0.02)`). */
  fillNormal(out: { length: number; [i: number]: number }, mean = 0, std = 1): void {
    for (let i = 0; i < out.length; i++) out[i] = this.normal(mean, std);
  }

  /** Fills `out` with Uniform[lo, hi) draws. */
  fillUniform(out: { length: number; [i: number]: number }, lo = 0, hi = 1): void {
    for (let i = 0; i < out.length; i++) out[i] = this.uniform(lo, hi);
  }

  /**
   * An independent generator derived from this one's next draw, e.g. one stream for data order and
   * another for dropout, so that adding a dropout layer does not change the data order.
   */
  fork(): Rng {
    return new Rng(Math.floor(this.next() * 0x100000000) ^ 0x9e3779b9);
  }

  getState(): RngState {
    return { s: this.s, spare: this.spare };
  }

  setState(state: RngState): void {
    this.s = state.s >>> 0;
    this.spare = state.spare;
  }
}

/** A 32-bit FNV-1a hash of a string: derives a stable per-name seed (e.g. one per gradient check). */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
