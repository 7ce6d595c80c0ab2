// The `dropout` model option (--dropout), declared once for every model that has it: models that
// declare the same key share one flag, and the help shows the text of the first spec registered,
// so one text names what each family drops.
import type { ModelOption } from './types.js';

export const DROPOUT_OPTION: ModelOption = {
  key: 'dropout', type: 'float', min: 0, max: 0.9,
  description: 'dropout in training: on the embeddings and every residual branch (transformer, moe, moe-dense, memory-lm; ' +
    'transformer, moe, moe-dense: also the attention probabilities), ' +
    'on the embeddings and outputs (rnn, lstm, gru), or on the embeddings and the LSTM output before the attention (lstm-attention)',
};
