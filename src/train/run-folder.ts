// A run folder (`--out`) that one run owns while it trains: opened, locked and probed before any
// data is loaded, released at the end. What it guarantees:
//
//   - The place is a normal folder (or can become one): a file, a FIFO or a device in the way, or
//     a path under /proc, /sys or /dev, is refused in one line (mkdir there can fail strangely:
//     Node's recursive mkdir loops forever under /proc).
//   - A folder that already holds something is refused unless it is the folder being resumed or
//     `force` is given: a run never replaces another run's checkpoint, or a user's files, silently.
//     `force` lets the run replace handgrad's own files there (checkpoint, metrics) and nothing else.
//   - One run at a time: a lock file (LOCK_FILE: pid, hostname, start time) created exclusively
//     (a hard link of a fully written staging file, which fails if the name exists; O_EXCL where
//     there are no hard links). A second run on the same folder is refused, naming the holder. A
//     lock whose process is gone (same host, pid not running, or running but a different process
//     that reused the pid) is stale: it is taken over, with a notice. Killed runs (kill -9, a
//     Ctrl-C before the step loop, a second Ctrl-C) leave such locks.
//   - The folder is writable: a small probe file is created, fsynced and removed before any step,
//     so a read-only or full disk is reported before the time is spent.
//   - On failure the run leaves the place as it found it: the lock is removed, and a folder this
//     run created (and the parents it created) is removed again when no checkpoint was saved in it
//     — only ever the entries this run made, one by one, never a recursive delete of the folder.
//
// Errors are RunFolderErrors: one line naming the folder or file and what to do (the CLI exits 2).
import { randomUUID } from 'node:crypto';
import {
  closeSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmdirSync,
  rmSync, statSync, unlinkSync, writeSync, type Stats,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import {
  BEST_DIR, INCOMING_DIR, MANIFEST_FILE, POINTER_FILE, STATE_FILE, STATE_TENSORS_FILE, WEIGHTS_FILE,
} from './checkpoint.js';

/** The lock file inside a run folder (JSON: pid, hostname, startedAt, …). */
export const LOCK_FILE = '.handgrad-lock';
const PROBE_PREFIX = '.handgrad-probe-';
const METRICS_FILE = 'metrics.jsonl'; // metrics-log.ts's METRICS_FILE (it imports this module)

/**
 * The names a run writes into its folder (src/train/checkpoint.ts's layout: the pointer,
 * generations, best/, and the old single-folder layout's files; the metrics log): what `force`
 * may replace and what a failed run may remove.
 */
const OWN_NAMES = new Set([POINTER_FILE, BEST_DIR, METRICS_FILE, WEIGHTS_FILE, STATE_TENSORS_FILE, STATE_FILE, MANIFEST_FILE, INCOMING_DIR]);
const GENERATION_NAME = /^ckpt-\d+(?:-\d+)?$/;
const isOwnName = (name: string): boolean =>
  OWN_NAMES.has(name) || GENERATION_NAME.test(name) || (/\.tmp-\d+$/.test(name) && isOwnName(name.replace(/\.tmp-\d+$/, '')));
/**
 * The charts `handgrad plot RUN` writes into a run folder (src/cli/commands/plot.ts names its
 * outputs from here): drawn from the metrics, so --force removes them with the run they show.
 */
export const PLOT_FILES = { loss: 'loss.svg', lr: 'lr.svg', gradNorm: 'grad-norm.svg', expertLoad: 'expert-load.svg' } as const;

/** Names that show a run has been here (a checkpoint, or its metrics). */
const isRunName = (name: string): boolean =>
  name === POINTER_FILE || name === MANIFEST_FILE || name === INCOMING_DIR || name === METRICS_FILE || name === BEST_DIR || GENERATION_NAME.test(name);
/** Entries that do not make a folder "hold something": the lock, its staging and moved-away files, probes. */
const isLockMachinery = (name: string) => name.startsWith(LOCK_FILE) || name.startsWith(PROBE_PREFIX);

/** System folders that are no place for a run (files there are not files); /dev/shm is an ordinary tmpfs. */
const SYSTEM_ROOTS = ['/proc', '/sys', '/dev'];
const SYSTEM_EXCEPTIONS = ['/dev/shm'];

/** A lock younger than this that cannot be parsed is being written; older, it is debris. */
const FRESH_MS = 10_000;

/** The run folder cannot be used (refused, locked, not writable): one line, the CLI exits 2. */
export class RunFolderError extends Error {
  override name = 'RunFolderError';
}

/** Error codes that mean "the disk will not take this write": the user's to fix, not a bug. */
const WRITE_FAILURE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM']);

/** "no space left on the device (ENOSPC)" and the like; null for codes that are not write refusals. */
export function writeFailureReason(code: string | undefined): string | null {
  switch (code) {
    case 'ENOSPC': case 'EDQUOT': return `no space left on the device (${code}); free some space or choose another --out`;
    case 'EROFS': return 'the file system is read-only (EROFS); choose another --out';
    case 'EACCES': case 'EPERM': return `no permission to write there (${code}); choose another --out`;
    default: return null;
  }
}

/**
 * `e` as a RunFolderError naming `path` when it is a refused write (full disk, read-only, no
 * permission); null otherwise. `path` defaults to the path the error names.
 */
export function asWriteFailure(e: unknown, path?: string): RunFolderError | null {
  if (e instanceof RunFolderError) return e;
  const err = e as NodeJS.ErrnoException | null;
  const why = err && typeof err === 'object' && WRITE_FAILURE_CODES.has(err.code ?? '') ? writeFailureReason(err.code) : null;
  const where = path ?? err?.path;
  if (why === null || where === undefined) return null;
  return new RunFolderError(`cannot write ${where}: ${why}`);
}

/** "<label>: cannot <what>: <why>" for a failed file-system call. */
function cannot(label: string, what: string, e: unknown): RunFolderError {
  const code = (e as NodeJS.ErrnoException).code;
  return new RunFolderError(`${label}: cannot ${what}: ${writeFailureReason(code) ?? code ?? (e as Error).message}`);
}

/** What a lock file holds. */
export interface LockInfo {
  pid: number;
  hostname: string;
  /** When the run took the lock (ISO time). */
  startedAt: string;
  /** Linux: the holder's start time in clock ticks since boot (/proc/<pid>/stat), to tell a reused pid. */
  procStart?: number;
  /** Unique per acquisition: release removes the lock only if it is still this one. */
  token: string;
}

export interface OpenRunFolderOptions {
  /** Replace handgrad's own files in a folder that holds them (never anything else). */
  force?: boolean;
  /** The folder of the checkpoint being resumed: writing into it is the point, not a clash. */
  resumeDir?: string;
  /** A name chosen by us (runs/<model>-<time>): if it is taken meanwhile, use <dir>-2, -3, … instead. */
  unique?: boolean;
  /** Where notices go (a stale lock taken over). */
  notice?: (line: string) => void;
  /** How the folder is named in messages (default `--out <dir>`). */
  label?: string;
}

export interface RunFolder {
  readonly dir: string;
  /** Whether this run created the folder. */
  readonly created: boolean;
  /** A checkpoint was saved: from now on the folder is kept whatever happens. */
  keep(): void;
  /**
   * The run failed with `e`: tidies up (see the top of this file), releases the lock, and returns
   * the error to report (refused writes as one-line RunFolderErrors naming the file).
   */
  fail(e: unknown): unknown;
  /** Removes the lock (idempotent). */
  release(): void;
}

/** Locks this process holds, by lock path: a lock naming our own pid is live only if it is in here. */
const held = new Map<string, string>();
let exitHook = false;

/**
 * Opens `dir` for a run: checks the place, creates the folder (and missing parents), refuses a
 * folder that holds something (unless resumed or forced), takes the lock and probes that the
 * folder is writable. Throws RunFolderError.
 */
export function openRunFolder(dir: string, opts: OpenRunFolderOptions = {}): RunFolder {
  const label = opts.label ?? `--out ${dir}`;
  if (dir.trim() === '') throw new RunFolderError(`${opts.label ?? '--out'} must name a folder, got an empty string`);
  checkPlace(dir, label);
  const madeParents: string[] = [];
  let target = dir;
  let created = false;
  try {
    madeParents.push(...makeParents(dirname(resolve(target)), label));
    for (let i = 2; ; i++) {
      try {
        mkdirSync(target);
        created = true;
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST') throw cannot(label, 'create the folder', e);
        if (opts.unique) { target = `${dir}-${i}`; continue; }
        break;
      }
    }
    if (!created) checkExisting(target, label, opts);
    const lock = acquireLock(target, label, opts.notice);
    const folder = new OpenFolder(target, created, madeParents, lock);
    try {
      if (!created) checkContents(target, label, opts); // again under the lock: nobody else may write now
      probe(target, label);
    } catch (e) {
      folder.fail(e);
      throw e;
    }
    return folder;
  } catch (e) {
    if (created) tryRmdir(target);
    for (const p of madeParents.reverse()) tryRmdir(p);
    throw e;
  }
}

class OpenFolder implements RunFolder {
  private kept = false;
  private released = false;

  constructor(readonly dir: string, readonly created: boolean, private readonly madeParents: string[], private readonly lockPath: string) {}

  keep(): void {
    this.kept = true;
  }

  fail(e: unknown): unknown {
    const reported = this.explain(e);
    if (this.created && !this.kept) {
      // Nothing worth keeping was saved. A refused write leaves no partial output at all; any other
      // failure keeps what the run wrote (metrics.jsonl shows how it went) but not an empty folder.
      if (reported instanceof RunFolderError || (e as Error)?.name === 'CheckpointWriteError') this.removeOwnFiles();
    }
    this.release();
    if (this.created && !this.kept) {
      if (tryRmdir(this.dir)) for (const p of [...this.madeParents].reverse()) tryRmdir(p);
    }
    return reported;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    releaseLock(this.lockPath);
  }

  /**
   * A refused write as a one-line RunFolderError naming the file. A full or read-only disk is one
   * wherever it happens; a permission error only in this folder (elsewhere it is not ours to explain).
   */
  private explain(e: unknown): unknown {
    const err = e as NodeJS.ErrnoException | null;
    if (e instanceof RunFolderError || !err || typeof err !== 'object' || typeof err.path !== 'string') return e;
    const here = resolve(this.dir);
    const inside = resolve(err.path) === here || resolve(err.path).startsWith(here + sep);
    if (!inside && (err.code === 'EACCES' || err.code === 'EPERM')) return e;
    return asWriteFailure(e) ?? e;
  }

  /** Removes the entries a run writes (checkpoint files, metrics, temporaries): nothing else. */
  private removeOwnFiles(): void {
    let names: string[];
    try { names = readdirSync(this.dir); } catch { return; }
    for (const name of names) {
      if (!isOwnName(name)) continue;
      try { rmSync(join(this.dir, name), { recursive: true, force: true }); } catch { /* left as it is */ }
    }
  }
}

// ---- the place -----------------------------------------------------------------------------------

/** Refuses a path whose nearest existing part is not a folder, or that lies under /proc, /sys, /dev. */
function checkPlace(dir: string, label: string): void {
  const abs = resolve(dir);
  for (let p = abs; ; p = dirname(p)) {
    let st: Stats;
    try { st = statSync(p); } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') continue; // a file further up: found on the way
      if (dirname(p) === p) return;
      continue;
    }
    if (!st.isDirectory()) {
      const what = st.isFile() ? 'is a file' : 'is not a folder (a device, FIFO or socket)';
      throw new RunFolderError(p === abs ? `${label}: ${what}, expected a folder for the checkpoint`
        : `${label}: ${p} ${what}, so the folder cannot be created there`);
    }
    let real = p;
    try { real = realpathSync(p); } catch { /* keep p */ }
    const rest = abs === p ? '' : abs.slice(p.length);
    const full = real + rest;
    const under = (r: string) => full === r || full.startsWith(r + '/');
    const sys = SYSTEM_EXCEPTIONS.some(under) ? undefined : SYSTEM_ROOTS.find(under);
    if (sys !== undefined) throw new RunFolderError(`${label}: is under ${sys}, a system folder, not a place for files; choose a normal folder`);
    return;
  }
}

/** Creates the missing folders above a run folder, top down, one at a time; returns those it made. */
function makeParents(parent: string, label: string): string[] {
  const missing: string[] = [];
  for (let p = parent; ; p = dirname(p)) {
    try {
      if (statSync(p).isDirectory()) break;
    } catch { /* missing */ }
    missing.unshift(p);
    if (dirname(p) === p) break;
  }
  const made: string[] = [];
  try {
    for (const p of missing) {
      try {
        mkdirSync(p);
        made.push(p);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST' && statSync(p).isDirectory()) continue;
        throw cannot(label, `create ${p}`, e);
      }
    }
  } catch (e) {
    for (const p of made.reverse()) tryRmdir(p);
    throw e;
  }
  return made;
}

/** The existing `dir` (not created by this run): a folder, not in use, and empty, resumed or forced. */
function checkExisting(dir: string, label: string, opts: OpenRunFolderOptions): void {
  let st: Stats;
  try { st = lstatSync(dir); st = st.isSymbolicLink() ? statSync(dir) : st; } catch (e) {
    throw new RunFolderError(`${label}: cannot open the folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!st.isDirectory()) throw new RunFolderError(`${label}: ${st.isFile() ? 'is a file' : 'is not a folder'}, expected a folder for the checkpoint`);
  const holder = readLock(join(dir, LOCK_FILE));
  if (holder !== undefined && lockIsLive(join(dir, LOCK_FILE), holder)) throw inUse(dir, label, holder);
  checkContents(dir, label, opts);
}

/** Refuses a folder that holds something, unless it is the resumed folder or `force` is given. */
function checkContents(dir: string, label: string, opts: OpenRunFolderOptions): void {
  if (opts.resumeDir !== undefined && sameFolder(dir, opts.resumeDir)) return;
  let names: string[];
  try { names = readdirSync(dir).filter((n) => !isLockMachinery(n)).sort(); } catch (e) {
    throw asWriteFailure(e, dir) ?? new RunFolderError(`${label}: cannot list the folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (names.length === 0) return;
  const shown = names.slice(0, 3).join(', ') + (names.length > 3 ? `, … (${names.length} entries)` : '');
  if (!opts.force) {
    const run = names.some(isRunName);
    throw new RunFolderError(`${label}: is not empty (${shown})${run ? ', another run is there' : ''}; choose a new folder` +
      `${run ? `, continue that run with --resume ${dir}` : ''}, or add --force to replace handgrad's files in it`);
  }
  // --force replaces our files; a save clears .incoming, so it must hold nothing of anyone else's.
  const incoming = join(dir, INCOMING_DIR);
  let inside: string[] = [];
  try { inside = readdirSync(incoming); } catch { /* none, or not a folder: handled below */ }
  const foreign = inside.filter((n) => !isOwnName(n));
  let incomingIsDir = true;
  try { incomingIsDir = lstatSync(incoming).isDirectory(); } catch { /* absent */ }
  if (foreign.length > 0 || !incomingIsDir) {
    throw new RunFolderError(`${label}: --force replaces only handgrad's own files, and ${incoming} ` +
      `${incomingIsDir ? `holds others (${foreign.slice(0, 3).join(', ')})` : 'is not its folder'}; move them away or choose another --out`);
  }
  // The replaced run's charts would describe a run that is no longer there.
  for (const name of Object.values(PLOT_FILES)) {
    try { if (lstatSync(join(dir, name)).isFile()) unlinkSync(join(dir, name)); } catch { /* absent */ }
  }
}

/**
 * Refuses `dir` when a live run holds its lock: read only, takes nothing. A resume in place calls
 * it before reading the checkpoint, which the holder may be rewriting at that moment.
 */
export function checkNotInUse(dir: string, label: string): void {
  const path = join(dir, LOCK_FILE);
  const holder = readLock(path);
  if (holder !== undefined && lockIsLive(path, holder)) throw inUse(dir, label, holder);
}

/** Whether two paths name the same folder (after symlinks). */
export function sameFolder(a: string, b: string): boolean {
  try { return realpathSync(a) === realpathSync(b); } catch { return resolve(a) === resolve(b); }
}

/** Creates, fsyncs and removes a small file: the folder takes writes (not read-only, not full). */
function probe(dir: string, label: string): void {
  const path = join(dir, `${PROBE_PREFIX}${process.pid}`);
  let fd: number | null = null;
  try {
    fd = openSync(path, 'w'); // named by our pid: one left by a killed process with the same pid is ours to reuse
    writeSync(fd, Buffer.alloc(4096, 0x0a));
    fsyncSync(fd);
  } catch (e) {
    throw cannot(label, 'write in the folder', e);
  } finally {
    if (fd !== null) closeSync(fd);
    try { unlinkSync(path); } catch { /* never created */ }
  }
}

/** rmdir that only removes an empty folder; true if it is gone. */
function tryRmdir(p: string): boolean {
  try { rmdirSync(p); return true; } catch { return false; }
}

// ---- the lock ------------------------------------------------------------------------------------

/**
 * Takes `<dir>/LOCK_FILE`, taking over a stale one; returns the lock's path. The lock is written
 * in full to a staging file first and then hard-linked to its name, which fails if the name exists
 * (O_EXCL's guarantee) and makes the lock appear complete: a run killed at any moment never leaves
 * a half-written lock that the next run could not judge. Where the file system has no hard links,
 * it is created with O_EXCL ('wx') and written in place.
 */
function acquireLock(dir: string, label: string, notice?: (line: string) => void): string {
  const path = join(dir, LOCK_FILE);
  const info: LockInfo = {
    pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString(), procStart: procStartTicks(process.pid) ?? undefined,
    token: randomUUID(),
  };
  const text = JSON.stringify(info) + '\n';
  const staging = `${path}.tmp-${process.pid}`;
  try {
    writeDurably(staging, text, 'w');
  } catch (e) {
    throw cannot(label, 'write in the folder', e);
  }
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (createExclusive(path, staging, text, label)) {
        held.set(path, info.token);
        removeLockLeftovers(dir);
        if (!exitHook) {
          exitHook = true;
          // process.exit() elsewhere skips our finally blocks: the locks go anyway.
          process.once('exit', () => { for (const p of [...held.keys()]) releaseLock(p); });
        }
        return path;
      }
      const seen = readLockText(path);
      if (seen === undefined) continue; // removed meanwhile: try again
      const holder = parseLock(seen);
      if (lockIsLive(path, holder)) throw inUse(dir, label, holder);
      if (takeOver(path, seen, label)) {
        notice?.(`${label}: took over the lock of a run that is gone (${holder ? describeHolder(holder) : 'an unreadable lock file'})`);
      }
    }
  } finally {
    try { unlinkSync(staging); } catch { /* gone */ }
  }
  throw new RunFolderError(`${label}: the lock file ${path} keeps changing (other runs are starting there); try again`);
}

/**
 * Removes what killed runs left of the lock machinery (staging files, locks moved aside, probes),
 * named by their pid: only those of processes that are gone; we hold the lock, so nobody else is
 * probing. Best effort.
 */
function removeLockLeftovers(dir: string): void {
  let names: string[];
  try { names = readdirSync(dir); } catch { return; }
  for (const name of names) {
    const m = /^(?:\.handgrad-lock\.(?:tmp|stale)-|\.handgrad-probe-)(\d+)$/.exec(name);
    if (!m || Number(m[1]) === process.pid || isRunning(Number(m[1]))) continue;
    try { unlinkSync(join(dir, name)); } catch { /* left */ }
  }
}

/** Is a process with this pid running (EPERM: yes, another user's)? */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Link errors that mean "no hard links here", not "no": then O_EXCL creation is used instead. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** Creates `path` holding `text`, only if it does not exist; false when it does. */
function createExclusive(path: string, staging: string, text: string, label: string): boolean {
  try {
    linkSync(staging, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_HARD_LINKS.has(code)) throw cannot(label, 'write in the folder', e);
  }
  try {
    writeDurably(path, text, 'wx');
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw cannot(label, 'write in the folder', e);
  }
}

/** Writes `text` to `path` (opened with `flags`) and fsyncs it; a failed write leaves no file. */
function writeDurably(path: string, text: string, flags: 'w' | 'wx'): void {
  const fd = openSync(path, flags);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(path); } catch { /* gone */ }
    throw e;
  }
  closeSync(fd);
}

function releaseLock(path: string): void {
  const token = held.get(path);
  if (token === undefined) return;
  held.delete(path);
  const now = readLock(path);
  if (now !== undefined && now !== null && now.token === token) {
    try { unlinkSync(path); } catch { /* already gone */ }
  }
}

/** The lock in `path`: undefined when there is none, null when it cannot be parsed. */
export function readLock(path: string): LockInfo | null | undefined {
  const text = readLockText(path);
  return text === undefined ? undefined : parseLock(text);
}

/** The lock file's text; undefined when there is none ('' when it cannot be read). */
function readLockText(path: string): string | undefined {
  try { return readFileSync(path, 'utf8'); } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : '';
  }
}

function parseLock(text: string): LockInfo | null {
  try {
    const v = JSON.parse(text) as LockInfo;
    return v && typeof v.pid === 'number' && typeof v.hostname === 'string' ? v : null;
  } catch {
    return null;
  }
}

/** Whether the run that holds a lock may still be running. */
function lockIsLive(path: string, holder: LockInfo | null): boolean {
  if (holder === null) {
    // Being written right now, or debris of a crash between create and write.
    try { return Date.now() - statSync(path).mtimeMs < FRESH_MS; } catch { return false; }
  }
  if (holder.hostname !== hostname()) return true; // another machine's process: we cannot tell
  if (holder.pid === process.pid) return held.get(path) === holder.token; // ours, or an earlier process with our pid
  if (!isRunning(holder.pid)) return false;
  // Alive — unless the pid was reused by a process that started after the lock's holder.
  if (holder.procStart !== undefined) {
    const now = procStartTicks(holder.pid);
    if (now !== null && now !== holder.procStart) return false;
  }
  return true;
}

/**
 * Moves a stale lock (whose text was `seen`) out of the way; true if it was that one. The move is
 * a rename, atomic: if another run took the lock over between our look and the move, what we moved
 * is its fresh lock, which goes straight back (and we report "in use" on the next round).
 */
function takeOver(path: string, seen: string, label: string): boolean {
  const moved = `${path}.stale-${process.pid}`;
  try {
    renameSync(path, moved);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false; // someone else moved it
    throw cannot(label, 'take over the lock', e);
  }
  try {
    if (readLockText(moved) === seen) return true;
    try { linkSync(moved, path); } catch { /* a third run holds the name now: it is theirs */ }
    return false;
  } finally {
    try { unlinkSync(moved); } catch { /* gone */ }
  }
}

function inUse(dir: string, label: string, holder: LockInfo | null): RunFolderError {
  return new RunFolderError(`${label}: in use by another run (${holder ? describeHolder(holder) : 'its lock is being written'}); ` +
    `wait for it to finish or choose another --out (if no run uses it, remove ${join(dir, LOCK_FILE)})`);
}

function describeHolder(h: LockInfo): string {
  return `pid ${h.pid} on ${h.hostname}, since ${h.startedAt}`;
}

/** Linux: a process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat); null elsewhere. */
function procStartTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(fields[19]);
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}
