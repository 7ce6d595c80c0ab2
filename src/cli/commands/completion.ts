// `handgrad completion bash|zsh|fish|powershell`: prints a shell completion script, to be sourced
// from the shell's start-up file (e.g. `source <(handgrad completion bash)` in ~/.bashrc). The
// script asks the CLI itself what may come next (`handgrad complete -- <words so far>`), so the
// commands, their options and the model names are never out of step with this version.
// Built on @bomb.sh/tab (its commander adapter reads our program's commands and options).
import type { Command } from 'commander';
import tab from '@bomb.sh/tab/commander';
import { listModels } from '../../models/registry.js';

/** Registers `completion <shell>` and the hidden `complete -- …` the scripts call. Call it after every other command. */
export function registerCompletion(program: Command): void {
  const completion = tab(program, { completionCommandName: 'completion' });
  program.commands.find((c) => c.name() === 'completion')
    ?.description('print a shell completion script: `source <(handgrad completion bash)` (or zsh, fish, powershell)');
  // `handgrad train <TAB>`: the registered models (names and aliases).
  completion.commands.get('train')?.argument('model', (complete) => {
    for (const spec of listModels()) {
      for (const name of [spec.name, ...(spec.aliases ?? [])]) complete(name, spec.description);
    }
  });
}
