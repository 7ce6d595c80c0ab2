// The `handgrad` command line: parses arguments and calls library functions, nothing more.
// Each command lives in its own file under commands/ and registers itself on the program.
//
// Error handling, in one place: a mistake in how the CLI was called (unknown command or option,
// a value that is not a number or out of range) prints ONE line `handgrad: …` to stderr and
// exits with code 2; a failure while running prints one line and exits with 1 (set
// HANDGRAD_DEBUG=1 for the stack trace). `--json` output is always the last line of stdout.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { UsageError } from './args.js';
import { packageRoot } from '../util/package-root.js';
import type { CliContext } from './context.js';
import { registerInfo } from './commands/info.js';
import { registerGradcheck } from './commands/gradcheck.js';
import { registerBench } from './commands/bench.js';
import { registerTrain } from './commands/train.js';
import { registerSample } from './commands/sample.js';
import { registerEval } from './commands/eval.js';
import { registerTask } from './commands/task.js';
import { registerPlot } from './commands/plot.js';
import { registerReport } from './commands/report.js';
import { registerExport } from './commands/export.js';
import { registerImport } from './commands/import.js';
import { registerCompletion } from './commands/completion.js';

// Commands import CliContext from ./context.ts (importing it from here would be a cycle).
export type { CliContext } from './context.js';

/** Thrown to leave after --help or --version: not an error. */
class Finished extends Error {
  constructor(readonly code: number) { super('finished'); }
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('handgrad')
    .description('Neural sequence models with every gradient written by hand: tools and benchmarks.')
    .version(version(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .helpCommand('help [command]', 'show help for a command')
    .showSuggestionAfterError(true)
    // Commander's own messages are replaced by ours (one line, with what was expected).
    .configureOutput({ writeErr: () => {}, outputError: () => {} });
  registerInfo(program, ctx);
  registerGradcheck(program, ctx);
  registerBench(program, ctx);
  registerTrain(program, ctx);
  registerSample(program, ctx);
  registerEval(program, ctx);
  registerTask(program, ctx);
  registerPlot(program, ctx);
  registerReport(program, ctx);
  registerExport(program, ctx);
  registerImport(program, ctx);
  registerCompletion(program); // last: it reads the commands above
  // Every command gets its own exit hook, so a message can name the command it came from.
  const hook = (cmd: Command): void => {
    cmd.exitOverride((err) => { throw translate(err, cmd); });
    cmd.commands.forEach(hook);
  };
  hook(program);
  return program;
}

/** Commander's error, as a UsageError with one line saying what was wrong and what was expected. */
function translate(err: CommanderError, cmd: Command): Error {
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return new Finished(0);
  if (err.code === 'commander.help' && err.exitCode === 0) return new Finished(0);
  const path = commandPath(cmd);
  // The message is printed after 'handgrad: ', so the root command's name is not repeated.
  const where = cmd.parent ? `${path.replace(/^\S+ /, '')}: ` : '';
  const subcommands = cmd.commands.map((c) => c.name()).filter((n) => n !== 'help');
  const seeHelp = `see '${path} --help'`;
  if (err.code === 'commander.help') {
    return new UsageError(`${where}missing command (expected one of ${subcommands.join(', ')}; ${seeHelp})`);
  }
  const text = err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim();
  if (err.code === 'commander.unknownCommand') {
    return new UsageError(`${where}${text} (expected one of ${subcommands.join(', ')}; ${seeHelp})`);
  }
  return new UsageError(`${where}${text} (${seeHelp})`);
}

/** 'handgrad bench kernels' for the kernels command. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Watches an output stream for the reader going away. Node ignores SIGPIPE, so a write into a pipe
 * whose reader has closed (`handgrad … | head`, or `2>&1 | head` for the progress log on stderr)
 * fails with EPIPE, an 'error' event that would end the process with a stack trace — in a training
 * run, before its checkpoint. A closed stream is the reader saying it has enough: from then on
 * that output is dropped, quietly, and the exit code stays the command's own. Any other error is
 * still thrown. Installed once per stream and process.
 */
function watchStream(stream: NodeJS.WriteStream): { readonly closed: boolean } {
  const known = watches.get(stream);
  if (known) return known;
  let gone = false;
  // The 'error' event comes on a later tick; a synchronous loop (sampling) sees the failed write
  // at once in stream.errored.
  const watch = { get closed() { return gone || (stream.errored as NodeJS.ErrnoException | null)?.code === 'EPIPE'; } };
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') {
      gone = true;
      return;
    }
    throw err;
  });
  watches.set(stream, watch);
  return watch;
}
const watches = new Map<NodeJS.WriteStream, { closed: boolean }>();

/**
 * Runs the CLI on `argv` (the user's arguments, without node and the script) and returns the
 * exit code. Never throws and never calls process.exit.
 */
export async function main(argv: string[]): Promise<number> {
  const stdout = watchStream(process.stdout);
  const stderr = watchStream(process.stderr);
  const out = (text: string): void => { if (!stdout.closed) process.stdout.write(text); };
  const log = (text: string): void => { if (!stderr.closed) process.stderr.write(text); };
  const ctx: CliContext = {
    jsonMode: false,
    print: (line) => (ctx.jsonMode ? log(line + '\n') : out(line + '\n')),
    note: (line) => log(line + '\n'),
    json: (value) => out(JSON.stringify(value) + '\n'),
    exitCode: 0,
    stdoutClosed: () => stdout.closed,
  };
  try {
    await buildProgram(ctx).parseAsync(argv, { from: 'user' });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof Finished) return e.code;
    if (e instanceof UsageError) {
      process.stderr.write(`handgrad: ${e.message}\n`);
      return 2;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    if (process.env.HANDGRAD_DEBUG === '1') process.stderr.write(`${err.stack ?? err.message}\n`);
    else process.stderr.write(`handgrad: ${err.message.split('\n')[0]}\n`);
    return 1;
  }
}
