/**
 * The one place an S3 client is built from ferry's configuration.
 *
 * Credentials never pass through ferry's configuration: against the local dev stack they come
 * from the AWS shared-credentials file `ferry dev up` writes (profile ferry-dev), otherwise from
 * the AWS SDK's default provider chain (environment, shared files, SSO, instance roles ...).
 */
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import type { FerryConfig } from '../config/config';

/**
 * `overrides` is for tests and tools that bring their own credentials (never from config).
 *
 * Timeouts: without them a store that accepts connections but stops answering (a frozen server, a
 * dead NAT entry) hangs a transfer forever. connectionTimeout bounds the TCP connect;
 * requestTimeout fails a request whose socket stays silent that long (it is an idle timeout: a
 * large transfer that keeps moving is never cut). Either surfaces as StorageUnreachable
 * (retryable) after the SDK's own retries. The SDK's own `requestTimeout` is a whole-request
 * deadline (and only warns unless told to throw): that would cut a large part on a slow link, so
 * ferry's request timeout is the socket idle timeout (`socketTimeout`).
 */
export function createS3Client(config: FerryConfig, overrides: Partial<S3ClientConfig> = {}): S3Client {
  const { s3, dev } = config;
  return new S3Client({
    requestHandler: { connectionTimeout: s3.connectTimeoutMs, socketTimeout: s3.requestTimeoutMs },
    // Without a region setting the SDK's chain finds it: AWS_REGION, then the profile's in the AWS config file.
    ...(s3.region !== undefined ? { region: s3.region } : {}),
    ...(s3.endpoint !== undefined ? { endpoint: s3.endpoint } : {}),
    forcePathStyle: s3.forcePathStyle,
    ...(s3.useDevCredentials
      ? { credentials: fromIni({ filepath: dev.credentialsFile, profile: dev.credentialsProfile, ignoreCache: true }) }
      : {}),
    // MinIO and most self-hosted stores do not implement the newer default checksums on every
    // operation; compute them only where S3 requires them.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...overrides,
  });
}
