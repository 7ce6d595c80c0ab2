// A training run folder as plots: reads <run>/metrics.jsonl (written by the trainer) or, for a
// run from before the metrics log, the loss history in its checkpoint, and draws the loss
// (train and validation), learning-rate and gradient-norm charts with src/viz/svg.ts.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readMetrics, METRICS_FILE, type MetricsRecord } from '../train/metrics-log.js';
import { CheckpointError, hasCheckpointFiles, readCheckpoint, type CheckpointFiles } from '../train/checkpoint.js';
import { linePlot } from './svg.js';

/** A folder that holds nothing to plot: one line, a usage error for the CLI. */
export class RunDirError extends Error {
  override name = 'RunDirError';
}

export interface RunData {
  dir: string;
  /** One record per logged step (from metrics.jsonl, or rebuilt from the checkpoint: train loss and validations only). */
  metrics: MetricsRecord[];
  /** Where the metrics came from. */
  metricsSource: 'metrics.jsonl' | 'checkpoint';
  /** The checkpoint, when the folder has a readable one. */
  checkpoint: CheckpointFiles | null;
  /** Why the folder's checkpoint could not be read, when it has one (a manifest) that fails. */
  checkpointError: CheckpointError | null;
}

/** Reads a run folder; throws RunDirError when it is not one. */
export function loadRun(dir: string): RunData {
  let st;
  try { st = statSync(dir); } catch { throw new RunDirError(`${dir}: no such folder (expected the --out folder of 'handgrad train')`); }
  if (!st.isDirectory()) throw new RunDirError(`${dir}: is a file, expected the --out folder of 'handgrad train'`);
  let checkpoint: CheckpointFiles | null = null;
  let checkpointError: CheckpointError | null = null;
  try { checkpoint = readCheckpoint(dir); } catch (e) {
    if (!(e instanceof CheckpointError)) throw e;
    // Any checkpoint file present means there is a checkpoint, and it is damaged (e.g. its manifest is gone).
    if (hasCheckpointFiles(dir)) checkpointError = e;
  }
  if (existsSync(join(dir, METRICS_FILE))) {
    const metrics = readMetrics(dir);
    if (metrics.length === 0) throw new RunDirError(`${join(dir, METRICS_FILE)}: holds no metrics lines`);
    return { dir, metrics, metricsSource: 'metrics.jsonl', checkpoint, checkpointError };
  }
  if (checkpointError) throw checkpointError;
  if (!checkpoint) throw new RunDirError(`${dir}: nothing to plot (no ${METRICS_FILE} and no checkpoint)`);
  return { dir, metrics: metricsFromCheckpoint(checkpoint), metricsSource: 'checkpoint', checkpoint, checkpointError };
}

/** The per-step losses and validations a checkpoint holds, as metrics records (no lr or gradient norm). */
function metricsFromCheckpoint(c: CheckpointFiles): MetricsRecord[] {
  const losses = c.tensors.tensors.get('metrics.train_loss')?.data ?? [];
  const out: MetricsRecord[] = Array.from(losses, (l, i) => ({ step: i + 1, trainLoss: l, lr: NaN, gradNorm: NaN, tokensPerSec: NaN, elapsed: NaN }));
  const vals = ((c.state.training as { metrics?: { validations?: { step: number; valLoss: number }[] } })?.metrics?.validations) ?? [];
  for (const v of vals) if (v.step >= 1 && v.step <= out.length) out[v.step - 1].valLoss = v.valLoss;
  return out;
}

/** At most `max` points: mean of each bucket of consecutive points (a long run stays a small file). */
export function downsample(points: [number, number][], max = 1500): [number, number][] {
  if (points.length <= max) return points;
  const per = points.length / max, out: [number, number][] = [];
  for (let b = 0; b < max; b++) {
    const lo = Math.floor(b * per), hi = Math.floor((b + 1) * per);
    let sx = 0, sy = 0, n = 0;
    for (let i = lo; i < hi; i++) if (Number.isFinite(points[i][1])) { sx += points[i][0]; sy += points[i][1]; n++; }
    if (n > 0) out.push([sx / n, sy / n]);
  }
  return out;
}

export interface RunCharts {
  loss: string;
  lr: string;
  gradNorm: string;
}

/** The three charts of a run, as <svg> strings. */
export function runCharts(run: RunData, size: { width?: number; height?: number } = {}): RunCharts {
  const m = run.metrics;
  const series = (key: 'trainLoss' | 'lr' | 'gradNorm') =>
    downsample(m.filter((r) => typeof r[key] === 'number').map((r) => [r.step, r[key]] as [number, number]));
  const val = m.filter((r) => typeof r.valLoss === 'number').map((r) => [r.step, r.valLoss!] as [number, number]);
  const lr = series('lr');
  const lrs = lr.filter((p) => Number.isFinite(p[1]));
  const lrLog = lrs.length > 1 && lrs.every((p) => p[1] > 0) && Math.max(...lrs.map((p) => p[1])) / Math.min(...lrs.map((p) => p[1])) > 20;
  return {
    loss: linePlot({
      ...size, title: 'Loss', xLabel: 'step', yLabel: 'loss (nats/token)',
      series: [{ name: 'train', points: series('trainLoss') }, { name: 'validation', points: val, markers: true }],
    }),
    lr: linePlot({ ...size, title: 'Learning rate', xLabel: 'step', yLabel: 'learning rate', logY: lrLog, series: [{ name: 'lr', points: lr }] }),
    gradNorm: linePlot({
      ...size, title: 'Gradient norm (before clipping)', xLabel: 'step', yLabel: 'global L2 norm', logY: true,
      series: [{ name: 'gradient norm', points: series('gradNorm') }],
    }),
  };
}
