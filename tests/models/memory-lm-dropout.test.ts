// Dropout in memory-lm (src/models/memory-lm.ts: embeddings, each block's memory branch and FFN
// branch): the shared dropout cases (tests/models/dropout-cases.ts), including the registered
// fixed-mask gradient check memory-lm-dropout.
import { MemoryLM } from '../../src/models/memory-lm.js';
import { smallMemoryLMConfig } from '../../src/gradcheck/memory-checks.js';
import { describeDropout } from './dropout-cases.js';

describeDropout('memory-lm', {
  model: 'memory-lm',
  checks: ['memory-lm-dropout'],
  make: (ops, dropout, rng) => new MemoryLM(ops, smallMemoryLMConfig({ dropout }), rng),
  time: 7,
  sites: 5,
  trainOptions: { layers: 1, heads: 2, dModel: 8, ffHidden: 8, levels: 2 },
});
