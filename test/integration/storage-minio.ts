/**
 * A private MinIO server for the layer-store integration tests: its own loopback port, temp data
 * dir and generated credentials, so tests can kill and restart it (mid-upload) and point clients
 * at wrong secrets and absent buckets without touching the shared dev stack. A missing minio
 * binary fails the tests; it never skips them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { killAndWait } from '../fixtures/kill-child';

export function findMinio(): string {
  const candidates = [process.env.FERRY_MINIO_BINARY, '/usr/local/bin/minio', path.join(os.homedir(), 'go', 'bin', 'minio')];
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir) candidates.push(path.join(dir, 'minio'));
  for (const c of candidates) {
    if (!c) continue;
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new Error('minio binary not found (looked in FERRY_MINIO_BINARY, /usr/local/bin, ~/go/bin, PATH); install it with `make system-deps`');
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitUntil(what: string, deadlineMs: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
}

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
    await waitUntil(`minio on ${this.endpoint}`, 60_000, async () => {
      if (exited) throw new Error(`minio exited at start: ${this.logTail}`);
      try {
        const res = await fetch(`${this.endpoint}/minio/health/live`);
        return res.ok;
      } catch {
        return false;
      }
    });
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
