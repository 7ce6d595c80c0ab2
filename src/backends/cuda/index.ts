// Loader for the optional CUDA addon (build/cuda/Release/handgrad.node, built by `npm run build:cuda`).
// Never throws: a missing addon, a CPU-only build or a machine without a GPU all answer
// { available: false, reason }. The ops backend itself is ./ops.ts (CudaOps).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../util/package-root.js';

export interface CudaStatus {
  available: boolean;
  reason: string;
  devices: string[];
}

/** What addon.cc's info() answers. */
export interface CudaInfo { cuda: boolean; built: boolean; devices: number; names: string[]; shortName?: string; error?: string }

export const defaultAddonPath = join(packageRoot(), 'build', 'cuda', 'Release', 'handgrad.node');

/** Loads the addon module (cached per path); throws when it is missing or does not load. */
const loaded = new Map<string, unknown>();
export function loadCudaAddon(path: string = defaultAddonPath): unknown {
  let m = loaded.get(path);
  if (m === undefined) {
    if (!existsSync(path)) throw new Error('CUDA addon not built (npm run build:cuda)');
    m = createRequire(import.meta.url)(path);
    loaded.set(path, m);
  }
  return m;
}

export function cudaStatus(path: string = defaultAddonPath): CudaStatus {
  if (!existsSync(path)) return { available: false, reason: 'CUDA addon not built (npm run build:cuda)', devices: [] };
  try {
    const addon = loadCudaAddon(path) as { info(): CudaInfo };
    const info = addon.info();
    if (!info.cuda) return { available: false, reason: info.error ?? 'no CUDA device', devices: [] };
    return { available: true, reason: `${info.devices} CUDA device(s)`, devices: info.names };
  } catch (e) {
    return { available: false, reason: `CUDA addon failed to load: ${(e as Error).message.split('\n')[0]}`, devices: [] };
  }
}
