// Entry of the plain-SIMD build: every kernel family, re-exported. One file per op family,
// mirroring src/ops: gemm, elementwise (activations), rows (softmax, cross-entropy, bias),
// layernorm, embedding, optim (Adam, norms), recurrent (fused LSTM/GRU cells), attention (fused
// flash-style attention), moe (SwiGLU and the MoE helpers), memory_recurrence (the associative-
// memory recurrence of the nested-learning memories).
export * from './heap_base';
export * from './gemm';
export * from './elementwise';
export * from './rows';
export * from './layernorm';
export * from './embedding';
export * from './optim';
export * from './recurrent';
export * from './attention';
export * from './moe';
export * from './memory_recurrence';
