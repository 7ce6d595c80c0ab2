// An attention worker thread (the protocol is described in src/backends/wasm/attention-pool.ts).
// Plain JavaScript so that it starts without a TypeScript loader. It instantiates the compiled
// kernel module on the shared memory, then loops: sleep until a job is published, claim batch
// items of it one at a time and run the fused kernel on each with this thread's scratch.
import { parentPort, workerData } from 'node:worker_threads';

const { module, memory, ctl: ctlPtr, layout, scratch } = workerData;
const { CLAIM, QUIT, DONE, ERROR, KIND, CHUNKS, ARGS, INTS } = layout;

const instance = new WebAssembly.Instance(module, {
  env: { memory, abort() { throw new Error('handgrad: a WASM kernel aborted'); } },
});
const { attention, attentionBackward } = instance.exports;
const ctl = new Int32Array(memory.buffer, ctlPtr, INTS);
const ctlF = new Float32Array(memory.buffer, ctlPtr, INTS);

parentPort.postMessage('ready');

for (;;) {
  const word = Atomics.load(ctl, CLAIM);
  if (Atomics.load(ctl, QUIT) !== 0) break;
  const i = word & 0xffff;
  if (i < ctl[CHUNKS]) {
    // Claim item i of the job this word belongs to; if the word moved on, look again.
    if (Atomics.compareExchange(ctl, CLAIM, word, word + 1) !== word) continue;
    try {
      runItem(i);
    } catch (e) {
      console.error('handgrad: attention worker:', e);
      Atomics.store(ctl, ERROR, 1);
    }
    Atomics.add(ctl, DONE, 1);
    Atomics.notify(ctl, DONE);
    continue;
  }
  Atomics.wait(ctl, CLAIM, word);
}

/** Batch item i of the current job: the kernel on B = 1 with every pointer moved to item i. */
function runItem(i) {
  const a = ARGS;
  const H = ctl[a + 10], D = ctl[a + 11], Tq = ctl[a + 12], Tk = ctl[a + 13], causal = ctl[a + 14], qOffset = ctl[a + 15];
  const qs = ctl[a + 16], kvs = ctl[a + 17], os = ctl[a + 18], scale = ctlF[a + 19];
  const qo = i * Tq * qs * 4, ko = i * Tk * kvs * 4, oo = i * Tq * os * 4, lo = i * H * Tq * 4;
  if (ctl[KIND] === 0) {
    attention(ctl[a] + qo, ctl[a + 1] + ko, ctl[a + 2] + ko, ctl[a + 3] + oo, ctl[a + 4] + lo,
      1, H, D, Tq, Tk, causal, qOffset, qs, kvs, os, scale, scratch);
  } else {
    attentionBackward(ctl[a] + qo, ctl[a + 1] + ko, ctl[a + 2] + ko, ctl[a + 3] + oo, ctl[a + 4] + lo, ctl[a + 5] + oo,
      ctl[a + 6] + qo, ctl[a + 7] + ko, ctl[a + 8] + ko,
      1, H, D, Tq, Tk, causal, qOffset, qs, kvs, os, scale, scratch);
  }
}
