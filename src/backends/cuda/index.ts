// Loader for the optional CUDA addon (build/cuda/Release/handgrad.node, built by `npm run build:cuda`).
// Never throws: a missing addon, a CPU-only build or a machine without a GPU all answer
// { available: false, reason }. The CUDA ops backend plugs into src/ops with the CUDA issue.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CudaStatus {
  available: boolean;
  reason: string;
  devices: string[];
}

const addonPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'build', 'cuda', 'Release', 'handgrad.node');

export function cudaStatus(path: string = addonPath): CudaStatus {
  if (!existsSync(path)) return { available: false, reason: 'CUDA addon not built (npm run build:cuda)', devices: [] };
  try {
    const addon = createRequire(import.meta.url)(path) as {
      info(): { cuda: boolean; devices: number; names: string[]; error?: string };
    };
    const info = addon.info();
    if (!info.cuda) return { available: false, reason: info.error ?? 'no CUDA device', devices: [] };
    return { available: true, reason: `${info.devices} CUDA device(s)`, devices: info.names };
  } catch (e) {
    return { available: false, reason: `CUDA addon failed to load: ${(e as Error).message.split('\n')[0]}`, devices: [] };
  }
}
