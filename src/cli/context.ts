// What every command writes to and reports back through. Its own module, below main.ts and the
// commands, so that the commands need not import main.ts (which imports them).

/** What commands write to and report back through. */
export interface CliContext {
  /** Set by a command given --json: human-readable output then goes to stderr. */
  jsonMode: boolean;
  /** Human-readable output (stdout, or stderr in JSON mode). */
  print(line: string): void;
  /** Progress and notices: always stderr. */
  note(line: string): void;
  /** Prints one JSON object as a single line: the last line of stdout. */
  json(value: unknown): void;
  /** The process exit code the command asks for (0 unless it sets one). */
  exitCode: number;
  /**
   * true once stdout's reader has gone (`handgrad sample … | head -c 50`): print() and json()
   * then drop their output, and a command with nothing else to do may stop early. A training run
   * goes on to its checkpoint.
   */
  stdoutClosed(): boolean;
}
