/**
 * A private MinIO server for the layer-store integration tests: its own loopback port, temp data
 * dir and generated credentials, so tests can kill and restart it (mid-upload) and point clients
 * at wrong secrets and absent buckets without touching the shared dev stack. A missing minio
 * binary fails the tests; it never skips them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { findMinio } from './binaries';
import { freePort } from './ports';
import { killAndWait } from './processes';
import { until } from './until';

export class PrivateMinio {
  readonly binary = findMinio();
  readonly dataDir: string;
  readonly accessKey = `ferrytest${randomBytes(4).toString('hex')}`;
  readonly secretKey = randomBytes(18).toString('base64url');
  port = 0;
  private child: ChildProcess | null = null;
  private logTail = '';

  /** Extra environment for the server (e.g. MINIO_KMS_SECRET_KEY for SSE tests). */
  constructor(private readonly extraEnv: Record<string, string> = {}) {
    this.dataDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-minio-'));
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const consolePort = await freePort();
    const child = spawn(this.binary, ['server', path.join(this.dataDir, 'data'), '--address', `127.0.0.1:${this.port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet'], {
      env: { PATH: process.env.PATH, HOME: this.dataDir, MINIO_ROOT_USER: this.accessKey, MINIO_ROOT_PASSWORD: this.secretKey, MINIO_BROWSER: 'off', ...this.extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (b: Buffer): void => {
      this.logTail = (this.logTail + b.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.child = child;
    let exited = false;
    child.once('exit', () => (exited = true));
    await until(`minio on ${this.endpoint}`, async () => {
      if (exited) throw new Error(`minio exited at start: ${this.logTail}`);
      try {
        const res = await fetch(`${this.endpoint}/minio/health/live`);
        return res.ok;
      } catch {
        return false;
      }
    }, 60_000);
  }

  /** SIGKILL, as a crash: no chance to finish requests in flight. */
  async kill(): Promise<void> {
    await killAndWait(this.child);
    this.child = null;
  }

  /** SIGSTOP: the server keeps its sockets (connections are still accepted by the kernel) but never answers. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async stop(removeData = true): Promise<void> {
    this.resume();
    await this.kill();
    if (removeData) rmSync(this.dataDir, { recursive: true, force: true });
  }

  client(over: Partial<{ secretKey: string; endpoint: string; maxAttempts: number }> = {}): S3Client {
    return new S3Client({
      region: 'us-east-1',
      endpoint: over.endpoint ?? this.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: this.accessKey, secretAccessKey: over.secretKey ?? this.secretKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: over.maxAttempts ?? 2,
    });
  }

  async createBucket(name: string): Promise<void> {
    await this.client().send(new CreateBucketCommand({ Bucket: name }));
  }

  /** An AWS shared-credentials file with these keys, for tests of the provider-chain path. */
  writeCredentialsFile(profile: string): string {
    const file = path.join(this.dataDir, 'aws-credentials');
    writeFileSync(file, `[${profile}]\naws_access_key_id = ${this.accessKey}\naws_secret_access_key = ${this.secretKey}\n`, { mode: 0o600 });
    return file;
  }
}
