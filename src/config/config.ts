/**
 * ferry's configuration, read and validated once.
 *
 * Every setting comes from the environment (FERRY_*), may be overridden by a caller (CLI flags),
 * and defaults to the local dev stack that `ferry dev up` starts, so that with nothing
 * configured everything points at the embedded default. S3 credentials are never part of this
 * object: they come from the AWS SDK's standard provider chain (see s3Credentials below).
 */
import { failureKind, isError } from '../core/ferry-error';
import { DEFAULT_PREFIX, checkTaskQueuePrefix } from '../core/ids';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseRate } from '../core/rates';
import { encryptionKeyRef, type EncryptionKeyRef, EncryptionKeyInvalid } from './encryption-key';
import { resolveTemporalSettings, TemporalSettingError, type TemporalSettings } from './temporal-settings';

export type { TemporalSettings, TemporalTls } from './temporal-settings';

export interface S3Settings {
  /** Endpoint URL of an S3-compatible service; undefined means AWS S3 itself. */
  endpoint: string | undefined;
  /** Where endpoint came from, for messages: a setting's name, or "the dev stack". */
  endpointFrom: string;
  /** undefined (AWS S3 itself, none set): the AWS SDK finds it (the profile's region in the AWS config file). */
  region: string | undefined;
  bucket: string;
  /** Key prefix under which every ferry object lives. */
  prefix: string;
  /** Path-style addressing (bucket in the path), which MinIO and most self-hosted stores need. */
  forcePathStyle: boolean;
  /**
   * True when the endpoint is the local dev stack and no AWS credentials were configured:
   * the dev stack's generated credentials file is then used (see devCredentialsFile).
   */
  useDevCredentials: boolean;
  /** Server-side encryption asked of the store on every upload (FERRY_S3_SSE), or undefined. */
  sse?: { mode: 'AES256' | 'aws:kms'; kmsKeyId?: string };
  /** A TCP connect that takes longer fails (ms). */
  connectTimeoutMs: number;
  /** A request whose socket stays silent this long fails as unreachable and is retried (ms). */
  requestTimeoutMs: number;
  /** FERRY_S3_ALLOW_UNENCRYPTED: a store off this machine may hold images without an encryption key. */
  allowUnencrypted: boolean;
}

export interface DevStackSettings {
  /** Where the dev stack keeps its data, pid files, logs and generated credentials. */
  dir: string;
  temporalPort: number;
  temporalUiPort: number;
  minioPort: number;
  minioConsolePort: number;
  /** AWS shared-credentials file written by `ferry dev up`, profile `ferry-dev`. */
  credentialsFile: string;
  credentialsProfile: string;
  /**
   * The host policy `ferry dev up` writes for the dev stack's own workers (any process, images
   * under the staging dir); used when FERRY_HOST_POLICY is unset and ferry points at the dev stack.
   */
  hostPolicyFile: string;
}

/** Store transfer budgets; absent fields take the store's defaults (4 parts of 16 MiB, no cap). */
export interface TransferSettings {
  concurrency?: number;
  partSize?: number;
  bytesPerSecond?: number;
}

export interface FerryConfig {
  temporal: TemporalSettings;
  s3: S3Settings;
  transfer: TransferSettings;
  /** Path or name of the CRIU binary (>= 4.1). */
  criuBinary: string;
  /** ferry's own state: dev stack, warm-chain records. */
  stateDir: string;
  /** Where images are written before upload and after download. */
  stagingDir: string;
  /**
   * The host policy file (FERRY_HOST_POLICY, absolute path), or undefined for the default policy.
   * Read and validated by src/policy/host-policy.ts (loadHostPolicy).
   */
  hostPolicyFile?: string;
  /**
   * Client-side encryption of every stored layer: only the key's id and where it comes from. The
   * key bytes are never part of the configuration (src/config/encryption-key.ts loads them).
   */
  encryption?: EncryptionKeyRef;
  /**
   * Where this host's worker receives direct layer transfers (FERRY_DIRECT_ADDRESS, "address" or
   * "address:port"); undefined = the worker picks its first non-loopback IPv4 and any free port.
   */
  directAddress?: DirectAddress;
  /** Event-driven checkpoints (src/triggers): the rules file and the request endpoint; undefined = none. */
  triggers?: TriggerSettings;
  dev: DevStackSettings;
}

export interface TriggerSettings {
  /** FERRY_TRIGGERS: absolute path of the rules file (read by src/triggers/rules.ts). */
  rulesFile: string;
  /** FERRY_TRIGGER_LISTEN: loopback host:port of the request endpoint, or undefined. */
  listen?: { host: string; port: number };
  /** FERRY_TRIGGER_SOCKET: Unix socket path of the request endpoint, or undefined. */
  socket?: string;
  /** FERRY_TRIGGER_TOKEN_FILE: the endpoint's bearer token (a file of mode 600); required with an endpoint. */
  tokenFile?: string;
  /** FERRY_TRIGGER_SHUTDOWN_GRACE_MS: how long a stopping worker gives its shutdown rules' checkpoints. */
  shutdownGraceMs: number;
  /** FERRY_MEMORY_POLL_MS: how often memory-pressure rules are checked. */
  memoryPollMs: number;
  /** FERRY_PREEMPTION_PROVIDER (aws, gcp, azure) and its metadata service; undefined = no polling. */
  preemption?: { provider: 'aws' | 'gcp' | 'azure'; url: string; intervalMs: number };
}

/** The address peers reach this worker's direct receiver on; port 0 = any free port. */
export interface DirectAddress {
  host: string;
  port: number;
}

/** A configuration setting that is present but unusable; names the setting so it can be fixed. */
export class ConfigError extends failureKind('config-invalid', { retryable: false }) {
  constructor(readonly setting: string, readonly problem: string) {
    super(`invalid configuration: ${setting} ${problem}`);
  }
}


type Env = Record<string, string | undefined>;

export const DEV_BUCKET = 'ferry';
export const DEV_TEMPORAL_PORT = 7233;
export const DEV_TEMPORAL_UI_PORT = 8233;
export const DEV_MINIO_PORT = 9000;
export const DEV_MINIO_CONSOLE_PORT = 9001;

function defaultStateDir(env: Env): string {
  if (env.XDG_STATE_HOME) return path.join(env.XDG_STATE_HOME, 'ferry');
  return path.join(env.HOME || os.homedir(), '.local', 'state', 'ferry');
}

function readString(env: Env, name: string, fallback: string): string {
  const value = env[name];
  if (value === undefined) return fallback;
  if (value.trim() === '') throw new ConfigError(name, 'is set but empty; unset it to use the default');
  return value.trim();
}

function readBool(env: Env, name: string, fallback: boolean): boolean {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(name, `must be true or false, got ${JSON.stringify(value)}`);
}

function readPort(env: Env, name: string, fallback: number): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(name, `must be a TCP port (1-65535), got ${JSON.stringify(value)}`);
  }
  return port;
}

/** "address" or "address:port" ([v6]:port for IPv6), as --direct-address and FERRY_DIRECT_ADDRESS take it. */
export function parseDirectAddress(name: string, value: string): DirectAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/.exec(value);
  const port = m?.[3] === undefined ? 0 : Number(m[3]);
  if (!m || port > 65535) {
    throw new ConfigError(name, `must be an address this host's peers reach it on, optionally with a port (e.g. 10.0.0.5 or 10.0.0.5:7300), got ${JSON.stringify(value)}`);
  }
  const host = m[1] ?? m[2]!;
  // Peers connect to what the worker advertises: a wildcard would send them to their own host.
  if (host === '0.0.0.0' || /^:+$/.test(host)) throw new ConfigError(name, `must be an address other hosts reach this one on, not the wildcard ${host}`);
  return { host, port };
}

function validateHostPort(name: string, value: string): string {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new ConfigError(name, `must be host:port (e.g. 127.0.0.1:7233), got ${JSON.stringify(value)}`);
  }
  return value;
}

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/**
 * Images are process memory. A store on this machine (the dev stack, a test's MinIO) may hold
 * them in plaintext; any other store (AWS, a MinIO across the network) needs an encryption key,
 * or FERRY_S3_ALLOW_UNENCRYPTED=true, and then a warning. Checked where images are written: a
 * worker with activities, and `ferry push`.
 */
export function unencryptedStoreCheck(config: FerryConfig): { refuse: string } | { warn: string } | null {
  if (config.encryption) return null;
  const endpoint = config.s3.endpoint;
  const host = endpoint === undefined ? null : new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
  if (host !== null && isLoopbackHost(host)) return null;
  const where = host === null ? 'AWS S3' : host;
  if (config.s3.allowUnencrypted) {
    return { warn: `images (process memory) go to ${where} unencrypted (FERRY_S3_ALLOW_UNENCRYPTED=true): anyone who can read the bucket can read them, and anyone who can write it chooses what a restore runs` };
  }
  return {
    refuse:
      `the store ${where} is not on this machine and no encryption key is configured: images (process memory) would rest there in plaintext and unauthenticated. ` +
      'Set FERRY_ENCRYPTION_KEY_FILE (a 32-byte key, mode 600; see `ferry dev env`), or FERRY_S3_ALLOW_UNENCRYPTED=true to accept that',
  };
}

/**
 * Plain http to anything but this machine sends process memory and signed requests in the clear.
 * Loopback is fine (the dev stack); any other host needs https, or FERRY_S3_ALLOW_HTTP=true for a
 * network the operator trusts (the lab's forwarded port is one).
 */
function refusePlainHttpOverNetwork(endpoint: string, allowed: boolean): void {
  const url = new URL(endpoint);
  if (url.protocol !== 'http:' || allowed) return;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isLoopbackHost(host)) return;
  throw new ConfigError(
    'FERRY_S3_ENDPOINT',
    `is plain http to ${host}: images (process memory) would cross the network unencrypted; use https://, ` +
      'or set FERRY_S3_ALLOW_HTTP=true for a network you trust',
  );
}

function validateUrl(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, `must be a URL such as http://127.0.0.1:9000, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(name, `must be an http:// or https:// URL, got ${JSON.stringify(value)}`);
  }
  if (url.username || url.password) {
    // Credentials in a URL end up in logs and error messages; the provider chain is the only way in.
    throw new ConfigError(name, 'must not carry credentials; use the AWS credential provider chain');
  }
  return value.replace(/\/+$/, '');
}

function validateBucket(name: string, value: string): string {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value) || value.includes('..')) {
    throw new ConfigError(name, `must be a valid S3 bucket name (3-63 chars: a-z 0-9 . -), got ${JSON.stringify(value)}`);
  }
  return value;
}

/** An S3 key prefix: slashes trimmed, no `.` or `..` segment that would leave ferry's part of the bucket. */
function validateKeyPrefix(name: string, value: string): string {
  const trimmed = value.replace(/^\/+|\/+$/g, '');
  if (trimmed.split('/').some((part) => part === '..' || part === '.')) {
    throw new ConfigError(name, `must not contain . or .. segments, got ${JSON.stringify(value)}`);
  }
  return trimmed;
}

function validateAbsoluteDir(name: string, value: string): string {
  if (!path.isAbsolute(value)) throw new ConfigError(name, `must be an absolute path, got ${JSON.stringify(value)}`);
  return path.normalize(value);
}

function validatePolicyFile(name: string, value: string): string {
  if (!path.isAbsolute(value) || value.endsWith('/')) {
    throw new ConfigError(name, `must be the absolute path of a JSON policy file, got ${JSON.stringify(value.length > 200 ? value.slice(0, 200) + '...' : value)}`);
  }
  return path.normalize(value);
}

function readTimeoutMs(env: Env, name: string, fallback: number): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 100 || ms > 3_600_000) {
    throw new ConfigError(name, `must be a whole number of milliseconds between 100 and 3600000, got ${JSON.stringify(value.slice(0, 40))}`);
  }
  return ms;
}

function readWholeNumber(env: Env, name: string, min: number, max: number, what: string): number | undefined {
  const value = env[name];
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(name, `must be ${what} from ${min} to ${max}, got ${JSON.stringify(value.slice(0, 40))}`);
  return n;
}

/** How the store moves bytes: parts in flight, part size, and a cap on the rate (issue 18's budgets). */
function readTransfer(env: Env): TransferSettings {
  const concurrency = readWholeNumber(env, 'FERRY_TRANSFER_CONCURRENCY', 1, 64, 'a number of parts in flight');
  // S3's smallest part is 5 MiB (except the last); 5 GiB its largest.
  const partMiB = readWholeNumber(env, 'FERRY_TRANSFER_PART_MIB', 5, 5120, 'a part size in MiB');
  const limitText = env.FERRY_TRANSFER_LIMIT?.trim();
  let bytesPerSecond: number | undefined;
  if (limitText) {
    const rate = parseRate(limitText);
    if (rate === null || rate < 64 * 1024) throw new ConfigError('FERRY_TRANSFER_LIMIT', `must be a rate of at least 64 KiB/s such as "50MiB/s", got ${JSON.stringify(limitText.slice(0, 40))}`);
    bytesPerSecond = rate;
  }
  return {
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(partMiB !== undefined ? { partSize: partMiB * 1024 * 1024 } : {}),
    ...(bytesPerSecond !== undefined ? { bytesPerSecond } : {}),
  };
}

function readSse(env: Env): S3Settings['sse'] {
  const mode = env.FERRY_S3_SSE?.trim();
  const kmsKeyId = env.FERRY_S3_SSE_KMS_KEY_ID?.trim();
  if (mode === undefined || mode === '') {
    if (kmsKeyId) throw new ConfigError('FERRY_S3_SSE_KMS_KEY_ID', 'is set but FERRY_S3_SSE is not aws:kms; set FERRY_S3_SSE=aws:kms or unset it');
    return undefined;
  }
  if (mode !== 'AES256' && mode !== 'aws:kms') {
    throw new ConfigError('FERRY_S3_SSE', `must be AES256 or aws:kms, got ${JSON.stringify(mode.slice(0, 40))}`);
  }
  if (kmsKeyId && mode !== 'aws:kms') {
    throw new ConfigError('FERRY_S3_SSE_KMS_KEY_ID', 'only applies with FERRY_S3_SSE=aws:kms');
  }
  if (kmsKeyId !== undefined && !/^[A-Za-z0-9:/_.+=@-]{1,2048}$/.test(kmsKeyId)) {
    throw new ConfigError('FERRY_S3_SSE_KMS_KEY_ID', 'must be a KMS key id, alias or ARN (letters, digits, : / _ . - ...)');
  }
  return kmsKeyId ? { mode, kmsKeyId } : { mode };
}

function readEncryption(env: Env): EncryptionKeyRef | undefined {
  try {
    return encryptionKeyRef(env);
  } catch (err) {
    // The key loader's messages name the setting and never the value; keep them as they are.
    if (isError(err, EncryptionKeyInvalid)) throw new ConfigError(err.setting, err.problem);
    throw err;
  }
}

function validateQueuePrefix(name: string, value: string): string {
  const problem = checkTaskQueuePrefix(value);
  if (problem) throw new ConfigError(name, problem);
  return value;
}

/** Temporal's connection settings (temporal-settings.ts), validated and with its errors as ConfigError. */
function readTemporal(env: Env, defaults: { address: string; webUrl: string; taskQueuePrefix: string }): TemporalSettings {
  // ferry's own variables keep their stricter reading: set-but-empty is an error, values are trimmed.
  const trimmed: Env = { ...env };
  for (const name of ['FERRY_TEMPORAL_ADDRESS', 'FERRY_TEMPORAL_NAMESPACE']) {
    if (env[name] !== undefined) trimmed[name] = readString(env, name, '');
  }
  try {
    const { settings, addressSetting, namespaceSetting } = resolveTemporalSettings(trimmed, defaults);
    validateHostPort(addressSetting, settings.address);
    if (settings.namespace.trim() === '') throw new ConfigError(namespaceSetting, 'is set but empty');
    return settings;
  } catch (err) {
    if (err instanceof TemporalSettingError) throw new ConfigError(err.setting, err.problem);
    throw err;
  }
}

function validateLoopbackListen(name: string, value: string): { host: string; port: number } {
  const m = /^(\[::1\]|[0-9.]+|localhost):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : -1;
  if (!m || port < 0 || port > 65535) throw new ConfigError(name, `must be a loopback host:port such as 127.0.0.1:7310, got ${JSON.stringify(value.slice(0, 80))}`);
  const host = m[1]!.replace(/^\[|\]$/g, '');
  // The endpoint starts checkpoints (process memory to the store): never reachable off this machine.
  if (!isLoopbackHost(host)) throw new ConfigError(name, `must listen on loopback (127.0.0.1, ::1 or localhost), not ${host}; put a proxy with its own authentication in front to reach it from elsewhere`);
  return { host, port };
}

function readTriggers(env: Env): TriggerSettings | undefined {
  const endpointVars = ['FERRY_TRIGGER_LISTEN', 'FERRY_TRIGGER_SOCKET', 'FERRY_TRIGGER_TOKEN_FILE', 'FERRY_TRIGGER_SHUTDOWN_GRACE_MS', 'FERRY_PREEMPTION_PROVIDER', 'FERRY_PREEMPTION_URL', 'FERRY_PREEMPTION_POLL_MS', 'FERRY_MEMORY_POLL_MS'];
  if (env.FERRY_TRIGGERS === undefined || env.FERRY_TRIGGERS === '') {
    const stray = endpointVars.find((v) => env[v] !== undefined && env[v] !== '');
    if (stray) throw new ConfigError(stray, 'is set but FERRY_TRIGGERS is not: set FERRY_TRIGGERS to a rules file (docs/triggers.md)');
    return undefined;
  }
  const rulesFile = validatePolicyFile('FERRY_TRIGGERS', readString(env, 'FERRY_TRIGGERS', ''));
  const listenRaw = env.FERRY_TRIGGER_LISTEN;
  const listen = listenRaw === undefined || listenRaw === '' ? undefined : validateLoopbackListen('FERRY_TRIGGER_LISTEN', listenRaw.trim());
  const socketRaw = env.FERRY_TRIGGER_SOCKET;
  const socket = socketRaw === undefined || socketRaw === '' ? undefined : validatePolicyFile('FERRY_TRIGGER_SOCKET', socketRaw.trim());
  const tokenRaw = env.FERRY_TRIGGER_TOKEN_FILE;
  const tokenFile = tokenRaw === undefined || tokenRaw === '' ? undefined : validatePolicyFile('FERRY_TRIGGER_TOKEN_FILE', tokenRaw.trim());
  if ((listen || socket) && !tokenFile) {
    throw new ConfigError('FERRY_TRIGGER_TOKEN_FILE', 'is not set, but a request endpoint is (FERRY_TRIGGER_LISTEN or FERRY_TRIGGER_SOCKET): every request must carry a token; write one to a file of mode 600 and name it here');
  }
  const provider = env.FERRY_PREEMPTION_PROVIDER?.trim();
  let preemption: TriggerSettings['preemption'];
  if (provider !== undefined && provider !== '') {
    if (provider !== 'aws' && provider !== 'gcp' && provider !== 'azure') throw new ConfigError('FERRY_PREEMPTION_PROVIDER', `must be aws, gcp or azure, got ${JSON.stringify(provider.slice(0, 40))}`);
    preemption = {
      provider,
      url: validateUrl('FERRY_PREEMPTION_URL', readString(env, 'FERRY_PREEMPTION_URL', 'http://169.254.169.254')),
      intervalMs: readTimeoutMs(env, 'FERRY_PREEMPTION_POLL_MS', 5_000),
    };
  } else if (env.FERRY_PREEMPTION_URL || env.FERRY_PREEMPTION_POLL_MS) {
    throw new ConfigError(env.FERRY_PREEMPTION_URL ? 'FERRY_PREEMPTION_URL' : 'FERRY_PREEMPTION_POLL_MS', 'is set but FERRY_PREEMPTION_PROVIDER is not: set it to aws, gcp or azure');
  }
  return {
    rulesFile,
    ...(preemption ? { preemption } : {}),
    ...(listen ? { listen } : {}),
    ...(socket ? { socket } : {}),
    ...(tokenFile ? { tokenFile } : {}),
    shutdownGraceMs: readTimeoutMs(env, 'FERRY_TRIGGER_SHUTDOWN_GRACE_MS', 90_000),
    memoryPollMs: readTimeoutMs(env, 'FERRY_MEMORY_POLL_MS', 2_000),
  };
}

/** Reads and validates the whole configuration. Throws ConfigError naming the first bad setting. */
export function loadConfig(env: Env = process.env): FerryConfig {
  const stateDir = validateAbsoluteDir('FERRY_STATE_DIR', readString(env, 'FERRY_STATE_DIR', defaultStateDir(env)));
  const devDir = path.join(stateDir, 'dev');
  const dev: DevStackSettings = {
    dir: devDir,
    temporalPort: readPort(env, 'FERRY_DEV_TEMPORAL_PORT', DEV_TEMPORAL_PORT),
    temporalUiPort: readPort(env, 'FERRY_DEV_TEMPORAL_UI_PORT', DEV_TEMPORAL_UI_PORT),
    minioPort: readPort(env, 'FERRY_DEV_MINIO_PORT', DEV_MINIO_PORT),
    minioConsolePort: readPort(env, 'FERRY_DEV_MINIO_CONSOLE_PORT', DEV_MINIO_CONSOLE_PORT),
    credentialsFile: path.join(devDir, 'aws-credentials'),
    credentialsProfile: 'ferry-dev',
    hostPolicyFile: path.join(devDir, 'host-policy.json'),
  };

  const temporal = readTemporal(env, {
    address: `127.0.0.1:${dev.temporalPort}`,
    webUrl: validateUrl('FERRY_TEMPORAL_WEB_URL', readString(env, 'FERRY_TEMPORAL_WEB_URL', `http://127.0.0.1:${dev.temporalUiPort}`)),
    taskQueuePrefix: validateQueuePrefix('FERRY_TASK_QUEUE_PREFIX', readString(env, 'FERRY_TASK_QUEUE_PREFIX', DEFAULT_PREFIX)),
  });

  // As the AWS CLI and SDKs take it: ferry's own setting first, then the S3-specific and the
  // general AWS endpoint variables; with none of them, the dev stack's MinIO.
  const endpointFrom = ['FERRY_S3_ENDPOINT', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL'].find((name) => env[name] !== undefined && env[name]!.trim() !== '') ?? null;
  const endpointSetting = endpointFrom === null ? (env.FERRY_S3_ENDPOINT === undefined ? undefined : '') : env[endpointFrom]!.trim();
  const endpoint =
    endpointSetting === undefined
      ? `http://127.0.0.1:${dev.minioPort}`
      : endpointSetting === '' || (endpointFrom === 'FERRY_S3_ENDPOINT' && endpointSetting === 'aws')
        ? undefined
        : validateUrl(endpointFrom ?? 'FERRY_S3_ENDPOINT', endpointSetting);
  if (endpoint !== undefined) refusePlainHttpOverNetwork(endpoint, readBool(env, 'FERRY_S3_ALLOW_HTTP', false));
  const pointsAtDevStack = endpointSetting === undefined;
  const userCredentials = Boolean(env.AWS_ACCESS_KEY_ID || env.AWS_PROFILE || env.AWS_SHARED_CREDENTIALS_FILE);
  // For AWS S3 itself the SDK's own chain finds the region (the profile's too). An S3-compatible
  // endpoint (MinIO, the dev stack) takes any region for signing: us-east-1 unless one is set.
  const regionSetting = env.FERRY_S3_REGION?.trim() || env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || undefined;
  const s3: S3Settings = {
    endpoint,
    endpointFrom: endpointFrom ?? (pointsAtDevStack ? 'the dev stack' : 'FERRY_S3_ENDPOINT'),
    region: regionSetting ?? (endpoint !== undefined ? 'us-east-1' : undefined),
    bucket: validateBucket('FERRY_S3_BUCKET', readString(env, 'FERRY_S3_BUCKET', DEV_BUCKET)),
    prefix: validateKeyPrefix('FERRY_S3_PREFIX', readString(env, 'FERRY_S3_PREFIX', DEFAULT_PREFIX)),
    forcePathStyle: readBool(env, 'FERRY_S3_PATH_STYLE', endpoint !== undefined),
    useDevCredentials: pointsAtDevStack && !userCredentials,
    connectTimeoutMs: readTimeoutMs(env, 'FERRY_S3_CONNECT_TIMEOUT_MS', 5_000),
    requestTimeoutMs: readTimeoutMs(env, 'FERRY_S3_REQUEST_TIMEOUT_MS', 30_000),
    allowUnencrypted: readBool(env, 'FERRY_S3_ALLOW_UNENCRYPTED', false),
  };
  const sse = readSse(env);
  if (sse) s3.sse = sse;
  const encryption = readEncryption(env);

  const direct = env.FERRY_DIRECT_ADDRESS;
  const directAddress = direct === undefined || direct === '' ? undefined : parseDirectAddress('FERRY_DIRECT_ADDRESS', direct);
  const triggers = readTriggers(env);

  const hostPolicy = env.FERRY_HOST_POLICY;
  // The dev stack's own policy applies only to a ferry that uses the dev stack for everything: a
  // worker pointed at a real cluster or store never inherits it.
  const usesDevStack = pointsAtDevStack && temporal.address === `127.0.0.1:${dev.temporalPort}`;
  const hostPolicyFile =
    hostPolicy !== undefined
      ? validatePolicyFile('FERRY_HOST_POLICY', readString(env, 'FERRY_HOST_POLICY', ''))
      : usesDevStack && fs.existsSync(dev.hostPolicyFile)
        ? dev.hostPolicyFile
        : undefined;

  return {
    temporal,
    s3,
    transfer: readTransfer(env),
    ...(hostPolicyFile !== undefined ? { hostPolicyFile } : {}),
    ...(encryption !== undefined ? { encryption } : {}),
    ...(directAddress !== undefined ? { directAddress } : {}),
    ...(triggers !== undefined ? { triggers } : {}),
    criuBinary: readString(env, 'FERRY_CRIU', 'criu'),
    stateDir,
    stagingDir: validateAbsoluteDir('FERRY_STAGING_DIR', readString(env, 'FERRY_STAGING_DIR', path.join(stateDir, 'staging'))),
    dev,
  };
}

/** The settings `ferry dev env` and the README document, with their meaning. */
export const SETTINGS_HELP: ReadonlyArray<[string, string]> = [
  ['FERRY_TEMPORAL_ADDRESS', 'Temporal frontend host:port; wins over TEMPORAL_ADDRESS (default 127.0.0.1:7233, the dev server)'],
  ['FERRY_TEMPORAL_NAMESPACE', 'Temporal namespace; wins over TEMPORAL_NAMESPACE (default "default")'],
  ['FERRY_TEMPORAL_TLS', 'true/false: TLS to the frontend; wins over TEMPORAL_TLS (default false, true with a client certificate or an API key)'],
  ['TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE', 'as Temporal\'s own tools read them, when the FERRY_ variable is unset'],
  ['TEMPORAL_API_KEY', 'API key sent as a bearer token (Temporal Cloud); turns TLS on'],
  ['TEMPORAL_TLS', 'true/false: TLS to the frontend (same as FERRY_TEMPORAL_TLS)'],
  ['TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH', 'PEM client certificate and key for mutual TLS; turn TLS on (read once at start, never printed)'],
  ['TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'PEM CA that signed the server\'s certificate (default: the system\'s CAs)'],
  ['TEMPORAL_TLS_SERVER_NAME', 'name the server\'s certificate must carry, when not the address\'s host'],
  ['TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE', 'Temporal config file (default ~/.config/temporalio/temporal.toml) and its profile (default "default"); the variables above win over it'],
  ['FERRY_TEMPORAL_WEB_URL', 'Temporal web UI base URL for links (default http://127.0.0.1:8233)'],
  ['FERRY_TASK_QUEUE_PREFIX', 'prefix of ferry task queues (default "ferry")'],
  ['FERRY_S3_ENDPOINT', 'S3-compatible endpoint URL; "aws" or empty for AWS S3 (default: $AWS_ENDPOINT_URL_S3, then $AWS_ENDPOINT_URL, else http://127.0.0.1:9000, the dev MinIO)'],
  ['FERRY_S3_REGION', 'S3 region (default: $AWS_REGION, $AWS_DEFAULT_REGION; for AWS S3 then the AWS profile\'s region; us-east-1 for other endpoints)'],
  ['FERRY_S3_BUCKET', 'bucket holding checkpoints (default "ferry")'],
  ['FERRY_S3_PREFIX', 'key prefix inside the bucket (default "ferry")'],
  ['FERRY_S3_ALLOW_HTTP', 'true to allow a plain http:// endpoint on another host (default false: only loopback may be http)'],
  ['FERRY_S3_ALLOW_UNENCRYPTED', 'true to let a store off this machine hold images without an encryption key (default false: a worker refuses to start, with a warning when allowed)'],
  ['FERRY_S3_PATH_STYLE', 'path-style addressing (default true when an endpoint is set)'],
  ['FERRY_S3_SSE', 'server-side encryption asked of the store for every object: AES256 or aws:kms (default: none)'],
  ['FERRY_S3_SSE_KMS_KEY_ID', 'KMS key id/ARN for FERRY_S3_SSE=aws:kms (default: the bucket\'s KMS key)'],
  ['FERRY_S3_CONNECT_TIMEOUT_MS', 'TCP connect timeout for the store (default 5000)'],
  ['FERRY_S3_REQUEST_TIMEOUT_MS', 'a request whose connection stays silent this long fails and is retried (default 30000)'],
  ['FERRY_ENCRYPTION_KEY_FILE', 'absolute path of a file (mode 600) holding a 32-byte key as 64 hex chars or base64: encrypts every layer client-side (AES-256-GCM)'],
  ['FERRY_ENCRYPTION_KEY', 'the same key in the environment (prefer the file); set only one of the two'],
  ['FERRY_ALLOW_UNAUTHENTICATED_CHECKPOINTS', 'true to restore encrypted checkpoints whose manifest carries no authentication code (written before ferry authenticated manifests); a code that does not match is refused always (default false)'],
  ['FERRY_CRIU', 'CRIU binary (default "criu" on PATH; needs >= 4.1)'],
  ['FERRY_STATE_DIR', 'ferry state: dev stack data, logs (default $XDG_STATE_HOME/ferry or ~/.local/state/ferry)'],
  ['FERRY_STAGING_DIR', 'where images are staged before upload / after download (default <state>/staging)'],
  ['FERRY_DIRECT_ADDRESS', 'address[:port] where this host\'s worker receives a migration\'s final layers straight from the source worker (TLS, one key per migration; default: first non-loopback IPv4, any free port)'],
  ['FERRY_METRICS_ADDRESS', 'host:port where `ferry worker` serves Prometheus metrics at /metrics (default: none)'],
  ['FERRY_TRANSFER_CONCURRENCY', 'parts each upload or download keeps in flight (1-64; default 4); memory is about this times the part size'],
  ['FERRY_TRANSFER_PART_MIB', 'multipart part size and transfer buffer in MiB (5-5120; default 16)'],
  ['FERRY_TRANSFER_LIMIT', 'cap on the bytes per second one worker (or command) moves to and from the store, all transfers together, e.g. "50MiB/s" (default: none)'],
  ['FERRY_HOST_POLICY', 'absolute path of the host policy (JSON): which processes may be dumped or restored, where images may go (required for a worker running as root, except on the dev stack, whose policy `ferry dev up` writes; otherwise default: own uid, images in staging for the worker)'],
  ['FERRY_TRIGGERS', 'absolute path of the trigger rules (JSON): which processes `ferry worker` checkpoints on which event (docs/triggers.md; default: none)'],
  ['FERRY_TRIGGER_LISTEN', 'loopback host:port where `ferry worker` takes checkpoint requests (POST /v1/checkpoints), e.g. 127.0.0.1:7310 (default: none)'],
  ['FERRY_TRIGGER_SOCKET', 'absolute path of a Unix socket for the same requests (mode 600; default: none)'],
  ['FERRY_TRIGGER_TOKEN_FILE', 'absolute path of a file (mode 600) holding the bearer token requests must carry; required with an endpoint'],
  ['FERRY_TRIGGER_SHUTDOWN_GRACE_MS', 'how long a worker stopping on SIGTERM gives the checkpoints of its shutdown rules (default 90000)'],
  ['FERRY_MEMORY_POLL_MS', 'how often `ferry worker` checks the thresholds of its memory-pressure rules (default 2000)'],
  ['FERRY_PREEMPTION_PROVIDER', 'aws, gcp or azure: `ferry worker` polls that cloud\'s metadata service for a preemption notice and fires the `preemption` rules (default: none)'],
  ['FERRY_PREEMPTION_URL', 'base URL of the metadata service (default http://169.254.169.254)'],
  ['FERRY_PREEMPTION_POLL_MS', 'how often it is polled (default 5000)'],
  ['AWS_ACCESS_KEY_ID, AWS_PROFILE, ...', 'S3 credentials, through the AWS SDK provider chain only'],
];
