/**
 * Layer-store commands: push, pull, checkpoints ls|show|rm, gc. They talk to the bucket directly
 * (no Temporal), so they also work as a recovery tool when the workflows are down.
 */
import type { Command } from 'commander';
import { ConfigError, loadConfig, unencryptedStoreCheck } from '../config/config';
import { parseCheckpointId } from './id-args';
import type {
  LayerStore,
  CheckpointDescription,
  CheckpointSummary,
  GcResult,
  TransferProgress,
} from '../storage';
import { emit, formatBytes, note, parseCount, parseDuration, type OutputOptions } from './output';
import { UsageError } from './usage-error';

// The AWS SDK takes about a second to load: only the storage commands pay for it.
async function openStore(opts: { writing?: boolean } = {}): Promise<LayerStore> {
  const config = loadConfig();
  if (opts.writing) {
    const check = unencryptedStoreCheck(config);
    if (check && 'refuse' in check) throw new ConfigError('FERRY_ENCRYPTION_KEY_FILE', `is not set: ${check.refuse}`);
    if (check) process.stderr.write(`ferry: warning: ${check.warn}\n`);
  }
  const { openLayerStore } = await import('../storage');
  return openLayerStore(config);
}


/**
 * A one-line progress bar on stderr, only on a terminal, only without --json, and only once a
 * transfer has run for more than a moment (short ones print nothing).
 */
class ProgressBar {
  private readonly started = Date.now();
  private lastDraw = 0;
  private drawn = false;
  private readonly enabled: boolean;
  constructor(
    options: OutputOptions,
    private readonly label: string,
  ) {
    this.enabled = !options.json && Boolean(process.stderr.isTTY);
  }

  update = (p: TransferProgress): void => {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.started < 500 || (now - this.lastDraw < 100 && p.bytesDone < p.bytesTotal)) return;
    this.lastDraw = now;
    const width = 30;
    const frac = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : 1;
    const filled = Math.round(frac * width);
    const rate = p.bytesDone / Math.max(0.001, (now - this.started) / 1000);
    const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${formatBytes(p.bytesDone)} / ${formatBytes(p.bytesTotal)} ${formatBytes(rate)}/s`;
    process.stderr.write(`\r${line}\x1b[K`);
    this.drawn = true;
  };

  done(): void {
    if (this.drawn) process.stderr.write('\r\x1b[K');
  }
}

/** Ctrl-C cancels the transfer cleanly (in-flight parts settle; stored parts stay for a retry). */
function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSigint = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.removeListener('SIGINT', onSigint) };
}

async function withTransfer<T>(options: OutputOptions, label: string, run: (t: { signal: AbortSignal; onProgress: (p: TransferProgress) => void }) => Promise<T>): Promise<T> {
  const bar = new ProgressBar(options, label);
  const { signal, dispose } = interruptSignal();
  try {
    return await run({ signal, onProgress: bar.update });
  } finally {
    bar.done();
    dispose();
  }
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

function summaryLine(s: CheckpointSummary): string {
  const state = s.problem ? 'INVALID' : s.complete ? 'complete' : 'incomplete';
  const base = s.baseCheckpoints.length ? ` base=${s.baseCheckpoints.join(',')}` : '';
  return `${s.checkpointId.padEnd(32)} ${state.padEnd(10)} ${plural(s.layers, 'layer').padStart(10)} ${formatBytes(s.bytes).padStart(10)}  ${s.createdAt}${base}`;
}

function describeText(d: CheckpointDescription): string {
  const m = d.manifest;
  const lines = [
    `checkpoint ${m.checkpointId}: ${m.complete ? 'complete' : 'INCOMPLETE'}`,
    `  created ${m.createdAt}${m.completedAt ? `, completed ${m.completedAt}` : ''}`,
    `  chain: ${plural(d.chain.length, 'layer')}, ${formatBytes(d.chainBytes)} to download`,
  ];
  for (const e of d.chain) {
    const l = e.layer;
    const from = e.checkpointId === m.checkpointId ? '' : ` (from ${e.checkpointId})`;
    lines.push(
      `  layer ${e.position} ${l.kind.padEnd(8)} ${formatBytes(l.bytes).padStart(10)} ${plural(l.files.length, 'file').padStart(9)}` +
        ` pages written ${l.stats.pagesWritten}, from parent ${l.stats.pagesSkippedParent}, frozen ${(l.stats.frozenTimeUs / 1000).toFixed(1)} ms` +
        ` host ${l.host} pid ${l.process.pid}${l.encryption ? `, encrypted (key ${l.encryption.keyId})` : ''}${from}`,
    );
  }
  if (d.usedBy.length) lines.push(`  base of: ${d.usedBy.join(', ')}`);
  return lines.join('\n');
}

function gcText(r: GcResult): string {
  const verb = r.dryRun ? 'would delete' : 'deleted';
  const width = Math.max(0, ...r.decisions.map((d) => d.checkpointId.length));
  return [
    ...r.decisions.map((d) => `${(d.action === 'keep' ? 'keep' : r.dryRun ? 'would delete' : 'delete').padEnd(12)} ${d.checkpointId.padEnd(width)}  ${d.reason}`),
    ...(r.schedules.state === 'unavailable' ? [`warm chains all kept: ${r.schedules.reason}`] : []),
    `kept ${r.kept.length} checkpoint(s)${r.keptAsBase.length ? ` + ${r.keptAsBase.length} as base (${r.keptAsBase.join(', ')})` : ''}`,
    `${verb} ${r.deleted.length} checkpoint(s)${r.deleted.length ? `: ${r.deleted.join(', ')}` : ''}`,
    `${verb} ${r.blobsDeleted} unreferenced object(s), ${formatBytes(r.bytesFreed)}; ${r.dryRun ? 'would abort' : 'aborted'} ${r.uploadsAborted} abandoned upload(s)`,
  ].join('\n');
}

export function registerStorageCommands(program: Command): void {
  program
    .command('push')
    .description('Upload a local chain of CRIU images dirs (following parent links) as one checkpoint')
    .argument('<dir>', 'the final images dir of the chain')
    .requiredOption('--checkpoint <id>', 'checkpoint id to store it under')
    .option('--criu-version <version>', 'CRIU version to record in the manifest')
    .option('--json', 'print one JSON document')
    .action(async (dir: string, options: { checkpoint: string; criuVersion?: string; json?: boolean }) => {
      const id = parseCheckpointId(options.checkpoint);
      const store = await openStore({ writing: true });
      const { pushLocalChain } = await import('../storage');
      const started = Date.now();
      const result = await withTransfer(options, `push ${id}`, (t) =>
        pushLocalChain(store, id, dir, { ...t, ...(options.criuVersion ? { criuVersion: options.criuVersion } : {}) }),
      );
      const seconds = (Date.now() - started) / 1000;
      emit(options, { checkpointId: id, complete: result.manifest.complete, layers: result.dirs.length, dirs: result.dirs, seconds, ...result.report }, (v) =>
        `pushed ${v.checkpointId}: ${v.layers} layer(s), ${formatBytes(v.bytesTotal)} (${formatBytes(v.bytesSent)} sent, ` +
        `${v.filesSkipped} file(s) already stored, ${v.partsReused} part(s) resumed) in ${seconds.toFixed(1)} s`,
      );
    });

  program
    .command('pull')
    .description('Download a checkpoint chain, verified, into layer dirs with CRIU parent links')
    .argument('<id>', 'checkpoint id')
    .requiredOption('--into <dir>', 'directory to create layer-0 .. layer-N in (new or empty)')
    .option('--allow-incomplete', 'also download a checkpoint whose push never finished')
    .option('--allow-unencrypted', 'with an encryption key configured, also download layers stored unencrypted')
    .option('--json', 'print one JSON document')
    .action(async (rawId: string, options: { into: string; allowIncomplete?: boolean; allowUnencrypted?: boolean; json?: boolean }) => {
      const id = parseCheckpointId(rawId);
      const store = await openStore();
      const started = Date.now();
      const result = await withTransfer(options, `pull ${id}`, (t) => store.pullChain(id, options.into, { ...t, allowIncomplete: Boolean(options.allowIncomplete), allowUnencrypted: Boolean(options.allowUnencrypted) }));
      const seconds = (Date.now() - started) / 1000;
      emit(options, { checkpointId: id, ...result, seconds }, (v) => `pulled ${v.checkpointId}: ${v.layerDirs.length} layer(s); restore from ${v.finalDir}`);
    });

  const checkpoints = program.command('checkpoints').description('List, show and delete stored checkpoints');
  checkpoints
    .command('ls')
    .description('List stored checkpoints, oldest first')
    .option('--json', 'print one JSON document')
    .action(async (options: { json?: boolean }) => {
      const list = await (await openStore()).list();
      emit(options, list, (v) => (v.length ? v.map(summaryLine).join('\n') : 'no checkpoints stored'));
    });
  checkpoints
    .command('show')
    .description('Show a checkpoint: its chain, layers, files and CRIU stats')
    .argument('<id>', 'checkpoint id')
    .option('--json', 'print one JSON document')
    .action(async (rawId: string, options: { json?: boolean }) => {
      emit(options, await (await openStore()).describe(parseCheckpointId(rawId)), describeText);
    });
  checkpoints
    .command('rm')
    .description('Delete a checkpoint and the objects no other checkpoint uses')
    .argument('<id>', 'checkpoint id')
    .option('--json', 'print one JSON document')
    .action(async (rawId: string, options: { json?: boolean }) => {
      const r = await (await openStore()).delete(parseCheckpointId(rawId));
      emit(options, r, (v) => `deleted ${v.checkpointId}: ${v.blobsDeleted} object(s), ${formatBytes(v.bytesFreed)} freed`);
    });

  program
    .command('gc')
    .description('Delete all but the most recent complete checkpoints, never a layer a kept one needs')
    .requiredOption('--keep-last <n>', 'number of most recent complete checkpoints to keep (0 keeps none on that account)')
    .option('--grace-hours <h>', 'leave incomplete checkpoints, unreferenced objects and uploads younger than this', '24')
    .option('--keep-released-chains <duration>', "keep a warm chain this long after its last pre-dump once its schedule is deleted (e.g. 7d, 36h, 0)", '7d')
    .option('--dry-run', 'report what would be deleted, delete nothing')
    .option('--json', 'print one JSON document')
    .addHelpText('after', `
Every checkpoint is listed with what gc does to it and why. A schedule's warm chain (its nightly
pre-dumps) is kept while the schedule exists: gc asks Temporal about the schedules the chains
record, and only when warm chains are stored. When Temporal cannot be reached, every warm chain is
kept and gc says so.`)
    .action(async (options: { keepLast: string; graceHours: string; keepReleasedChains: string; dryRun?: boolean; json?: boolean }) => {
      const keepLast = parseCount('--keep-last', options.keepLast);
      const grace = Number(options.graceHours);
      if (!Number.isFinite(grace) || grace < 0) throw new UsageError(`--grace-hours must be a number >= 0, got ${JSON.stringify(options.graceHours)}`);
      const keepReleasedMs = parseDuration('--keep-released-chains', options.keepReleasedChains);
      const { temporalScheduleLookup } = await import('./schedule-lookup');
      const r = await (await openStore()).gc({
        keepLast,
        dryRun: Boolean(options.dryRun),
        graceMs: grace * 3600 * 1000,
        keepReleasedMs,
        schedules: temporalScheduleLookup(loadConfig()),
      });
      if (r.schedules.state === 'unavailable') note(options, `ferry: warning: kept every warm chain, since gc could not tell which schedules exist: ${r.schedules.reason}`);
      emit(options, r, gcText);
    });
}
