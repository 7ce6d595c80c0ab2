// A batch-pool worker thread (the protocol is described in src/backends/wasm/batch-pool.ts).
// Plain JavaScript so that it starts without a TypeScript loader. It instantiates the compiled
// kernel module on the shared memory, then loops: sleep until a job is published, claim items of
// it one at a time and run each (./batch-items.mjs) with this thread's scratch.
import { parentPort, workerData } from 'node:worker_threads';
import { CTL, runItem } from './batch-items.mjs';

const { module, memory, ctl: ctlPtr, scratch } = workerData;
const { CLAIM, QUIT, DONE, ERROR, ITEMS, INTS } = CTL;

const instance = new WebAssembly.Instance(module, {
  env: { memory, abort() { throw new Error('handgrad: a WASM kernel aborted'); } },
});
const x = instance.exports;
const ctl = new Int32Array(memory.buffer, ctlPtr, INTS);
const ctlF = new Float32Array(memory.buffer, ctlPtr, INTS);
const ctlD = new Float64Array(memory.buffer, ctlPtr, INTS / 2);

parentPort.postMessage('ready');

for (;;) {
  const word = Atomics.load(ctl, CLAIM);
  if (Atomics.load(ctl, QUIT) !== 0) break;
  const i = word & 0xffff;
  if (i < ctl[ITEMS]) {
    // Claim item i of the job this word belongs to; if the word moved on, look again.
    if (Atomics.compareExchange(ctl, CLAIM, word, word + 1) !== word) continue;
    try {
      runItem(x, ctl, ctlF, ctlD, i, scratch);
    } catch (e) {
      console.error('handgrad: batch worker:', e);
      Atomics.store(ctl, ERROR, 1);
    }
    Atomics.add(ctl, DONE, 1);
    Atomics.notify(ctl, DONE);
    continue;
  }
  Atomics.wait(ctl, CLAIM, word);
}
