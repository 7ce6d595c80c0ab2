// Picking a backend: the one place that knows every implementation of the ops contract
// (src/ops/types.ts). Layers and models receive an `Ops` and never import a backend; the code that
// builds them (the trainer, the CLI, tasks, tests) calls createOps.
import type { DType, Ops } from '../ops/types.js';
import { ReferenceOps } from './reference/index.js';
import type { KernelPath } from './wasm/runtime.js';

export type BackendName = 'reference' | 'wasm' | 'cuda';

export interface CreateOpsOptions {
  backend?: BackendName;
  /** reference only: 'f64' (gradient checks) or 'f32'. The WASM backend is always f32. */
  dtype?: DType;
  /** wasm only: worker threads for large products (default: every core). */
  threads?: number;
  /** wasm only: force a kernel path instead of the auto-detected one. */
  path?: KernelPath | 'auto';
  /** cuda only: synchronise after every launch, so a device fault names its op (slow). */
  debug?: boolean;
}

export async function createOps(opts: CreateOpsOptions = {}): Promise<Ops> {
  const backend = opts.backend ?? 'wasm';
  if (backend === 'reference') return new ReferenceOps(opts.dtype ?? 'f64');
  if (backend === 'wasm') {
    if (opts.dtype && opts.dtype !== 'f32') throw new RangeError(`the wasm backend computes in f32, not ${opts.dtype}`);
    const { createWasmOps } = await import('./wasm/index.js');
    return createWasmOps({ threads: opts.threads, path: opts.path });
  }
  if (backend === 'cuda') {
    if (opts.dtype && opts.dtype !== 'f32') throw new RangeError(`the cuda backend computes in f32, not ${opts.dtype}`);
    // Loaded on demand: the addon is optional and absent from most installs. Throws with the
    // reason (not built, no GPU, driver too old) when CUDA is unavailable.
    const { createCudaOps } = await import('./cuda/ops.js');
    return createCudaOps({ debug: opts.debug });
  }
  throw new RangeError(`unknown backend '${backend as string}' (expected reference, wasm or cuda)`);
}
