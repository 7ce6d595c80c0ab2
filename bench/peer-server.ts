// A persistent Python peer process (`script.py [args…] --serve`) that answers one JSON request per
// line with one JSON line, as the benchmarks' paired, interleaved phases use them: the GEMM peer
// bench/peers/numpy_gemm.py (bench/kernels/paired.ts) and the training peers of bench/train.ts
// (torch_rnn_train.py, torch_transformer_train.py, numpy_seed_lstm.py; protocol in
// bench/peers/serve_steps.py). Starting a process once and asking it many times is what lets a
// contender's reps sit within seconds of ours: a fresh process per measurement costs an import and
// a warm-up each time and puts minutes between the two sides of a ratio.
//
// The peer runs in bench/peer-env.ts's peerEnv(threads) (OpenBLAS guards removed, its BLAS thread
// variables set), under the first Python in which its module imports (findPython). Its first stdout
// line must be {"ready": true, …}; after that every request gets exactly one reply line. EOF on its
// stdin (close()) ends it.
import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { findPython, peerEnv, type PeerModule } from './peer-env.js';

export interface PeerServerOptions {
  /** The module the script needs (picks the interpreter; exit code 3 from the script = it is missing). */
  module: PeerModule;
  /** Path of the script. */
  script: string;
  /** Its arguments before `--serve`, e.g. the JSON config. */
  args?: string[];
  /** BLAS threads (peerEnv). */
  threads: number;
  /** How long the start (import, model build, warm-up) may take before the ready line (default 120 s). */
  readyTimeoutSeconds?: number;
}

export type PeerReply = Record<string, unknown>;

export interface PeerServer {
  /** The interpreter it runs under. */
  python: string;
  /** Its ready line. */
  ready: PeerReply;
  /**
   * The reply to `request`: the next JSON object with its id (other lines are skipped); null when
   * the server has died or did not answer within `timeoutSeconds` (it is then killed): `failure()`
   * says why.
   */
  ask(request: Record<string, unknown>, timeoutSeconds: number): Promise<PeerReply | null>;
  /** Why the server stopped answering, in a few words (exit code and its last stderr line, or the timeout); '' while it runs. */
  failure(): string;
  /** Ends its stdin (the server exits at EOF); resolves when it has exited (killed if it has not within 5 s). */
  close(): Promise<void>;
}

/**
 * Starts `python script args… --serve` and waits for its ready line; a string says why it could not,
 * beginning "not available" when no Python has the module or the script could not import it,
 * "could not start" when the interpreter did not run, else "<script> --serve failed (…)".
 */
export function startPeerServer(opts: PeerServerOptions): Promise<PeerServer | string> {
  const py = findPython(opts.module);
  if (!py.python) return Promise.resolve(py.note);
  const python = py.python;
  const name = basename(opts.script);
  const child = spawn(python, [opts.script, ...(opts.args ?? []), '--serve'], { env: peerEnv(opts.threads), stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiting: ((line: string | null) => void)[] = [];
  let buf = '', lastErr = '', ended = false, exitCode: number | null = null, signal: string | null = null, spawnError = '', timedOut = '';
  let exited: () => void = () => {};
  const exit = new Promise<void>((done) => { exited = done; });
  const end = () => { ended = true; for (const w of waiting.splice(0)) w(null); };
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiting.shift();
      if (w) w(line); else lines.push(line);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    const l = d.trim().split('\n').pop();
    if (l) lastErr = l.trim();
  });
  child.stdin.on('error', () => {}); // EPIPE when it has died: the pending ask gets null from 'close'
  child.on('error', (e) => { spawnError = e.message; end(); exited(); });
  child.on('close', (code, sig) => { exitCode = code; signal = sig; end(); exited(); });
  /** The next line within timeoutSeconds; `asked` is the limit the failure names (an ask's whole limit). */
  const nextLine = (timeoutSeconds: number, asked = timeoutSeconds) => new Promise<string | null>((done) => {
    if (lines.length > 0) return done(lines.shift()!);
    if (ended) return done(null);
    const timer = setTimeout(() => {
      const i = waiting.indexOf(settle);
      if (i >= 0) waiting.splice(i, 1);
      timedOut = `no answer within ${asked} s`;
      child.kill();
      done(null);
    }, timeoutSeconds * 1000);
    const settle = (line: string | null) => { clearTimeout(timer); done(line); };
    waiting.push(settle);
  });
  const parse = (line: string | null): PeerReply | null => {
    if (line === null) return null;
    try {
      const v = JSON.parse(line) as unknown;
      return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as PeerReply : null;
    } catch { return null; }
  };
  const failure = () => {
    if (spawnError) return `${python} could not start (${spawnError})`;
    if (timedOut) return `${name} --serve: ${timedOut}`;
    if (!ended) return '';
    const how = signal ? `killed by ${signal}` : `exit ${exitCode}`;
    return `${name} --serve ended (${how}${lastErr ? `: ${lastErr}` : ''})`;
  };
  const close = () => {
    if (!ended) {
      child.stdin.end();
      const t = setTimeout(() => child.kill(), 5000);
      void exit.then(() => clearTimeout(t));
    }
    return exit;
  };
  return nextLine(opts.readyTimeoutSeconds ?? 120).then(async (line) => {
    const ready = parse(line);
    if (!ready || ready.ready !== true) {
      child.kill();
      await exit;
      if (spawnError) return `${python} could not start (${spawnError})`;
      if (exitCode === 3) return `not available (${python} -c 'import ${opts.module}' fails: it is not installed there)`;
      const why = timedOut || (exitCode === null ? (signal ? `killed by ${signal}` : 'no answer') : `exit ${exitCode}`);
      return `${name} --serve failed (${why}${lastErr ? `: ${lastErr}` : ''})`;
    }
    return {
      python,
      ready,
      ask: async (request, timeoutSeconds) => {
        if (ended) return null;
        child.stdin.write(JSON.stringify(request) + '\n');
        // The reply is the next JSON object with the request's id: a line that is not one (a stray
        // print of the peer's libraries, a late reply to an earlier request) is skipped, so that it
        // cannot shift every later reply by one.
        const deadline = performance.now() + timeoutSeconds * 1000;
        for (;;) {
          const line = await nextLine(Math.max(0.001, (deadline - performance.now()) / 1000), timeoutSeconds);
          if (line === null) return null;
          const reply = parse(line);
          if (reply && (!('id' in request) || reply.id === request.id)) return reply;
        }
      },
      failure,
      close,
    };
  });
}
