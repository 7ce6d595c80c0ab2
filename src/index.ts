// handgrad as a library: `import { train, loadCheckpoint, … } from 'handgrad'`. One entry point
// that re-exports the pieces the CLI is built from, so a program can do what `handgrad train` and
// `handgrad sample` do, or build on the registries. Nothing here starts a backend or reads a
// file on import (the model and task registries fill themselves when their modules load).
//
// Subpaths, for code that only needs a layer of it: 'handgrad/ops' (the ops contract: the Ops
// types), 'handgrad/backends' (createOps), 'handgrad/backends/wasm' and
// 'handgrad/backends/reference' (the backends themselves).

// ---- training, evaluation, sampling --------------------------------------------------------
export {
  train, evaluate, TRAIN_DEFAULTS, TrainConfigError, TrainingDivergedError,
  type TrainOptions, type TrainSummary, type TrainReporter, type TrainStart, type StepInfo, type ValInfo,
} from './train/trainer.js';
export { sampleTokens, sampleTokens as sample, type SampleOptions } from './models/sample.js';

// ---- checkpoints -----------------------------------------------------------------------------
export {
  loadCheckpoint, saveCheckpoint, checkpointKind, CheckpointError,
  type LoadedCheckpoint, type SaveCheckpointInput,
} from './train/checkpoint.js';

// ---- models and tasks ------------------------------------------------------------------------
export {
  getModel, listModels, registerModel, createModel, modelConfig, UnknownModelError,
  type ModelSpec, type ModelOption,
} from './models/registry.js';
export type { SequenceModel, TokenBatch } from './models/types.js';
export {
  getTask, listTasks, registerTask, runTask, UnknownTaskError,
  type TaskSpec, type TaskOptions, type TaskResult,
} from './tasks/registry.js';

// ---- data: corpora, tokenizers, batchers -------------------------------------------------------
export { loadCorpus, loadEmbeddedCorpus, CorpusError, type Corpus } from './data/corpus.js';
export { buildTokenizer, tokenizerFromJSON, TOKENIZER_KINDS, type Tokenizer, type TokenizerKind } from './data/tokenizer.js';
export { CharTokenizer } from './data/char-tokenizer.js';
export { WordTokenizer } from './data/word-tokenizer.js';
export { BpeTokenizer } from './data/bpe-tokenizer.js';
export { createBatcher, SequentialBatcher, RandomWindowBatcher, type Batcher } from './data/batcher.js';

// ---- backends ------------------------------------------------------------------------------------
export { createOps, type CreateOpsOptions, type BackendName } from './backends/index.js';
export type { Ops, Tensor } from './ops/types.js';
export { Rng } from './util/rng.js';
