/**
 * What the activities need from the rest of ferry, as narrow ports. The worker wires the real
 * CRIU driver and layer store in (worker/dependencies.ts); tests pass fakes. Keeping the ports
 * here, not the concrete modules, is what lets activities be tested without CRIU or S3.
 */
import type { CriuCapabilities, DumpRequest, DumpResult, PreDumpRequest, ProcessIdentity, RestoreRequest, CriuRestoreResult } from '../criu/types';
import type { LayerInput, LayerRecord, PullOptions, TransferOptions, WarmChainRecord } from '../storage/types';

export interface CriuPort {
  check(): Promise<CriuCapabilities>;
  /** Identity of a process ferry may checkpoint; refuses pid 1, kernel threads and ferry itself. */
  identify(pid: number): Promise<ProcessIdentity>;
  preDump(req: PreDumpRequest): Promise<DumpResult>;
  dump(req: DumpRequest): Promise<DumpResult>;
  restore(req: RestoreRequest): Promise<CriuRestoreResult>;
  /**
   * A lazy final dump (post-copy migration): writes everything but the memory, then calls
   * `serving` once CRIU's page server listens on `req.lazyPagesPort` (a failure of `serving`
   * aborts the dump); resolves when the last page was served. When it rejects, CRIU has resumed
   * the process here. Optional for fakes: without it a host cannot be the source of one.
   */
  lazyDump?(req: DumpRequest, serving: () => Promise<void>): Promise<DumpResult>;
  /**
   * Identity of any live process, with no refusal and no policy check: used to recognise a
   * process ferry restored itself (a child of the worker, which identify() refuses as ferry's own
   * tree). Optional for fakes; identify() is used without it.
   */
  describe?(pid: number): Promise<ProcessIdentity>;
  /** Bytes a dump of the process would write, roughly (resident anonymous memory); optional for fakes. */
  dumpableBytes?(pid: number): Promise<number | null>;
  /** Whether `identity` is still alive (same pid, same start time). */
  isAlive(identity: ProcessIdentity): Promise<boolean>;
}

export interface StorePort {
  /** Stores one layer; idempotent (files already stored are not sent again). */
  putLayer(checkpointId: string, layer: LayerInput, dir: string, opts: TransferOptions): Promise<{ record: LayerRecord; bytesSent: number }>;
  /**
   * Writes the checkpoint's manifest from its stored layers' records: complete only when the last
   * layer is a final dump and every object verified. Before this nothing marks the layers usable.
   */
  commit(
    checkpointId: string,
    layers: LayerRecord[],
    baseLayers: Array<{ checkpointId: string; index: number }>,
    warm?: WarmChainRecord,
  ): Promise<{ layers: number; complete: boolean }>;
  /**
   * Downloads and verifies a whole chain (base layers included) into `intoDir`; layers already
   * there are kept (see PullOptions.trustPresent). `bytes` counts what this call downloaded.
   */
  pullChain(checkpointId: string, intoDir: string, opts: PullOptions): Promise<{ layerDirs: string[]; finalDir: string; downloaded: number[]; bytes: number }>;
  /** Whether anything is stored under the checkpoint id (a manifest, readable or not). */
  exists(checkpointId: string): Promise<boolean>;
  /**
   * Takes a new checkpoint id for `owner` atomically (an empty incomplete manifest, written only
   * if none exists); false when it is someone else's. Optional for fakes: exists() stands in.
   */
  claim?(checkpointId: string, owner: string): Promise<boolean>;
  /** Deletes what is stored for a checkpoint; no error when nothing is. */
  discard(checkpointId: string): Promise<void>;
}

export interface ActivityDeps {
  /** This worker's host name (its task queue is `<prefix>-host-<host>`). */
  host: string;
  /** This host's staging dir (config.stagingDir/<host>): every local path activities touch is inside. */
  stagingDir: string;
  criu: CriuPort;
  store: StorePort;
  kernel: string;
  pageSize: number;
  /** Interval between heartbeats while a long CRIU call runs (ms). */
  heartbeatIntervalMs?: number;
  /** Host wall clock (injectable for tests). */
  now?: () => number;
  /** Where this worker receives direct layer transfers (port 0: any free port); absent = none. */
  direct?: { host: string; port: number };
}
