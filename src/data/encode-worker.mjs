// A worker of src/data/encode-pool.ts: encodes the text pieces it is sent with encodePiece
// (src/data/encode-job.ts, the same function the calling thread uses) and sends the ids back.
// Plain JavaScript that registers tsx first, so the TypeScript sources load in this thread as in
// the main one.
import { parentPort, workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { encodePiece } = await import('./encode-job.ts');
const { tokenizerFromJSON } = await import('./tokenizer.ts');
const tokenizer = tokenizerFromJSON(workerData.tokenizer);

parentPort.on('message', (job) => {
  try {
    const tokens = encodePiece(tokenizer, job, job.stories, workerData.bytesPerToken);
    parentPort.postMessage({ id: job.id, tokens }, [tokens.buffer]);
  } catch (e) {
    parentPort.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) });
  }
});
parentPort.postMessage('ready');
