/**
 * `ferry worker`: runs ferry's workflow code (shared queue) and one host's activities (that
 * host's own queue) until interrupted. Run one per host name; several names may share a machine,
 * each with its own staging dir, to simulate several hosts.
 */
import type { Command } from 'commander';
import { parseHost } from './checkpoint-commands';

interface WorkerFlags {
  host?: string;
}

export function registerWorkerCommands(program: Command): void {
  program
    .command('worker')
    .description("Run ferry's Temporal worker for one host: workflow code plus this host's CRIU and storage activities")
    .option('--host <name>', "name of this host, as checkpoints and migrations refer to it (default: this machine's hostname)")
    .addHelpText('after', `
Examples:
  $ ferry worker                      # this machine, under its hostname
  $ ferry worker --host node-a &      # two simulated hosts on one machine
  $ ferry worker --host node-b &

Stops cleanly on SIGINT / SIGTERM (running activities are given time to finish).`)
    .action(async (opts: WorkerFlags) => {
      const host = parseHost('--host', opts.host);
      /* eslint-disable @typescript-eslint/no-require-imports */
      const { loadConfig } = require('../config/config') as typeof import('../config/config');
      const { runFerryWorker } = require('../worker') as typeof import('../worker');
      /* eslint-enable @typescript-eslint/no-require-imports */
      const config = loadConfig();
      await runFerryWorker({
        config,
        host,
        onReady: (info) =>
          process.stderr.write(
            `ferry worker for host ${host} ready: workflows on ${info.workflowQueue}, activities on ${info.hostQueue}, ` +
              `staging in ${info.stagingDir}, Temporal at ${config.temporal.address}\n`,
          ),
      });
    });
}
