// PLACEHOLDER: kernels for this family are written in assembly/rows.ts
export const _rowsPlaceholder: i32 = 0;
