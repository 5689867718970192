/**
 * How ferry reaches Temporal, resolved once: ferry's own FERRY_TEMPORAL_* variables first, then
 * what Temporal's own tools read (TEMPORAL_ADDRESS, TEMPORAL_API_KEY, TEMPORAL_TLS_*, and a
 * profile of the Temporal config file, through @temporalio/envconfig), then the dev stack.
 *
 * Certificates, keys and the API key are read here and nowhere else. They live in a
 * TemporalSecrets object that neither JSON nor util.inspect can print; everything else in
 * TemporalSettings is safe to show and names where each value came from, so that an error can
 * say which variable to change.
 */
import fs from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import { loadClientConfigProfile, type ClientConfigProfile, type ConfigDataSource } from '@temporalio/envconfig';
import type { TLSConfig } from '@temporalio/client';

type Env = Record<string, string | undefined>;

/** A setting that is present but unusable (config.ts wraps it in its ConfigError). */
export class TemporalSettingError extends Error {
  constructor(readonly setting: string, readonly problem: string) {
    super(`${setting} ${problem}`);
    this.name = 'TemporalSettingError';
  }
}

/** What TLS to the frontend uses, by where it came from (never the material itself). */
export interface TemporalTls {
  /** Name the server's certificate must carry, when not the address's host (TEMPORAL_TLS_SERVER_NAME). */
  serverName?: string;
  /** Where the CA that signs the server's certificate came from; absent = the system's CAs. */
  serverCaFrom?: string;
  /** Where the client certificate came from; absent = none is presented. */
  clientCertFrom?: string;
}

export interface TemporalSettings {
  /** host:port of the Temporal frontend (gRPC). */
  address: string;
  namespace: string;
  /** Base URL of the Temporal web UI, used to print links to workflows. */
  webUrl: string;
  /** Task queue that runs workflow code; each host's activities run on `<prefix>-host-<name>`. */
  taskQueuePrefix: string;
  /** TLS settings, or false for plain TCP (the dev server). An API key turns TLS on. */
  tls: TemporalTls | false;
  /** True when an API key is sent (the key itself is only in `secrets`). */
  apiKey: boolean;
  /** Which setting gave each value: a variable name, a profile of a config file, or null for the default. */
  origin: { address: string | null; tls: string | null; profile: string | null };
  secrets: TemporalSecrets;
}

/**
 * The key material and API key. Private fields: JSON.stringify and util.inspect (and so every log
 * line, error and workflow input that might carry a config by accident) see only "[redacted]".
 */
export class TemporalSecrets {
  readonly #tls: TLSConfig | undefined;
  readonly #apiKey: string | undefined;
  readonly #metadata: Record<string, string> | undefined;

  constructor(parts: { tls?: TLSConfig; apiKey?: string; metadata?: Record<string, string> }) {
    this.#tls = parts.tls;
    this.#apiKey = parts.apiKey;
    this.#metadata = parts.metadata;
  }

  /** Options both Connection.connect (client) and NativeConnection.connect (worker) take. */
  connectionOptions(): { tls?: TLSConfig; apiKey?: string; metadata?: Record<string, string> } {
    return {
      ...(this.#tls ? { tls: this.#tls } : {}),
      ...(this.#apiKey !== undefined ? { apiKey: this.#apiKey } : {}),
      ...(this.#metadata ? { metadata: this.#metadata } : {}),
    };
  }

  toJSON(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return 'TemporalSecrets [redacted]';
  }
}

/** The file Temporal's tools read profiles from: TEMPORAL_CONFIG_FILE, else ~/.config/temporalio/temporal.toml. */
export function temporalConfigFile(env: Env): string | null {
  if (env.TEMPORAL_CONFIG_FILE) return env.TEMPORAL_CONFIG_FILE;
  const configHome = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : env.HOME ? path.join(env.HOME, '.config') : null;
  return configHome === null ? null : path.join(configHome, 'temporalio', 'temporal.toml');
}

function definedOnly(env: Env): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

/** The profile, with TEMPORAL_* variables already applied over it by envconfig. */
function loadProfile(env: Env, file: string | null, profileLabel: string): ClientConfigProfile {
  // envconfig treats a missing file as "no profiles"; a file the user named explicitly must exist.
  if (env.TEMPORAL_CONFIG_FILE !== undefined && !fs.existsSync(env.TEMPORAL_CONFIG_FILE)) {
    throw new TemporalSettingError('TEMPORAL_CONFIG_FILE', `names ${env.TEMPORAL_CONFIG_FILE}, which does not exist`);
  }
  try {
    return loadClientConfigProfile({ overrideEnvVars: definedOnly(env) });
  } catch (err) {
    const e = err as Error & { code?: string; line?: number; column?: number };
    if (env.TEMPORAL_PROFILE && /^Profile '.*' not found/.test(e.message)) {
      throw new TemporalSettingError('TEMPORAL_PROFILE', `names profile ${JSON.stringify(env.TEMPORAL_PROFILE)}, which ${file ?? 'the config file'} does not have`);
    }
    const where = env.TEMPORAL_CONFIG_FILE !== undefined ? 'TEMPORAL_CONFIG_FILE' : `the Temporal config file ${file}`;
    if (e.code) throw new TemporalSettingError(where, `cannot be read (${e.code})`);
    // A TOML parser's message quotes the offending lines, which may hold an API key or a private
    // key: only the position goes into ferry's message.
    if (e.line !== undefined) throw new TemporalSettingError(where, `is not valid TOML (line ${e.line}, column ${e.column ?? '?'})`);
    throw new TemporalSettingError(where, `${profileLabel}: ${e.message.split('\n')[0]}`);
  }
}

const PEM_KIND = { cert: 'a PEM certificate', key: 'a PEM private key' } as const;

/** Reads one certificate or key, naming the setting (and path, never the content) when it fails. */
function readPem(source: ConfigDataSource, from: string, kind: keyof typeof PEM_KIND): Buffer {
  let bytes: Buffer;
  if ('path' in source) {
    try {
      bytes = fs.readFileSync(source.path);
    } catch (err) {
      throw new TemporalSettingError(from, `names ${source.path}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  } else {
    bytes = Buffer.from(source.data);
  }
  if (!bytes.includes('-----BEGIN ')) {
    throw new TemporalSettingError(from, `does not hold ${PEM_KIND[kind]}${'path' in source ? ` (${source.path})` : ''}`);
  }
  return bytes;
}

/** Readable origin of a TLS file setting: the variable that set it, or the profile's key. */
function tlsOrigin(env: Env, variable: string, tomlKey: string, profileLabel: string): string {
  if (env[`${variable}_PATH`] !== undefined) return `${variable}_PATH`;
  if (env[`${variable}_DATA`] !== undefined) return `${variable}_DATA`;
  return `${tomlKey} in ${profileLabel}`;
}

function readBoolSetting(env: Env, name: string): boolean | undefined {
  const value = env[name]?.trim().toLowerCase();
  if (value === undefined || value === '') return undefined;
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw new TemporalSettingError(name, `must be true or false, got ${JSON.stringify(env[name]!.slice(0, 40))}`);
}

export interface TemporalDefaults {
  address: string;
  webUrl: string;
  taskQueuePrefix: string;
}

/**
 * Resolves the connection settings. Precedence, per value: FERRY_TEMPORAL_* > TEMPORAL_* >
 * the profile (TEMPORAL_PROFILE, default "default") of the config file > the dev stack.
 * Address and namespace are validated by the caller (config.ts), with the setting named here.
 */
export function resolveTemporalSettings(env: Env, defaults: TemporalDefaults): { settings: TemporalSettings; addressSetting: string; namespaceSetting: string } {
  const file = temporalConfigFile(env);
  const profileName = env.TEMPORAL_PROFILE || 'default';
  const profileLabel = `profile "${profileName}" of ${file ?? 'the Temporal config file'}`;
  const fileExists = file !== null && fs.existsSync(file);
  const profile = loadProfile(env, file, profileLabel);

  if (readBoolSetting(env, 'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION')) {
    throw new TemporalSettingError(
      'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION',
      "is not supported: Temporal's TypeScript SDK always verifies the server's certificate; give the CA that signed it " +
        '(TEMPORAL_TLS_SERVER_CA_CERT_PATH) and the name it was issued for (TEMPORAL_TLS_SERVER_NAME) instead',
    );
  }

  const ferryAddress = env.FERRY_TEMPORAL_ADDRESS;
  const address = ferryAddress ?? profile.address ?? defaults.address;
  const addressFrom =
    ferryAddress !== undefined ? 'FERRY_TEMPORAL_ADDRESS' : env.TEMPORAL_ADDRESS !== undefined ? 'TEMPORAL_ADDRESS' : profile.address !== undefined ? `address in ${profileLabel}` : null;
  const namespace = env.FERRY_TEMPORAL_NAMESPACE ?? profile.namespace ?? 'default';
  const namespaceSetting =
    env.FERRY_TEMPORAL_NAMESPACE !== undefined ? 'FERRY_TEMPORAL_NAMESPACE' : env.TEMPORAL_NAMESPACE !== undefined ? 'TEMPORAL_NAMESPACE' : `namespace in ${profileLabel}`;

  const apiKey = profile.apiKey === '' ? undefined : profile.apiKey;
  const apiKeyFrom = apiKey === undefined ? null : env.TEMPORAL_API_KEY ? 'TEMPORAL_API_KEY' : `api_key in ${profileLabel}`;

  // Explicit on/off wins (ferry's variable over Temporal's over the profile's `disabled`); then a
  // [tls] table or any TEMPORAL_TLS_* value means on, and so does an API key, as in Temporal's tools.
  const ferryTls = readBoolSetting(env, 'FERRY_TEMPORAL_TLS');
  const temporalTls = readBoolSetting(env, 'TEMPORAL_TLS');
  const profileTls = profile.tls;
  let tlsOn: boolean;
  let tlsFrom: string | null;
  if (ferryTls !== undefined) [tlsOn, tlsFrom] = [ferryTls, 'FERRY_TEMPORAL_TLS'];
  else if (temporalTls !== undefined) [tlsOn, tlsFrom] = [temporalTls, 'TEMPORAL_TLS'];
  else if (profileTls?.disabled !== undefined) [tlsOn, tlsFrom] = [!profileTls.disabled, `tls.disabled in ${profileLabel}`];
  else if (profileTls !== undefined) {
    const tlsVariables = Object.keys(env).filter((k) => k.startsWith('TEMPORAL_TLS_') && env[k] !== undefined);
    [tlsOn, tlsFrom] = [true, tlsVariables.length > 0 ? tlsVariables.sort().join(', ') : `[tls] in ${profileLabel}`];
  }
  else if (apiKeyFrom !== null) [tlsOn, tlsFrom] = [true, apiKeyFrom];
  else [tlsOn, tlsFrom] = [false, null];

  let tls: TemporalTls | false = false;
  let tlsConfig: TLSConfig | undefined;
  if (tlsOn) {
    tls = {};
    tlsConfig = {};
    const serverName = profileTls?.serverName;
    if (serverName) [tls.serverName, tlsConfig.serverNameOverride] = [serverName, serverName];
    if (profileTls?.serverCACert) {
      tls.serverCaFrom = tlsOrigin(env, 'TEMPORAL_TLS_SERVER_CA_CERT', 'tls.server_ca_cert_path', profileLabel);
      tlsConfig.serverRootCACertificate = readPem(profileTls.serverCACert, tls.serverCaFrom, 'cert');
    }
    const certSource = profileTls?.clientCert;
    const keySource = profileTls?.clientKey;
    const certFrom = tlsOrigin(env, 'TEMPORAL_TLS_CLIENT_CERT', 'tls.client_cert_path', profileLabel);
    const keyFrom = tlsOrigin(env, 'TEMPORAL_TLS_CLIENT_KEY', 'tls.client_key_path', profileLabel);
    if (certSource && !keySource) throw new TemporalSettingError(certFrom, 'gives a client certificate without its key: set TEMPORAL_TLS_CLIENT_KEY_PATH too');
    if (keySource && !certSource) throw new TemporalSettingError(keyFrom, 'gives a client key without its certificate: set TEMPORAL_TLS_CLIENT_CERT_PATH too');
    if (certSource && keySource) {
      tls.clientCertFrom = certFrom;
      tlsConfig.clientCertPair = { crt: readPem(certSource, certFrom, 'cert'), key: readPem(keySource, keyFrom, 'key') };
    }
  }

  const settings: TemporalSettings = {
    address,
    namespace,
    webUrl: defaults.webUrl,
    taskQueuePrefix: defaults.taskQueuePrefix,
    tls,
    apiKey: apiKey !== undefined,
    origin: { address: addressFrom, tls: tlsFrom, profile: fileExists ? profileLabel : null },
    secrets: new TemporalSecrets({
      ...(tlsConfig ? { tls: tlsConfig } : {}),
      ...(apiKey !== undefined ? { apiKey } : {}),
      ...(profile.grpcMeta && Object.keys(profile.grpcMeta).length > 0 ? { metadata: profile.grpcMeta } : {}),
    }),
  };
  return { settings, addressSetting: addressFrom ?? 'FERRY_TEMPORAL_ADDRESS', namespaceSetting };
}
