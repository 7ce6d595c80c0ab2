// A GEMM worker thread (the protocol is described in src/backends/wasm/gemm.ts). Plain JavaScript
// so that it starts without a TypeScript loader. It instantiates the compiled kernel module on the
// shared memory, then loops: claim a chunk of the current job, run it (./gemm-chunks.mjs) with this
// thread's scratch, count it done; when no chunk is left, spin a little, then sleep until the
// claim word changes (a new job, or dispose()).
import { parentPort, workerData } from 'node:worker_threads';
import { CTL, runChunk } from './gemm-chunks.mjs';

const { module, memory, fn, packedFn, ctl: ctlPtr, scratch, spinMs } = workerData;
// Atomics.pause (x86 `pause`) keeps the spin cheap for the core; older Node lacks it.
const pause = typeof Atomics.pause === 'function' ? Atomics.pause : () => {};
const { CLAIM, DONE, QUIT, ERROR, CHUNKS, INTS } = CTL;

const instance = new WebAssembly.Instance(module, {
  env: { memory, abort() { throw new Error('handgrad: a WASM kernel aborted'); } },
});
const block = instance.exports[fn];
const packedBlock = instance.exports[packedFn];
const ctl = new Int32Array(memory.buffer, ctlPtr, INTS);
const ctlF = new Float32Array(memory.buffer, ctlPtr, INTS);

parentPort.postMessage('ready');

for (;;) {
  const word = Atomics.load(ctl, CLAIM);
  if (Atomics.load(ctl, QUIT) !== 0) break;
  const i = word & 0xff;
  if (i < ctl[CHUNKS]) {
    // Claim chunk i of the job this word belongs to; if the word moved on, look again.
    if (Atomics.compareExchange(ctl, CLAIM, word, word + 1) !== word) continue;
    try {
      runChunk(instance.exports, block, packedBlock, ctl, ctlF, i, scratch);
    } catch (e) {
      console.error('handgrad: gemm worker:', e);
      Atomics.store(ctl, ERROR, 1);
    }
    Atomics.add(ctl, DONE, 1);
    Atomics.notify(ctl, DONE);
    continue;
  }
  // Nothing to claim. Spin a little first: during training products come back to back and a
  // futex wake-up costs as much as a small product. Not long, though: on a machine with more
  // busy threads than cores a spinning thread takes time from the ones doing work.
  const deadline = performance.now() + spinMs;
  while (Atomics.load(ctl, CLAIM) === word && performance.now() < deadline) pause();
  if (Atomics.load(ctl, CLAIM) === word) Atomics.wait(ctl, CLAIM, word);
}
