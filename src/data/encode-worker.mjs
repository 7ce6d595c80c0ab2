// A worker of src/data/encode-pool.ts: encodes the text pieces it is sent with encodePiece
// (src/data/encode-job.ts, the same function the calling thread uses) and sends the ids back.
// Plain JavaScript so that it starts without a TypeScript loader: in the npm package (dist/) it
// imports the compiled .js beside it; in a source checkout it registers tsx first and imports the
// .ts sources, as the main thread does.
import { existsSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

const compiled = existsSync(new URL('./encode-job.js', import.meta.url));
if (!compiled) (await import('tsx/esm/api')).register();
const ext = compiled ? 'js' : 'ts';
const { encodePiece } = await import(`./encode-job.${ext}`);
const { tokenizerFromJSON } = await import(`./tokenizer.${ext}`);
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
