// PLACEHOLDER: kernels for this family are written in assembly/optim.ts
export const _optimPlaceholder: i32 = 0;
