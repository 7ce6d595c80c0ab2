// Where the JS-side allocator may start handing out memory: everything below belongs to the
// module's own static data (there is none in practice, but this keeps us honest).
export function heapBase(): usize {
  return (__heap_base + 63) & ~(63 as usize);
}
