// `handgrad gradcheck [name...]`: runs the registered gradient checks (src/gradcheck/registry.ts)
// and prints each one's largest relative error with PASS/FAIL. Exit 1 when any check fails.
import type { Command } from 'commander';
import { UsageError } from '../args.js';
import type { CliContext } from '../context.js';

// Loaded on demand: the checks import every layer and model, which `info` and `bench` do not need.
async function registry(): Promise<typeof import('../../gradcheck/registry.js')> {
  try {
    return await import('../../gradcheck/registry.js');
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes('registry')) {
      throw new Error('gradient checks are not available: src/gradcheck/registry.ts is missing');
    }
    throw e;
  }
}

export function registerGradcheck(program: Command, ctx: CliContext): void {
  program.command('gradcheck')
    .description('compare every hand-written backward pass with finite differences (float64 reference backend)')
    .argument('[names...]', 'checks to run (default: all; see --list)')
    .option('--list', 'list the names of the checks and exit')
    .option('--json', 'print one JSON object as the last line of stdout')
    .action(async (names: string[], opts: { list?: boolean; json?: boolean }) => {
      ctx.jsonMode = !!opts.json;
      const { listGradChecks, runGradChecks } = await registry();
      const all = listGradChecks();
      if (opts.list) {
        for (const n of all) ctx.print(n);
        if (opts.json) ctx.json({ checks: all });
        return;
      }
      const unknown = names.filter((n) => !all.includes(n));
      if (unknown.length > 0) {
        throw new UsageError(`gradcheck: unknown check${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `'${n}'`).join(', ')} (see 'handgrad gradcheck --list')`);
      }
      const chosen = names.length > 0 ? [...new Set(names)] : all;
      const results = runGradChecks(chosen);
      const width = Math.max(4, ...results.map((r) => r.name.length));
      for (const r of results) {
        ctx.print(`${r.name.padEnd(width)}  max rel error ${r.maxRelError.toExponential(2)}  (tolerance ${r.tolerance.toExponential(0)})  ${r.passed ? 'PASS' : 'FAIL'}`);
      }
      const failed = results.filter((r) => !r.passed).map((r) => r.name);
      ctx.print(failed.length === 0 ? `all ${results.length} gradient checks passed`
        : `${failed.length} of ${results.length} gradient checks FAILED: ${failed.join(', ')}`);
      if (opts.json) ctx.json({ passed: failed.length === 0, count: results.length, failed, checks: results });
      if (failed.length > 0) ctx.exitCode = 1;
    });
}
