/** The layer store's public API. */
export { LayerStore, type LayerStoreOptions } from './layer-store';
export { pushLocalChain, localChain, type PushOptions, type PushResult } from './push';
export { KeyLayout, isValidCheckpointId, CHECKPOINT_ID_RULE } from './keys';
export { validateManifest, newManifest } from './manifest';
export { createS3Client } from './s3-client';
export { openLayerStore } from './open-store';
export { BlobCipher, ENCRYPTION_SCHEME, ciphertextSize } from './blob-cipher';
export * from '../core/errors/storage';
export type * from './types';
export type { ServerSideEncryption as ServerSideEncryptionSetting } from './upload-request';
