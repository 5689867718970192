/**
 * The command tree. Each group of commands lives in its own module and registers itself here.
 */
import type { Command } from 'commander';
import { registerDevCommands } from './dev-commands';
import { registerCriuCommands } from './criu-commands';
import { registerStorageCommands } from './storage-commands';
import { registerWorkerCommands } from './worker-commands';
import { registerCheckpointCommands } from './checkpoint-commands';
import { registerScheduleCommands } from './schedule-commands';
import { registerTriggerCommands } from './trigger-commands';
import { addExamples } from './examples';
import { completionScript } from './completion';

export function registerCommands(program: Command): void {
  void program;
  registerDevCommands(program);
  registerCriuCommands(program);
  registerStorageCommands(program);
  registerWorkerCommands(program);
  registerCheckpointCommands(program);
  registerScheduleCommands(program);
  registerTriggerCommands(program);
  program
    .command('completion')
    .description('Print a shell completion script for ferry (bash or zsh): commands, subcommands and options')
    .argument('<shell>', 'bash or zsh')
    .addHelpText('after', `
Examples:
  $ ferry completion bash > /etc/bash_completion.d/ferry      # system-wide, new shells
  $ source <(ferry completion bash)                           # this shell only
  $ ferry completion zsh > "\${fpath[1]}/_ferry"               # zsh (uses its bash completion support)`)
    .action((shell: string) => {
      process.stdout.write(completionScript(program, shell));
    });
  addExamples(program);
}
