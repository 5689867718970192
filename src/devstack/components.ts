/**
 * What the dev stack runs: the Temporal dev server (SQLite-backed, so workflows survive a
 * restart) and MinIO, both bound to loopback only, plus how to tell that each one answers.
 */
import path from 'node:path';
import { Connection } from '@temporalio/client';
import type { FerryConfig } from '../config/config';
import type { DevCredentials } from './credentials';
import type { ComponentName } from './errors';

export const LOOPBACK = '127.0.0.1';

/** Start order; `down` goes the other way. */
export const COMPONENTS: readonly ComponentName[] = ['temporal', 'minio'];

export interface ListenPort {
  host: string;
  port: number;
  /** The setting that moves this port, for error messages. */
  setting: string;
}

export interface ComponentSpec {
  name: ComponentName;
  binary: string;
  args: string[];
  /** Extra environment of the child only (MinIO's root credentials travel here, not in argv). */
  env: Record<string, string>;
  ports: ListenPort[];
  address: string;
  uiAddress: string;
  dataPath: string;
  logFile: string;
  /** Resolves true when the component answers requests, false otherwise; never throws. */
  probe(timeoutMs: number): Promise<boolean>;
}

export function devPaths(config: FerryConfig): { logsDir: string; rootCredentialsFile: string; temporalDb: string; minioData: string } {
  const dir = config.dev.dir;
  return {
    logsDir: path.join(dir, 'logs'),
    rootCredentialsFile: path.join(dir, 'minio-root.json'),
    temporalDb: path.join(dir, 'temporal.sqlite'),
    minioData: path.join(dir, 'minio-data'),
  };
}

export function temporalAddress(config: FerryConfig): string {
  return `${LOOPBACK}:${config.dev.temporalPort}`;
}

export function minioEndpoint(config: FerryConfig): string {
  return `http://${LOOPBACK}:${config.dev.minioPort}`;
}

/** Temporal answers when the namespace can be described over gRPC. */
export async function temporalAnswers(address: string, namespace: string, timeoutMs: number): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: timeoutMs });
    const conn = connection;
    await conn.withDeadline(Date.now() + timeoutMs, () => conn.workflowService.describeNamespace({ namespace }));
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** MinIO answers when its liveness endpoint returns 200. */
export async function minioAnswers(endpoint: string, timeoutMs: number): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/minio/health/live`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

export function componentSpecs(config: FerryConfig, credentials: DevCredentials | null): Record<ComponentName, ComponentSpec> {
  const { dev } = config;
  const paths = devPaths(config);
  const address = temporalAddress(config);
  const temporalArgs = [
    'server',
    'start-dev',
    '--ip',
    LOOPBACK,
    '--port',
    String(dev.temporalPort),
    '--ui-port',
    String(dev.temporalUiPort),
    '--db-filename',
    paths.temporalDb,
    '--log-level',
    'warn',
  ];
  // "default" always exists; a configured namespace other than that is created at launch.
  if (config.temporal.namespace !== 'default') temporalArgs.push('--namespace', config.temporal.namespace);
  const endpoint = minioEndpoint(config);
  return {
    temporal: {
      name: 'temporal',
      binary: 'temporal',
      args: temporalArgs,
      env: {},
      ports: [
        { host: LOOPBACK, port: dev.temporalPort, setting: 'FERRY_DEV_TEMPORAL_PORT' },
        { host: LOOPBACK, port: dev.temporalUiPort, setting: 'FERRY_DEV_TEMPORAL_UI_PORT' },
      ],
      address,
      uiAddress: `http://${LOOPBACK}:${dev.temporalUiPort}`,
      dataPath: paths.temporalDb,
      logFile: path.join(paths.logsDir, 'temporal.log'),
      probe: (timeoutMs) => temporalAnswers(address, 'default', timeoutMs),
    },
    minio: {
      name: 'minio',
      binary: 'minio',
      args: [
        'server',
        paths.minioData,
        '--address',
        `${LOOPBACK}:${dev.minioPort}`,
        '--console-address',
        `${LOOPBACK}:${dev.minioConsolePort}`,
        // Without --quiet MinIO prints the root user and password in its startup banner.
        '--quiet',
      ],
      env: credentials
        ? { MINIO_ROOT_USER: credentials.accessKeyId, MINIO_ROOT_PASSWORD: credentials.secretAccessKey, MINIO_UPDATE: 'off' }
        : {},
      ports: [
        { host: LOOPBACK, port: dev.minioPort, setting: 'FERRY_DEV_MINIO_PORT' },
        { host: LOOPBACK, port: dev.minioConsolePort, setting: 'FERRY_DEV_MINIO_CONSOLE_PORT' },
      ],
      address: endpoint,
      uiAddress: `http://${LOOPBACK}:${dev.minioConsolePort}`,
      dataPath: paths.minioData,
      logFile: path.join(paths.logsDir, 'minio.log'),
      probe: (timeoutMs) => minioAnswers(endpoint, timeoutMs),
    },
  };
}
