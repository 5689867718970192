/**
 * `ferry dev reset` as a library: empties the dev stack's bucket (every checkpoint, blob and
 * unfinished upload in it) and deletes every Temporal schedule in its namespace, leaving the
 * binaries, the data dirs and the running processes alone. It asks nothing, so it first makes sure
 * the configuration points at the dev stack's own MinIO and Temporal, never at a real deployment.
 */
import { AbortMultipartUploadCommand, DeleteObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import type { FerryConfig } from '../config/config';
import { listMultipartUploads } from '../storage/multipart-upload';
import { createS3Client } from '../storage/s3-client';
import { minioEndpoint, temporalAddress } from './components';
import { DevResetRefusedError } from './errors';
import { devS3Config } from './stack';

export interface ResetResult {
  bucket: string;
  objectsDeleted: number;
  uploadsAborted: number;
  namespace: string;
  schedulesDeleted: string[];
}

/** Throws DevResetRefusedError unless both endpoints are the dev stack's own. */
export function assertDevStackTargets(config: FerryConfig): void {
  const minio = minioEndpoint(config);
  if (config.s3.endpoint !== minio) throw new DevResetRefusedError('FERRY_S3_ENDPOINT', config.s3.endpoint ?? 'AWS S3', minio);
  const temporal = temporalAddress(config);
  if (config.temporal.address !== temporal) throw new DevResetRefusedError('FERRY_TEMPORAL_ADDRESS', config.temporal.address, temporal);
}

async function emptyBucket(config: FerryConfig): Promise<{ objectsDeleted: number; uploadsAborted: number }> {
  const bucket = config.s3.bucket;
  const client = createS3Client(devS3Config(config));
  try {
    let objectsDeleted = 0;
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
      if (keys.length) {
        const r = await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
        if (r.Errors?.length) throw new Error(`could not delete ${r.Errors.length} object(s) from bucket ${bucket}, e.g. ${r.Errors[0]!.Key}: ${r.Errors[0]!.Message}`);
        objectsDeleted += keys.length;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const uploads = await listMultipartUploads(client, bucket, '');
    for (const u of uploads) await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
    return { objectsDeleted, uploadsAborted: uploads.length };
  } finally {
    client.destroy();
  }
}

async function deleteSchedules(config: FerryConfig): Promise<string[]> {
  const connection = await Connection.connect({ address: config.temporal.address, connectTimeout: '5s' });
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const ids: string[] = [];
    for await (const s of client.schedule.list()) ids.push(s.scheduleId);
    for (const id of ids) await client.schedule.getHandle(id).delete();
    return ids.sort();
  } finally {
    await connection.close();
  }
}

export async function devReset(config: FerryConfig): Promise<ResetResult> {
  assertDevStackTargets(config);
  const [store, schedulesDeleted] = await Promise.all([emptyBucket(config), deleteSchedules(config)]);
  return { bucket: config.s3.bucket, ...store, namespace: config.temporal.namespace, schedulesDeleted };
}
