/**
 * ferry's CRIU layer: the steps (check, pre-dump, dump, restore), process identity, image readers
 * and typed errors. Knows nothing of Temporal or S3.
 */
export { checkCriu, preDump, dump, restore, readProcessIdentity, assertRestorableChain, type DriverOptions } from './driver';
export { startPageServer, type RunningPageServer } from './page-server';
export { lazyPipeProblem, LAZY_PIPE_BYTES } from './lazy-pages';
export type { CriuHooks, NotificationInfo, CriuNotification } from './rpc-client';
export type { GuardedStep, TargetGuard } from './target-guard';
export { readImagedProcesses, type ImagedProcess } from './imaged-processes';
export { readLayer, readDumpStats, readRestoreStats, readInventory, readRootPid, PAGE_SIZE } from './images';
export type { LayerInfo, PagemapInfo, PagemapEntryInfo, InventoryInfo, DumpStatsInfo, RestoreStatsInfo, PstreeEntryInfo } from './images';
export { readChain, checkLink, findNewerLayers, type ChainInfo } from './chain';
export { checkTarget, readDumpableBytes, sameProcess } from './process';
export { LAYER_RECORD_FILE, LAYER_RECORD_FORMAT, readLayerRecord, fingerprintLayer, type FerryLayerRecord, type LayerFingerprint, type ParentCheck } from './layer-record';
export { parseSmapsRollup, thpWarning, type SmapsRollup } from './thp';
// CRIU's failures live with the rest of the failure model in src/core.
export * from '../core/errors/criu';
export type * from './types';
