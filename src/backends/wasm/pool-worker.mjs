// A worker thread of the shared pool (the protocol is in ./pool-protocol.mjs, the caller's side
// in ./worker-pool.ts). Plain JavaScript so that it starts without a TypeScript loader. It
// instantiates the compiled kernel module on the shared memory, then loops: claim a task of the
// current job, run it with this thread's scratch, count it done; when no task is left, spin a
// little, then sleep until the claim word changes (a new job, or dispose()).
import { parentPort, workerData } from 'node:worker_threads';
import { POOL, runTask, threadState } from './pool-protocol.mjs';

const { module, memory, ctl: ctlPtr, spinMs, gemmFn, gemmPackedFn, gemmCtl, gemmScratch, batchCtl, batchScratch, rowCtl, failureText } = workerData;

// Atomics.pause (x86 `pause`) keeps the spin cheap for the core; older Node lacks it.
const pause = typeof Atomics.pause === 'function' ? Atomics.pause : () => {};
const { CLAIM, QUIT, DONE, ERROR, FAMILY, COUNT, INTS } = POOL;

const instance = new WebAssembly.Instance(module, {
  env: { memory, abort() { throw new Error('handgrad: a WASM kernel aborted'); } },
});
const x = instance.exports;
const ctl = new Int32Array(memory.buffer, ctlPtr, INTS);
const state = threadState(x, x[gemmFn], x[gemmPackedFn], memory, gemmCtl, gemmScratch, batchCtl, batchScratch, rowCtl);

/**
 * Writes the error's text for the caller (./worker-pool.ts throws it from run()): length first
 * claimed with -1 so that of two failing workers one writes, then the bytes, then the length.
 */
function leaveFailureText(e) {
  const head = new Int32Array(failureText, 0, 1);
  if (Atomics.compareExchange(head, 0, 0, -1) !== 0) return;
  const room = new Uint8Array(failureText, 4);
  const text = e instanceof Error ? (e.stack ?? e.message) : String(e);
  const { written } = new TextEncoder().encodeInto(text, room);
  Atomics.store(head, 0, written);
}

parentPort.postMessage('ready');

for (;;) {
  const word = Atomics.load(ctl, CLAIM);
  if (Atomics.load(ctl, QUIT) !== 0) break;
  const i = word & 0xffff;
  if (i < ctl[COUNT]) {
    // Claim task i of the job this word belongs to; if the word moved on, look again.
    if (Atomics.compareExchange(ctl, CLAIM, word, word + 1) !== word) continue;
    try {
      runTask(ctl[FAMILY], i, state);
    } catch (e) {
      leaveFailureText(e);
      Atomics.store(ctl, ERROR, 1);
    }
    Atomics.add(ctl, DONE, 1);
    Atomics.notify(ctl, DONE);
    continue;
  }
  // Nothing to claim. Spin a little first: during training jobs come back to back and a futex
  // wake-up costs as much as a small product. Not long, though: on a machine with more busy
  // threads than cores a spinning thread takes time from the ones doing work.
  const deadline = performance.now() + spinMs;
  while (Atomics.load(ctl, CLAIM) === word && performance.now() < deadline) pause();
  if (Atomics.load(ctl, CLAIM) === word) Atomics.wait(ctl, CLAIM, word);
}
