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

export function registerCommands(program: Command): void {
  void program;
  registerDevCommands(program);
  registerCriuCommands(program);
  registerStorageCommands(program);
  registerWorkerCommands(program);
  registerCheckpointCommands(program);
  registerScheduleCommands(program);
  registerTriggerCommands(program);
  addExamples(program);
}
