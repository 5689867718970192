/**
 * The raw results under bench/results/ (<name>-raw.json, run-info.json), as the bench scripts
 * write them and as the reports (write-benchmarks.js, chain-report.js, plot-growth.js, the lab
 * reports) read them back. Only the fields someone reads are listed. The scripts are plain
 * JavaScript; these types are for their JSDoc (tsconfig.js.json). Type aliases, not interfaces:
 * the reports read some columns by name, which needs the implicit index signature of an alias.
 */

/** lib.machine(): the host a run was taken on, at its start. */
export type Machine = {
  nproc: number;
  memGiB: number;
  kernel: string;
  loadavg: number[];
  criu: string;
  node: string;
  date: string;
};

/** bench/results/run-info.json, written by run-all.sh before the benches. */
export type RunInfo = Machine & {
  quick?: boolean;
  /** false when nothing but the bench ran on the machine. */
  shared?: boolean;
  note?: string;
};

/** An earlier run of a workflows.js bench, kept when a rerun replaces it. */
export type HistoryEntry = {
  at: string;
  load: number;
  runs: number;
  ratio: number;
};

export type PipelineFerryRun = {
  wallMs: number;
  workflowMs: number;
  frozenMs: number;
  dumpMs: number;
  uploadMs: number;
  commitMs: number;
  bytes: number;
  stopReason: string;
  cliPeakMiB: number;
};

export type PipelinePlainRun = {
  wallMs: number;
  loadMs: number;
  dumpMs: number;
  uploadMs: number;
  innerMs: number;
  frozenMs: number;
  bytes: number;
  peakMiB: number;
};

/** pipeline-raw.json (1 GiB) and pipeline-<MiB>-raw.json: bench/workflows.js pipeline. */
export type PipelineRaw = {
  machine: Machine;
  mib: number;
  repeats: number;
  runs: { ferry: PipelineFerryRun[]; plain: PipelinePlainRun[] };
  finishedAt: string;
  history?: HistoryEntry[];
};

export type MigrateRun = {
  from: string;
  to: string;
  /** How the final layer moved ("store" in results from before the direct path). */
  path?: 'direct' | 'store';
  /** Round number: one migration per path per round. */
  round?: number;
  wallMs: number;
  downtimeMs: number;
  /** Downtime split by step, as ferry reports it (uploadMs, downloadMs, otherMs, ...). */
  parts: Record<string, number>;
  criuFrozenMs: number;
  criuRestoreMs: number;
  criuSumMs: number;
  bytes: number;
  stopReason: string;
  ratio: number;
};

/** migrate-raw.json and migrate-<MiB>-raw.json: bench/workflows.js migrate. */
export type MigrateRaw = {
  machine: Machine;
  mib: number;
  repeats: number;
  runs: MigrateRun[];
  finishedAt: string;
  history?: HistoryEntry[];
};

/** lib.measuredUpload(): one upload's time and memory. */
export type MeasuredUpload = {
  uploadMs: number;
  baselineKiB: number;
  peakKiB: number;
  growthKiB: number;
  heapUsedGrowthMiB: number;
  arrayBuffersGrowthMiB: number;
  bytesSent: number;
  partSize: number;
  concurrency: number;
  encrypted: boolean;
};

export type GrowthRun = {
  dumpMs: number;
  frozenMs: number;
  memdumpMs: number;
  pagesWritten: number;
  bytes: number;
  nodePeakKiB: number;
  dumpPeakMiB: number;
  uploadMs: number;
  uploadMiBps: number;
  uploadPeakMiB: number;
  uploadBaselineMiB: number;
  uploadGrowthMiB: number;
  /** Absent in runs taken before the upload was sampled. */
  uploadHeapGrowthMiB?: number;
  uploadBuffersGrowthMiB?: number;
  bytesSent: number;
  partSize: number;
  concurrency: number;
  encrypted: boolean;
};

export type GrowthSize = {
  machine: Machine;
  runs: GrowthRun[];
};

/** growth-raw.json: bench/growth.js, merged by workload size (MiB). */
export type GrowthRaw = {
  sizes: Record<string, GrowthSize>;
  /** Earlier runs of a size that a later run replaced. */
  history?: Array<GrowthSize & { mib: number }>;
  sdkAllowanceMiB: number;
  dirtyRatio: number;
  dirtyBackgroundRatio: number;
};

export type UploadMemoryRun = {
  uploadMs: number;
  baselineMiB: number;
  peakMiB: number;
  growthMiB: number;
  heapUsedGrowthMiB: number;
  arrayBuffersGrowthMiB: number;
  partSize: number;
  concurrency: number;
};

/** upload-memory-raw.json: bench/upload-memory.js, by layer size (MiB). */
export type UploadMemoryRaw = {
  machine: Machine;
  sizes: Record<string, { runs: UploadMemoryRun[] }>;
};

/** CRIU's stats-dump, as ferry's driver returns it. */
export type DumpStats = {
  frozenTimeUs: number;
  memdumpTimeUs?: number;
  pagesScanned?: number;
  pagesWritten: number;
  pagesSkippedParent: number;
};

export type ChainStep = {
  kind: string;
  wallMs: number;
  stats: DumpStats;
  bytes: number;
};

/** chain-raw.json: bench/lab-chain-guest.js, in the soft-dirty lab. */
export type ChainRaw = {
  workload: { mib: number; dirtyPermille: number; intervalMs: number };
  gapMs: number;
  layersRequested: number;
  full: ChainStep;
  layers: Array<ChainStep & { n: number }>;
  final: ChainStep;
  restore: { wallMs: number; chainCheckMs?: number; restoreTimeUs: number | null; verify: { ok: boolean; bad: number } };
};

/** One task of a lab boot's out/result.json (infra/lab/guest/scenario.js). */
export type LabTask<T = unknown> = {
  kind: string;
  ok: boolean;
  ms: number;
  value: T;
  error?: string;
};

export type LabCheck = {
  kernel: string;
  criuVersion: string;
};

/** One repetition of the lab's bench task: a full dump against the final dump after two pre-dumps. */
export type LabBenchRun = {
  mib: number;
  dirtyPermille: number;
  intervalMs: number;
  thp: string;
  /** Absent in runs taken before the library driver existed: those ran the CLI. */
  driver?: string;
  rep: number;
  startedAtMs: { preDump1: number; preDump2: number; final: number };
  full: DumpStats;
  preDump1: DumpStats;
  preDump2: DumpStats;
  final: DumpStats;
};

/** lab-raw.json and lab-<name>-raw.json: bench/lab-downtime.sh (a lab boot's result.json). */
export type LabRaw = {
  // Each kind of task has a value of its own (LabCheck, { runs: LabBenchRun[] }, ...): readers
  // pick a task by kind and state the type of its value.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  tasks: LabTask<any>[];
};

/** One migration of the lab's migrate task, as bench/lab-migrate-report.js summarises it. */
export type LabMigrateSummary = {
  asked: number | null;
  from: string;
  /** --catch-ups the variant asked for (null: the default). */
  askedCatchUps: number | null;
  /** Catch-up pre-dumps among preDumps (0 for runs from before they existed). */
  catchUps: number;
  /** Whether the variant let the final layers go straight to the target (false: --no-direct). */
  askedDirect: boolean;
  /** The path they took ("store" for runs from before the direct path). */
  path: 'direct' | 'store';
  directProblem: string | null;
  to: string;
  downtimeMs: number;
  parts: Record<string, number>;
  criuFrozenMs: number;
  criuRestoreMs: number;
  criuSumMs: number;
  ratio: number;
  preDumps: number;
  stopReason: string;
  finalPagesWritten: number;
  finalPagesInParent: number;
  finalBytes: number;
  preDumpBytes: number;
  prefetch: { bytes: number; layers: number } | null;
  prefetchProblem: string | null;
};

/** migrate-lab-raw.json: the lab boot's result.json plus the summary lab-migrate-report.js adds. */
export type MigrateLabRaw = LabRaw & {
  summary?: LabMigrateSummary[];
};
