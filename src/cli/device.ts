// --backend / --device: which Ops backend a command runs on. `--device cuda` is the name the
// GPU issue uses; it means exactly `--backend cuda`. Giving both with different values is refused.
// Whether CUDA is really there is found out when the backend is opened (createOps): a machine
// without the addon or a GPU gets one line and exit 2 from the command, never a stack trace.
import { UsageError } from './args.js';
import type { BackendName } from '../backends/index.js';
import { createOps } from '../backends/index.js';
import type { Ops } from '../ops/types.js';

export const BACKEND_CHOICES = ['wasm', 'reference', 'cuda'] as unknown as readonly BackendName[];

/** The backend a command was asked for (undefined: its default). */
export function pickBackend(cmd: string, backend: BackendName | undefined, device: BackendName | undefined): BackendName | undefined {
  if (backend !== undefined && device !== undefined && backend !== device) {
    throw new UsageError(`${cmd}: --backend ${backend} and --device ${device} disagree (they are the same option; give one)`);
  }
  return device ?? backend;
}

/**
 * Opens a backend for a command; "CUDA unavailable" (or a build without the CUDA backend)
 * becomes a UsageError: one line, exit 2. `threads`: wasm only.
 */
export async function openOps(cmd: string, backend: BackendName, threads?: number): Promise<Ops> {
  if ((backend as string) !== 'cuda') {
    return createOps(backend === 'reference' ? { backend: 'reference', dtype: 'f64' } : { backend: 'wasm', threads });
  }
  try {
    return await createOps({ backend } as Parameters<typeof createOps>[0]);
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    throw new UsageError(`${cmd}: --device cuda: ${/unknown backend/.test(msg) ? 'CUDA unavailable (this build has no CUDA backend)' : msg}`);
  }
}
