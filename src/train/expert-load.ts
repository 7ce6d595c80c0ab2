// Expert-load statistics of Mixture-of-Experts models for the metrics log: the share of routed
// tokens each expert of each layer received over an interval of training steps, the fraction of
// routed (token, expert) assignments dropped by the capacity limit, and the fraction of the
// all-experts multiply-adds the experts actually executed. Duck-typed: any SequenceModel with an
// `expertLoad()` method takes part (src/models/moe-transformer.ts); `stats()` adds the rest.
//
// expertLoad() counts since its previous call, so an interval is simply "call it at the start,
// call it at the end"; stats() is cumulative, so the tracker keeps the previous totals and logs
// differences. Called only at validation/log steps, never per step, so the arrays it builds are
// no allocation in the hot loop, and the read of the model's counters (they accumulate on the
// backend: on a GPU the only synchronisation they cost) happens once per interval, not per step.

/** What a MoE model's stats() returns (cumulative since its resetStats()). */
export interface MoeStats {
  layers: { tokensPerExpert: number[]; routedPerExpert: number[]; dropped: number }[];
  expertMacs: number;
  allExpertsMacs: number;
  auxLoss: number;
  tokens: number;
}

/** The part of a MoE model the tracker reads. */
export interface ExpertLoadSource {
  /** Share of tokens per expert per layer since the previous call (each row sums to 1). */
  expertLoad(): number[][];
  stats?(): MoeStats;
}

/** The model as an ExpertLoadSource when it has an expertLoad() method, else null. */
export function expertLoadOf(model: object): ExpertLoadSource | null {
  return typeof (model as Partial<ExpertLoadSource>).expertLoad === 'function' ? (model as ExpertLoadSource) : null;
}

/** The fields added to a metrics.jsonl line. */
export interface ExpertLoadRecord {
  /** expertLoad[layer][expert]: share of the layer's routed tokens, rounded to 4 decimals. */
  expertLoad: number[][];
  /** Dropped ÷ routed (token, expert) assignments in the interval (when the model has stats()). */
  droppedFraction?: number;
  /** Expert multiply-adds executed ÷ what running every expert on every token would cost, in the interval. */
  expertComputeFraction?: number;
}

const round4 = (v: number) => Math.round(v * 1e4) / 1e4;

function totals(s: MoeStats): { routed: number; dropped: number; macs: number; allMacs: number } {
  let routed = 0, dropped = 0;
  for (const l of s.layers) {
    for (const r of l.routedPerExpert) routed += r;
    dropped += l.dropped;
  }
  return { routed, dropped, macs: s.expertMacs, allMacs: s.allExpertsMacs };
}

export class ExpertLoadTracker {
  private last: ReturnType<typeof totals> | null = null;
  /** false once a layer is seen with a single expert (a dense twin): there is no load to report. */
  private routed = true;

  constructor(private readonly source: ExpertLoadSource) {}

  /** Starts a new interval, forgetting whatever was routed since the previous one (e.g. validation passes). */
  discard(): void {
    const load = this.source.expertLoad();
    if (load.some((row) => row.length <= 1)) this.routed = false;
    if (this.source.stats) this.last = totals(this.source.stats());
  }

  /**
   * The interval since the previous take() or discard(), and starts the next one; null for a
   * model whose layers have one "expert" each (moe-dense: nothing is routed).
   */
  take(): ExpertLoadRecord | null {
    const raw = this.source.expertLoad();
    if (!this.routed || raw.some((row) => row.length <= 1)) { this.routed = false; return null; }
    const load = raw.map((row) => row.map(round4));
    const rec: ExpertLoadRecord = { expertLoad: load };
    if (this.source.stats) {
      const now = totals(this.source.stats());
      const prev = this.last ?? { routed: 0, dropped: 0, macs: 0, allMacs: 0 };
      const routed = now.routed - prev.routed, macs = now.allMacs - prev.allMacs;
      if (routed > 0) rec.droppedFraction = round4((now.dropped - prev.dropped) / routed);
      if (macs > 0) rec.expertComputeFraction = round4((now.macs - prev.macs) / macs);
      this.last = now;
    }
    return rec;
  }
}
