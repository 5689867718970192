/**
 * Transitional: the names now live in src/core (names.ts, ids.ts, errors/); this module keeps the
 * old import path working until every importer moves.
 */
export * from '../core/names';
export { isValidHostName } from '../core/ids';
export { PERMANENT_FAILURE_TYPES } from '../core/errors';

/**
 * Stable `type`s of the failures ferry's workflows and activities raise. Callers branch on these,
 * never on message text. Activity-level types come from the CRIU and storage error kinds.
 */
export const FAILURE_TYPES = {
  invalidInput: 'InvalidInput',
  hostUnavailable: 'HostUnavailable',
  preDumpsUnavailable: 'PreDumpsUnavailable',
  checkpointInProgress: 'CheckpointInProgress',
  migrationFailed: 'MigrationFailed',
  checkpointFailed: 'CheckpointFailed',
  // CRIU (see activities/failures.ts)
  noSuchProcess: 'NoSuchProcess',
  notPermitted: 'NotPermitted',
  kernelFeatureMissing: 'KernelFeatureMissing',
  parentImagesInvalid: 'ParentImagesInvalid',
  imagesDirNotEmpty: 'ImagesDirNotEmpty',
  imagesInvalid: 'ImagesInvalid',
  criuUnavailable: 'CriuUnavailable',
  processChanged: 'ProcessChanged',
  refusedTarget: 'RefusedTarget',
  criuFailed: 'CriuFailed',
  // Host policy (src/policy): the host refuses this process or images dir, whatever the request says.
  policyRefused: 'PolicyRefused',
} as const;

