// PLACEHOLDER: kernels for this family are written in assembly/embedding.ts
export const _embeddingPlaceholder: i32 = 0;
