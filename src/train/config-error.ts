// The error for a bad option value or combination, found before training starts: its own module
// so that the modules train() calls (src/train/training-data.ts) can throw it without importing
// the trainer. The CLI turns it into one line and exit code 2.

/** A bad option value or combination, found before training starts (the CLI exits 2 on it). */
export class TrainConfigError extends RangeError {
  override name = 'TrainConfigError';
}

/** Runs `fn`, turning the RangeErrors of option checks elsewhere (schedule, model options, a tokenizer's) into TrainConfigErrors. */
export function asConfig<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof RangeError && !(e instanceof TrainConfigError)) throw new TrainConfigError(e.message);
    throw e;
  }
}
