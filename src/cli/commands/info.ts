// `handgrad info`: what this machine and this Node give the WASM backend (kernel path, threads,
// revectorization), read from the backend itself.
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { createWasmOps } from '../../backends/wasm/index.js';
import { availablePaths, canRevectorize, cpuModel, KERNEL_PATHS, nodeMajor, setWasmFlags, type KernelPath } from '../../backends/wasm/runtime.js';
import { parseChoice, parseInteger } from '../args.js';
import type { CliContext } from '../context.js';

export interface InfoReport {
  node: string;
  /** The node binary running this (process.execPath). */
  nodePath: string;
  /** Set when bin/handgrad.mjs started this process on Node 24 from an older Node: from what, and where Node 24 came from. */
  relaunchedFrom: string | null;
  v8: string;
  platform: string;
  arch: string;
  cpu: string;
  cores: number;
  /** The kernel path the backend chose (or was told to use) and that passed its self-check. */
  kernelPath: KernelPath;
  /** Threads the GEMM engine runs with (the calling thread included). */
  threads: number;
  threadsRequested: number;
  revectorize: { on: boolean; why: string };
  relaxedSimd: boolean;
  /** Kernel paths this process can run, fastest first. */
  availablePaths: KernelPath[];
  notices: string[];
}

// (module (func (param v128 v128 v128) (result v128) local.get 0 local.get 1 local.get 2 f32x4.relaxed_madd))
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00,
  0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x85, 0x02, 0x0b,
]);

export async function collectInfo(opts: { threads?: number; path?: KernelPath | 'auto' } = {}): Promise<InfoReport> {
  const flags = setWasmFlags(); // before anything is compiled, as the backend does
  const notices: string[] = [];
  const requested = opts.threads ?? availableParallelism();
  const ops = await createWasmOps({ threads: requested, path: opts.path ?? 'auto', onNotice: (l) => notices.push(l) });
  const relaxedSimd = WebAssembly.validate(RELAXED_PROBE);
  try {
    const can = canRevectorize();
    const why = flags.revectorize ? can.why
      : process.env.HANDGRAD_REVECTORIZE === '0' && can.ok ? 'turned off by HANDGRAD_REVECTORIZE=0'
        : can.why;
    return {
      node: process.versions.node,
      nodePath: process.execPath,
      relaunchedFrom: process.env.HANDGRAD_RELAUNCHED_FROM || null,
      v8: process.versions.v8,
      platform: process.platform,
      arch: process.arch,
      cpu: cpuModel(),
      cores: availableParallelism(),
      kernelPath: ops.path,
      threads: ops.threads,
      threadsRequested: requested,
      revectorize: { on: flags.revectorize, why },
      relaxedSimd,
      availablePaths: availablePaths(relaxedSimd),
      notices,
    };
  } finally {
    ops.dispose();
  }
}

export function registerInfo(program: Command, ctx: CliContext): void {
  program.command('info')
    .description('show the Node/V8 versions, CPU, and the WASM kernel path and threads this machine gets')
    .option('--threads <n>', 'threads to create the backend with (default: every core)', parseInteger('--threads', 1, 1024))
    .option('--path <path>', `force a kernel path (${['auto', ...KERNEL_PATHS].join(', ')})`, parseChoice('--path', ['auto', ...KERNEL_PATHS] as const))
    .option('--json', 'print one JSON object as the last line of stdout')
    .action(async (opts: { threads?: number; path?: KernelPath | 'auto'; json?: boolean }) => {
      ctx.jsonMode = !!opts.json;
      const r = await collectInfo({ threads: opts.threads, path: opts.path });
      for (const n of r.notices) ctx.note(n);
      const rows: [string, string][] = [
        ['node', `${r.node} (V8 ${r.v8}) on ${r.platform}/${r.arch}: ${r.nodePath}`],
        ...(r.relaunchedFrom ? [['started from', r.relaunchedFrom] as [string, string]] : []),
        ['cpu', `${r.cpu}, ${r.cores} cores`],
        ['kernel path', r.kernelPath],
        ['threads', r.threads === r.threadsRequested ? String(r.threads) : `${r.threads} (asked for ${r.threadsRequested})`],
        ['revectorize', `${r.revectorize.on ? 'on' : 'off'}: ${r.revectorize.why}`],
        ['relaxed SIMD', r.relaxedSimd ? 'yes' : 'no'],
        ['available paths', r.availablePaths.join(', ')],
      ];
      for (const [k, v] of rows) ctx.print(`${k.padEnd(16)} ${v}`);
      if (nodeMajor() < 24 && process.arch === 'x64') {
        ctx.print('hint: Node 24 revectorizes WASM SIMD to AVX2 (about 2x faster GEMM); the `handgrad` command starts itself on ' +
          'Node 24 when it finds or can fetch one (HANDGRAD_NODE=/path/to/node picks it; HANDGRAD_NODE=current stays)');
      }
      if (opts.json) ctx.json(r);
    });
}
