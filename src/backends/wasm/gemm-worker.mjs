// A GEMM worker thread (the protocol is described in src/backends/wasm/gemm.ts). Plain JavaScript
// so that it starts without a TypeScript loader. It instantiates the compiled kernel module on the
// shared memory, then loops: claim a chunk of the current job, run gemmBlock on it with this
// thread's scratch, count it done; when no chunk is left, spin a little, then sleep until the
// claim word changes (a new job, or dispose()).
import { parentPort, workerData } from 'node:worker_threads';

const { module, memory, fn, ctl: ctlPtr, layout, scratch, spinMs } = workerData;
// Atomics.pause (x86 `pause`) keeps the spin cheap for the core; older Node lacks it.
const pause = typeof Atomics.pause === 'function' ? Atomics.pause : () => {};
// Int32 indices into the control block (CTL in gemm.ts).
const { CLAIM, DONE, QUIT, ERROR, ARGS, BY_COLS, CHUNKS, KIND, BOUNDS, INTS } = layout;
// Kinds of job (JOB in gemm.ts): 0 gemm, 1 LSTM cell, 2 LSTM cell backward, 3 GRU cell,
// 4 GRU cell backward (the cells by row ranges).
const JOB_GEMM = 0, JOB_LSTM_CELL = 1, JOB_LSTM_CELL_BACKWARD = 2, JOB_GRU_CELL = 3;

const instance = new WebAssembly.Instance(module, {
  env: { memory, abort() { throw new Error('handgrad: a WASM kernel aborted'); } },
});
const block = instance.exports[fn];
const { lstmCell, lstmCellBackward, gruCell, gruCellBackward } = instance.exports;
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
    const lo = ctl[BOUNDS + i], hi = ctl[BOUNDS + i + 1];
    const kind = ctl[KIND];
    try {
      if (kind === JOB_GEMM) {
        const byCols = ctl[BY_COLS] !== 0, m = ctl[ARGS + 3], n = ctl[ARGS + 4];
        block(ctl[ARGS], ctl[ARGS + 1], ctl[ARGS + 2], m, n, ctl[ARGS + 5], ctlF[ARGS + 6], ctl[ARGS + 7],
          ctl[ARGS + 8], ctlF[ARGS + 9], ctl[ARGS + 10],
          byCols ? 0 : lo, byCols ? m : hi, byCols ? lo : 0, byCols ? hi : n, scratch);
      } else {
        // Cell rows [lo, hi): LSTM gate rows are 4H floats, GRU gate rows 3H, state rows H
        // (runChunk in gemm.ts).
        const H = ctl[ARGS + 7], s4 = lo * 16 * H, s3 = lo * 12 * H, s1 = lo * 4 * H;
        if (kind === JOB_LSTM_CELL) {
          lstmCell(ctl[ARGS] + s4, ctl[ARGS + 1] + s1, ctl[ARGS + 2] + s1, ctl[ARGS + 3] + s1, ctl[ARGS + 4] + s1, hi - lo, H);
        } else if (kind === JOB_LSTM_CELL_BACKWARD) {
          lstmCellBackward(ctl[ARGS] + s4, ctl[ARGS + 1] + s1, ctl[ARGS + 2] + s1, ctl[ARGS + 3] + s1, ctl[ARGS + 4] + s1,
            ctl[ARGS + 5] + s4, hi - lo, H);
        } else if (kind === JOB_GRU_CELL) {
          gruCell(ctl[ARGS] + s3, ctl[ARGS + 1] + s3, ctl[ARGS + 2] + s1, ctl[ARGS + 3] + s1, hi - lo, H);
        } else {
          gruCellBackward(ctl[ARGS] + s3, ctl[ARGS + 1] + s3, ctl[ARGS + 2] + s1, ctl[ARGS + 3] + s1, ctl[ARGS + 4] + s3,
            ctl[ARGS + 5] + s3, ctl[ARGS + 8] + s1, hi - lo, H);
        }
      }
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
