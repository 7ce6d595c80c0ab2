// PLACEHOLDER: kernels for this family are written in assembly/layernorm.ts
export const _layernormPlaceholder: i32 = 0;
