// The error for a bad option value or combination, found before training starts: its own module
// so that the modules train() calls (src/train/training-data.ts) can throw it without importing
// the trainer. The CLI turns it into one line and exit code 2.

/** A bad option value or combination, found before training starts (the CLI exits 2 on it). */
export class TrainConfigError extends RangeError {
  override name = 'TrainConfigError';
}
