// Several training runs on one chart (`handgrad plot RUN_A RUN_B … --out cmp.svg`): validation
// loss against step, one line with markers per run, and the training loss (downsampled) on a
// second chart. For comparisons such as the MoE model against its dense twin trained on the same
// tokens (same steps, batch and window).
import { basename } from 'node:path';
import type { RunData } from './run.js';
import { downsample } from './run.js';
import { linePlot } from './svg.js';

/** A short label for a run: its folder's name (made unique with a counter when two share one). */
export function runLabels(runs: readonly RunData[]): string[] {
  const seen = new Map<string, number>();
  return runs.map((r) => {
    const b = basename(r.dir.replace(/[\\/]+$/, '')) || r.dir;
    const n = (seen.get(b) ?? 0) + 1;
    seen.set(b, n);
    return n === 1 ? b : `${b} (${n})`;
  });
}

/** [validation-loss chart, training-loss chart] for the runs, as <svg> strings. */
export function compareCharts(runs: readonly RunData[], opts: { width?: number; height?: number; title?: string } = {}): string[] {
  const labels = runLabels(runs);
  const size = { width: opts.width, height: opts.height };
  const val = linePlot({
    ...size, title: opts.title ? `${opts.title}: validation loss` : 'Validation loss', xLabel: 'step', yLabel: 'loss (nats/token)',
    series: runs.map((r, i) => ({
      name: labels[i], markers: true,
      points: r.metrics.filter((m) => typeof m.valLoss === 'number').map((m) => [m.step, m.valLoss!] as [number, number]),
    })),
  });
  const train = linePlot({
    ...size, title: opts.title ? `${opts.title}: training loss` : 'Training loss', xLabel: 'step', yLabel: 'loss (nats/token)',
    series: runs.map((r, i) => ({
      name: labels[i],
      points: downsample(r.metrics.filter((m) => typeof m.trainLoss === 'number').map((m) => [m.step, m.trainLoss] as [number, number]), 300),
    })),
  });
  return [val, train];
}
