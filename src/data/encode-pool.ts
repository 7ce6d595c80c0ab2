// Encoding a corpus on several threads: text pieces (src/data/text-stream.ts cutPieces) go to
// worker_threads running encodePiece (src/data/encode-job.ts), at most two waiting per worker, and
// their ids come back and are handed on in the pieces' order. The calling thread reads the text
// and writes the ids meanwhile. With one thread (or for a small text, where starting workers
// would cost more than it saves) the calling thread encodes the pieces itself with the same
// function: the ids are the same either way (tests/data/token-pipeline.test.ts checks it).
import { Worker } from 'node:worker_threads';
import { encodePiece } from './encode-job.js';
import type { TextPiece } from './text-stream.js';
import type { Tokenizer } from './tokenizer.js';

/** Pieces a worker may have waiting: one being encoded, one queued behind it. */
const PER_WORKER = 2;

type Tokens = Uint16Array | Uint32Array;

interface Pending {
  resolve(): void;
  reject(e: unknown): void;
  onResult(id: number, tokens: Tokens | null, error: string | null): void;
}

export class EncodePool {
  private current: Pending | null = null;
  private readonly outstanding: number[];

  private constructor(private readonly tokenizer: Tokenizer, readonly bytesPerToken: 2 | 4, private readonly workers: Worker[]) {
    this.outstanding = workers.map(() => 0);
    workers.forEach((w, i) => {
      w.on('message', (m: { id: number; tokens?: Tokens; error?: string }) => {
        this.outstanding[i]--;
        this.current?.onResult(m.id, m.tokens ?? null, m.error ?? null);
      });
      w.on('error', (e) => this.current?.reject(e));
      w.on('exit', (code) => { if (code !== 0) this.current?.reject(new Error(`encode worker exited with code ${code}`)); });
    });
  }

  /** Threads that encode (1: the calling thread). */
  get threads(): number { return Math.max(1, this.workers.length); }

  /** A pool of `threads` workers (none for 1: the calling thread encodes). */
  static async create(tokenizer: Tokenizer, bytesPerToken: 2 | 4, threads: number): Promise<EncodePool> {
    const workers: Worker[] = [];
    if (threads > 1) {
      for (let i = 0; i < threads; i++) {
        workers.push(new Worker(new URL('./encode-worker.mjs', import.meta.url), {
          workerData: { tokenizer: tokenizer.toJSON(), bytesPerToken },
        }));
      }
      try {
        await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
          w.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(String(m)))));
          w.once('error', reject);
          w.once('exit', (code) => reject(new Error(`encode worker exited with code ${code} during start-up`)));
        })));
      } catch (e) {
        for (const w of workers) void w.terminate();
        throw e;
      }
      // Unreferenced between encodes, so a process that forgets close() still exits; encode() refs them while it waits.
      // (Only our listeners go: the Worker's own, e.g. 'newListener', start its message port.)
      for (const w of workers) {
        for (const event of ['message', 'error', 'exit']) w.removeAllListeners(event);
        w.unref();
      }
    }
    return new EncodePool(tokenizer, bytesPerToken, workers);
  }

  /**
   * Encodes the pieces and calls `sink` with their ids in order, and `onPiece` with each piece's
   * byte length once its ids are handed on. `pieces` is read on the calling thread, lazily.
   */
  async encode(pieces: Iterable<TextPiece>, stories: boolean, sink: (tokens: Tokens) => void, onPiece?: (bytes: number) => void): Promise<void> {
    if (this.workers.length === 0) {
      for (const p of pieces) {
        sink(encodePiece(this.tokenizer, p, stories, this.bytesPerToken));
        onPiece?.(p.bytes.length);
      }
      return;
    }
    for (const w of this.workers) w.ref();
    const it = pieces[Symbol.iterator]();
    const done = new Map<number, { tokens: Tokens; bytes: number }>();
    const sizes = new Map<number, number>();
    let nextId = 0, nextOut = 0, exhausted = false, failed = false;
    await new Promise<void>((resolve, reject) => {
      const fail = (e: unknown) => { if (!failed) { failed = true; reject(e); } };
      const pump = () => {
        try {
          while (!exhausted && !failed) {
            let w = -1;
            for (let i = 0; i < this.workers.length; i++) if (this.outstanding[i] < PER_WORKER && (w < 0 || this.outstanding[i] < this.outstanding[w])) w = i;
            if (w < 0) break;
            const r = it.next();
            if (r.done) { exhausted = true; break; }
            const id = nextId++;
            sizes.set(id, r.value.bytes.length);
            this.outstanding[w]++;
            this.workers[w].postMessage({ id, bytes: r.value.bytes, openStart: r.value.openStart, openEnd: r.value.openEnd, stories },
              [r.value.bytes.buffer as ArrayBuffer]);
          }
          if (exhausted && nextOut === nextId) resolve();
        } catch (e) {
          fail(e); // reading the text failed (a CorpusError): the pieces in flight are dropped
        }
      };
      this.current = {
        resolve, reject: fail,
        onResult: (id, tokens, error) => {
          if (failed) return;
          if (error !== null || tokens === null) { fail(new Error(`encoding failed: ${error}`)); return; }
          done.set(id, { tokens, bytes: sizes.get(id)! });
          sizes.delete(id);
          try {
            for (let d = done.get(nextOut); d; d = done.get(nextOut)) {
              done.delete(nextOut++);
              sink(d.tokens);
              onPiece?.(d.bytes);
            }
          } catch (e) {
            fail(e);
            return;
          }
          pump();
        },
      };
      pump();
    }).finally(() => {
      this.current = null;
      for (const w of this.workers) w.unref();
    });
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
