// CUDA graphs of a model's decode step for CudaOps (src/ops/decode-graph.ts says what a step must
// guarantee; native/graph.h how the addon captures). This module keeps the host side honest:
// a replay runs no TypeScript op, so everything an op call would have done around its launch is
// redone here from what the capture recorded:
//   * reads   — storages the step reads: their pending host writes (the token id, the position,
//               written through `.data`) are uploaded before each replay, as an op would;
//   * writes  — storages the step writes: marked device-newer afterwards, so `.data` downloads them;
//   * copies  — bf16 copies (bf16-copies.ts) the captured GEMMs were handed: a replay is allowed
//               only while each is still valid at the same address (a copy the step itself
//               writes, the MoE gather's, is valid by construction).
// And it refuses what a replay cannot reproduce: a host transfer in the middle of the step (an
// upload or a download between its ops) marks the capture broken, and the key runs eagerly from
// then on. A capture is also invalid once the backend allocated or released memory since (a buffer
// the step uses may have moved): `generation` counts those, and a stale graph is recaptured.
// First call: eager (the warm-up: buffers grow, kernels get their attributes, the read set is
// learned); second: capture, then one launch; later: replay.

/** The parts of a backend storage this module touches (ops.ts: Storage). */
export interface GraphStorage {
  devNewer: boolean;
  valid: number[];
  dirty: number[];
  version: number;
}

/** What a graph needs from the addon (native/addon.cc: graphBegin/graphEnd/graphLaunch/graphDestroy). */
export interface GraphAddon {
  graphBegin(): void;
  graphEnd(): number;
  graphLaunch(exec: number): void;
  graphDestroy(exec: number): void;
}

/** The backend around the graphs (CudaOps). */
export interface GraphHost<S extends GraphStorage, V extends { readonly s: S }> {
  readonly addon: GraphAddon;
  /** Bumped by every allocation and release of device memory. */
  readonly generation: number;
  /** Uploads s's pending host writes (as an op reading s would). */
  flushStorage(s: S): void;
  /** The current address of v's valid bf16 copy, or 0. */
  copyOf(v: V): number;
  /** The recorder the op calls report to while a step runs (null: none). */
  recorder: Recorder<S, V> | null;
}

/** Filled by the backend's op calls while a step is warmed up or captured. */
export class Recorder<S extends GraphStorage, V extends { readonly s: S }> {
  readonly reads = new Set<S>();
  readonly writes = new Set<S>();
  readonly copies: { view: V; ptr: number }[] = [];
  /** Why the capture cannot be replayed, or null. */
  broken: string | null = null;
  constructor(readonly capturing: boolean) {}
  read(s: S): void { this.reads.add(s); }
  write(s: S): void { this.writes.add(s); }
  copy(view: V, ptr: number): void { if (ptr !== 0) this.copies.push({ view, ptr }); }
  /** A host↔device copy inside the step: fine while warming up, fatal to a capture. */
  transfer(kind: 'upload' | 'download'): void {
    if (this.capturing && this.broken === null) this.broken = `a host ${kind} between the step's ops`;
  }
}

interface Entry<S, V> {
  state: 'warm' | 'ready' | 'eager';
  exec: number;
  result: unknown;
  generation: number;
  reads: S[];
  writes: S[];
  copies: { view: V; ptr: number }[];
  /** Why this key runs eagerly (state 'eager'), for diagnostics. */
  reason: string | null;
}

export class DecodeGraphs<S extends GraphStorage, V extends { readonly s: S }> {
  private readonly entries = new Map<object, Entry<S, V>>();
  /** Replays, captures and eager runs so far (tests and the bench read them). */
  readonly counts = { replays: 0, captures: 0, eager: 0 };

  constructor(private readonly host: GraphHost<S, V>) {}

  run<T>(key: object, body: () => T): T {
    const host = this.host;
    if (host.recorder !== null) return body(); // nested step: part of the outer one
    let e = this.entries.get(key);
    if (e?.state === 'eager') { this.counts.eager++; return body(); }
    if (e?.state === 'ready' && this.replayable(e)) return this.replay(e) as T;
    if (e?.state === 'ready') this.drop(e); // stale: warm up again below
    if (e === undefined || e.state !== 'warm' || e.generation !== host.generation) {
      // Warm-up: an ordinary run that learns the read set.
      const rec = new Recorder<S, V>(false);
      host.recorder = rec;
      let out: T;
      try { out = body(); } finally { host.recorder = null; }
      this.entries.set(key, { state: 'warm', exec: 0, result: undefined, generation: host.generation,
        reads: [...rec.reads], writes: [], copies: [], reason: null });
      this.counts.eager++;
      return out;
    }
    return this.capture(key, e, body);
  }

  /** Frees every graph (before the device memory goes). */
  dispose(): void {
    for (const e of this.entries.values()) this.drop(e);
    this.entries.clear();
  }

  /** Why `key` runs eagerly, or null (tests, diagnostics). */
  eagerReason(key: object): string | null {
    return this.entries.get(key)?.reason ?? null;
  }

  private replayable(e: Entry<S, V>): boolean {
    if (e.generation !== this.host.generation) return false;
    for (const c of e.copies) {
      if (!e.writes.includes(c.view.s) && this.host.copyOf(c.view) !== c.ptr) return false;
    }
    return true;
  }

  private launch(e: Entry<S, V>): void {
    for (const s of e.reads) if (s.dirty.length !== 0) this.host.flushStorage(s);
    this.host.addon.graphLaunch(e.exec);
    for (const s of e.writes) { s.devNewer = true; s.valid.length = 0; s.version++; }
  }

  private replay(e: Entry<S, V>): unknown {
    this.launch(e);
    this.counts.replays++;
    return e.result;
  }

  private capture<T>(key: object, e: Entry<S, V>, body: () => T): T {
    const host = this.host;
    // What the warm-up read goes up now, so the capture itself needs no upload.
    for (const s of e.reads) if (s.dirty.length !== 0) host.flushStorage(s);
    const rec = new Recorder<S, V>(true);
    host.addon.graphBegin();
    host.recorder = rec;
    let out: T;
    let exec = 0;
    try {
      out = body();
    } finally {
      host.recorder = null;
      try { exec = host.addon.graphEnd(); } catch (err) { rec.broken ??= `capture failed: ${(err as Error).message}`; }
    }
    if (rec.broken !== null || exec === 0) {
      // Nothing of the captured body ran: run it for real, and eagerly from now on.
      if (exec !== 0) host.addon.graphDestroy(exec);
      Object.assign(e, { state: 'eager', reason: rec.broken ?? 'capture failed' });
      this.counts.eager++;
      return body();
    }
    Object.assign(e, { state: 'ready', exec, result: out, generation: host.generation, reads: [...rec.reads],
      writes: [...rec.writes], copies: rec.copies, reason: null });
    this.entries.set(key, e);
    this.counts.captures++;
    this.launch(e); // the capture recorded the launches without running them
    return out;
  }

  private drop(e: Entry<S, V>): void {
    if (e.exec !== 0) this.host.addon.graphDestroy(e.exec);
    e.exec = 0;
    e.state = 'warm';
    e.generation = -1;
  }
}
