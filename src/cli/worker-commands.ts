/**
 * `ferry worker`: runs ferry's workflow code (shared queue) and one host's activities (that
 * host's own queue) until interrupted. Run one per host name; several names may share a machine,
 * each with its own staging dir, to simulate several hosts.
 */
import type { Command } from 'commander';
import { parseHost } from './id-args';
import { parseDuration } from './output';
import { UsageError } from './usage-error';

interface WorkerFlags {
  host?: string;
  workflows: boolean;
  activities: boolean;
  directAddress?: string;
  connectTimeout?: string;
  metricsAddress?: string;
}

/**
 * SIGINT / SIGTERM while the worker still waits for Temporal: stop waiting and exit cleanly. Once
 * connected, the Temporal runtime's own handlers take over (they let running activities finish).
 */
function abortOnSignals(): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const onSignal = (name: string): void => {
    process.stderr.write(`ferry worker: ${name} while waiting for Temporal; exiting\n`);
    controller.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    release: () => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    },
  };
}

export function registerWorkerCommands(program: Command): void {
  program
    .command('worker')
    .description("Run ferry's Temporal worker for one host: workflow code plus this host's CRIU and storage activities")
    .option('--host <name>', "name of this host, as checkpoints and migrations refer to it (default: this machine's hostname)")
    .option('--no-workflows', "run only this host's activities; the workflow code runs in another `ferry worker` (e.g. on a small or slow host)")
    .option('--no-activities', 'run only the workflow code (shared queue); no CRIU or storage work on this machine')
    .option('--direct-address <addr[:port]>', "where other hosts' workers send a migration's final layers straight to this one, over TLS with a key made for each migration (default: $FERRY_DIRECT_ADDRESS, else this machine's first non-loopback IPv4, any free port)")
    .option('--metrics-address <host:port>', 'serve Prometheus metrics (Temporal SDK and ferry: ferry_workflows_total, ferry_dump_frozen_milliseconds, ferry_bytes_stored_bytes_total, ...) at http://HOST:PORT/metrics (default: $FERRY_METRICS_ADDRESS, else none)')
    .option('--connect-timeout <duration>', 'give up when Temporal has not answered for this long, e.g. 2m (default: wait for it, retrying every 1 s doubling to 30 s)')
    .addHelpText('after', `
Examples:
  $ ferry worker                      # this machine, under its hostname
  $ ferry worker --host node-a &      # two simulated hosts on one machine
  $ ferry worker --host node-b &
  $ ferry worker --no-activities &    # workflow code only, e.g. next to the Temporal server
  $ ferry worker --host vm-1 --no-workflows
  $ ferry worker --direct-address 10.0.0.5:7300   # migrations to this host send their final layers here

Until Temporal answers, the worker waits for it and says so on stderr at each attempt.
Stops cleanly on SIGINT / SIGTERM (running activities are given time to finish).`)
    .action(async (opts: WorkerFlags) => {
      if (!opts.workflows && !opts.activities) {
        throw new UsageError('--no-workflows and --no-activities together leave the worker nothing to run');
      }
      const host = parseHost('--host', opts.host);
      /* eslint-disable @typescript-eslint/no-require-imports */
      const { loadConfig, parseDirectAddress } = require('../config/config') as typeof import('../config/config');
      const { runFerryWorker } = require('../worker') as typeof import('../worker');
      /* eslint-enable @typescript-eslint/no-require-imports */
      const config = loadConfig();
      if (opts.directAddress !== undefined) config.directAddress = parseDirectAddress('--direct-address', opts.directAddress);
      const metricsAddress = opts.metricsAddress ?? (process.env.FERRY_METRICS_ADDRESS || undefined);
      if (metricsAddress !== undefined && !/^[^\s:]+:\d{1,5}$/.test(metricsAddress)) {
        throw new UsageError(`--metrics-address must be host:port, e.g. 127.0.0.1:9464, got ${JSON.stringify(metricsAddress.slice(0, 60))}`);
      }
      const connectTimeoutMs = opts.connectTimeout === undefined ? undefined : parseDuration('--connect-timeout', opts.connectTimeout);
      const waiting = abortOnSignals();
      try {
        await runFerryWorker({
          config,
          host,
          workflows: opts.workflows,
          activities: opts.activities,
          ...(metricsAddress ? { metricsAddress } : {}),
          ...(connectTimeoutMs !== undefined ? { connectTimeoutMs } : {}),
          signal: waiting.signal,
          onWaiting: (message) => process.stderr.write(`ferry worker: ${message}\n`),
          onWarning: (message) => process.stderr.write(`ferry: warning: ${message}\n`),
          onTrigger: (line) => process.stderr.write(`ferry worker: trigger: ${line}\n`),
          onReady: (info) => {
            waiting.release();
            const parts = [
              ...(info.workflowQueue ? [`workflows on ${info.workflowQueue}`] : []),
              ...(info.hostQueue ? [`activities on ${info.hostQueue}, staging in ${info.stagingDir}`] : []),
              ...(info.directAddress ? [`migrations' final layers received on ${info.directAddress}`] : []),
              ...(info.hostPolicy ? [`host policy ${info.hostPolicy}`] : []),
              ...(info.triggers ? [info.triggers] : []),
            ];
            const who = opts.activities ? `for host ${host}` : '(workflow code only)';
            process.stderr.write(`ferry worker ${who} ready: ${parts.join(', ')}, Temporal at ${config.temporal.address}\n`);
          },
        });
      } finally {
        waiting.release();
      }
    });
}
