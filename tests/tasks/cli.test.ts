// `handgrad task` as a user runs it: a separate process, judged by exit code, stdout and stderr.
import { describe, expect, it } from 'vitest';
import { listTasks } from '../../src/tasks/registry.js';
import { runHandgrad } from '../cli/helpers.js';

const handgrad = (...args: string[]) => runHandgrad(args);

describe('handgrad task', () => {
  it('task xor --json: exit 0, the result as one JSON object on the only stdout line', () => {
    const r = handgrad('task', 'xor', '--seed', '2', '--steps', '200', '--json');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1); // --json: the human-readable report goes to stderr
    const result = JSON.parse(lines[0]) as Record<string, unknown>;
    expect(result).toMatchObject({ task: 'xor', value: 1, passed: true, seed: 2, steps: 200, bestLineAccuracy: 0.75 });
    expect((result.perceptron as { accuracy: number }).accuracy).toBeLessThanOrEqual(0.75);
    expect(typeof result.seconds).toBe('number');
    expect(r.stderr).toContain('xor: MLP accuracy on XOR = 1');
  });

  it('task --list names every registered task; --list --json gives them as data', () => {
    const r = handgrad('task', '--list', '--json');
    expect(r.code).toBe(0);
    const names = listTasks().map((t) => t.name);
    for (const n of ['xor', 'gates']) expect(names).toContain(n);
    const json = JSON.parse(r.stdout.trimEnd().split('\n').at(-1)!) as { tasks: { name: string }[] };
    expect(json.tasks.map((t) => t.name)).toEqual(names);
  });

  it('an unknown or missing task, or a bad --steps, is a one-line usage error (exit 2)', () => {
    for (const [args, mention] of [
      [['task', 'xr'], "unknown task 'xr' (known tasks: xor, gates"],
      [['task'], 'missing task name'],
      [['task', 'xor', '--steps', 'many'], '--steps'],
    ] as const) {
      const r = handgrad(...args);
      expect(r.code, args.join(' ')).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^handgrad: /);
      expect(lines[0]).toContain(mention);
      expect(r.stdout).toBe('');
    }
  });
});
