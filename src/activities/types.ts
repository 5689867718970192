/**
 * Inputs and outputs of ferry's activities. Plain JSON: they are recorded in workflow history,
 * so they never hold a credential, and paths in them are host-local (only meaningful on the host
 * whose task queue ran the activity).
 */
import type { LayerDump, LayerRecord, LayerRef, ProcessIdentity } from '../core/layer';
import type { CriuFeatures, CriuOptions } from '../criu/types';
import type { WarmChainRecord } from '../storage/types';

export type { LayerDump, LayerRef } from '../core/layer';

export interface HostCapabilities {
  host: string;
  criuVersion: string;
  features: CriuFeatures;
  /** Kernel release (uname -r) of the host. */
  kernel: string;
  pageSize: number;
}


export interface LayerStepInput {
  checkpointId: string;
  index: number;
  pid: number;
  /** Identity taken at the start: a different process under the same pid is refused. */
  expectedIdentity: ProcessIdentity;
  /** The layer this one is incremental to (its images dir on this host), or null for a full dump. */
  parent: LayerRef | null;
  /** CRIU resource options the dump needs (file locks, TCP, external Unix sockets, unlinked files). */
  criuOptions?: CriuOptions;
}

export interface FinalDumpInput extends LayerStepInput {
  leaveRunning: boolean;
}


export interface UploadInput {
  checkpointId: string;
  layer: LayerDump;
}

/** Rates a worker measured on its biggest recent dump and upload (null: none yet), in bytes per ms (host-rates.ts). */
export interface HostRates {
  dumpBytesPerMs: number | null;
  uploadBytesPerMs: number | null;
}

export interface ProcessMeasure {
  /** Bytes a dump would write (resident anonymous memory of the tree), or null if unknown. */
  residentBytes: number | null;
  /** Rates this worker measured on its biggest recent dump and upload. */
  hostRates: HostRates;
}

export interface UploadResult {
  index: number;
  /** What the manifest will say about the layer (files, sizes, SHA-256s). */
  record: LayerRecord;
  bytes: number;
  /** True when the layer was already stored (a retry, or a warm layer): nothing was sent again. */
  alreadyStored: boolean;
  startedAtMs: number;
  durationMs: number;
}

export interface CommitInput {
  checkpointId: string;
  /** Records of every stored layer, in chain order (the manifest is written only now). */
  layers: LayerRecord[];
  /** Warm-chain layers this checkpoint builds on (checkpoint id + index), outermost first. */
  baseLayers: Array<{ checkpointId: string; index: number }>;
  /** Set when the checkpoint is a warm chain: recorded in its manifest for gc. */
  warm?: WarmChainRecord;
}

export interface CommitResult {
  checkpointId: string;
  layers: number;
  complete: boolean;
  startedAtMs: number;
  durationMs: number;
}

export interface DownloadInput {
  checkpointId: string;
  /** Distinguishes concurrent downloads of one checkpoint on one host (the workflow's run id). */
  downloadId: string;
  /**
   * Fetch the layers stored so far although the checkpoint is not complete yet (migrate's prefetch
   * of the pre-dump layers while the process still runs). Default false.
   */
  allowIncomplete?: boolean;
  /**
   * Keep the layers an earlier download of the same downloadId left in place (checked by name and
   * size) and fetch only the rest. Default false: start from an empty dir.
   */
  keepPresent?: boolean;
}

export interface DownloadResult {
  checkpointId: string;
  /** Final layer's images dir (parents linked in), ready for CRIU restore. */
  imagesDir: string;
  /** The dir holding every downloaded layer; clean it after restoring. */
  stagingDir: string;
  /** Layers in the chain. */
  layers: number;
  /** Layers this call downloaded (fewer than `layers` when keepPresent found some in place). */
  layersDownloaded: number;
  /** Bytes this call downloaded. */
  bytes: number;
  startedAtMs: number;
  durationMs: number;
}

export interface RestoreProcessInput {
  imagesDir: string;
  /**
   * Post-copy: restore before the memory is here, fetching pages from a lazy dump's page server
   * at this address (on migrate's path, the loopback end of the page tunnel).
   */
  lazyPagesFrom?: { address: string; port: number };
}

export interface RestoreOutcome {
  pid: number;
  restoreTimeUs: number | null;
  startedAtMs: number;
  /** Host wall clock when CRIU reported the process running again. */
  finishedAtMs: number;
  durationMs: number;
  /** A lazy restore: host wall clock when its last page arrived (the activity returns then). */
  lastPageAtMs?: number;
}

export interface CleanInput {
  /** A dir that an earlier activity of this host returned; anything outside staging is refused. */
  dir: string;
}

export interface DiscardInput {
  checkpointId: string;
  /** Also delete what was already uploaded (a cancelled or failed checkpoint). */
  deleteStored: boolean;
}

export interface ResolvePidInput {
  pid?: number;
  pidFile?: string;
}

/** The warm chain of one process on one host: pre-dump layers stored under their own checkpoint id. */
export interface WarmChain {
  checkpointId: string;
  process: ProcessIdentity;
  layers: LayerDump[];
  /** Stored records of the same layers (the chain's manifest is rewritten from them). */
  records: LayerRecord[];
  /** Schedules whose runs added layers (absent in records written before ferry kept them). */
  scheduleIds?: string[];
}

export interface WarmLookupInput {
  pid: number;
  identity: ProcessIdentity;
}

export interface WarmLookup {
  chain: WarmChain | null;
  /** found; none recorded; the pid now belongs to another process; local layers gone. */
  status: 'found' | 'none' | 'process-changed' | 'layers-missing';
}

export interface WarmRecordInput {
  chain: WarmChain;
}

/** A direct transfer (src/direct): the workflow names it; the keys never leave the two workers. */
export interface DirectSessionInput {
  sessionId: string;
}

export interface DirectSenderKey {
  /** X25519 public key of the sending worker for this transfer only (base64; not a secret). */
  publicKey: string;
}

export interface OpenReceiverInput extends DirectSessionInput {
  checkpointId: string;
  /** The target's download dir key (the prefetch's): direct layers land beside prefetched ones. */
  downloadId: string;
  senderPublicKey: string;
}

/** Where the sending worker reaches the receiver, and the receiver's public key for this transfer. */
export interface DirectEndpoint {
  address: string;
  port: number;
  publicKey: string;
  /** The receiver's download dir on its host: the workflow cleans it when done. */
  stagingDir: string;
}

export interface SendDirectInput extends DirectSessionInput {
  to: DirectEndpoint;
  /** This host's layers of the chain (as its dumps returned them); the highest index is the final one. */
  layers: Array<{ index: number; imagesDir: string }>;
}

export interface SendDirectResult {
  /** The final layer's dir on the receiving host, its chain whole: restore from it there. */
  imagesDir: string;
  bytes: number;
  layersSent: number[];
  startedAtMs: number;
  durationMs: number;
}

/** The target's end of a post-copy migration's page tunnel (src/direct/page-tunnel.ts). */
export interface PageTunnelEndpoint {
  /** Where the source's worker connects (the target's direct address). */
  address: string;
  port: number;
  /** Loopback port on the target that its lazy-pages daemon fetches pages from. */
  localPort: number;
}

export interface StartLazyDumpInput extends DirectSessionInput {
  checkpointId: string;
  pid: number;
  /** The direct receiver for the non-memory images. */
  to: DirectEndpoint;
  tunnel: PageTunnelEndpoint;
  criuOptions?: CriuOptions;
}

/** A lazy final dump whose non-memory images reached the target; its page server now serves. */
export interface LazyDumpStarted {
  /** The final layer on the target: restore it with lazy pages from the tunnel. */
  targetImagesDir: string;
  /** The images dir on the source (cleaned once the pages are all served). */
  imagesDir: string;
  /** Bytes of non-memory images sent. */
  bytes: number;
  startedAtMs: number;
  /** CRIU's post-dump: the non-memory images are written and the process is frozen for good. */
  imagesWrittenAtMs: number;
  /** The page tunnel stood and the images were on the target. */
  handedAtMs: number;
}

export interface LazyDumpFinished {
  /** Host wall clock when CRIU's page server had served every page (the RPC dump returned). */
  finishedAtMs: number;
  bytesToTarget: number;
  pagesWritten: number;
}
