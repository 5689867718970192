/**
 * Builds a LayerStore from ferry's configuration: the S3 client (with timeouts), server-side
 * encryption settings, and the client-side encryption key, loaded here from its own module so
 * that its bytes never pass through the configuration object.
 */
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { ConfigError, type FerryConfig } from '../config/config';
import { loadEncryptionKey } from '../config/encryption-key';
import { LayerStore, type LayerStoreOptions } from './layer-store';
import { createS3Client } from './s3-client';

export function openLayerStore(
  config: FerryConfig,
  opts: Omit<LayerStoreOptions, 'client' | 'bucket' | 'prefix' | 'encryptionKey' | 'sse'> & { clientOverrides?: Partial<S3ClientConfig> } = {},
  env: Record<string, string | undefined> = process.env,
): LayerStore {
  const key = loadEncryptionKey(env);
  // The key could have been replaced between loading the config and now: never mix two keys.
  if ((key?.id ?? undefined) !== config.encryption?.keyId) {
    throw new ConfigError(config.encryption?.source ?? 'FERRY_ENCRYPTION_KEY_FILE', 'changed while ferry was running; run the command again');
  }
  const { clientOverrides, ...storeOpts } = opts;
  const { concurrency, partSize, bytesPerSecond } = config.transfer;
  return new LayerStore({
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(partSize !== undefined ? { partSize } : {}),
    ...(bytesPerSecond !== undefined ? { bandwidthBytesPerSecond: bytesPerSecond } : {}),
    ...storeOpts,
    client: createS3Client(config, clientOverrides),
    bucket: config.s3.bucket,
    prefix: config.s3.prefix,
    encryptionKey: key,
    ...(config.s3.sse ? { sse: config.s3.sse } : {}),
  });
}
