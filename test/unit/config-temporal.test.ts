/**
 * How ferry resolves its Temporal connection: FERRY_TEMPORAL_* over TEMPORAL_* over a profile of
 * the Temporal config file over the dev stack; an API key turns TLS on; certificates and keys are
 * read once, named by their setting when unusable, and never printed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { ConfigError, loadConfig } from '../../src/config/config';
import { isError } from '../../src/core';

// The resolution reads only bytes that look like PEM; a real handshake with real certificates is
// test/integration/temporal-mtls.test.ts.
const CERT = '-----BEGIN CERTIFICATE-----\nY2VydC1ib2R5LWZvci11bml0LXRlc3Rz\n-----END CERTIFICATE-----\n';
const KEY_BODY = 'UFJJVkFURS1LRVktTUFURVJJQUwtOTQxMw';
const KEY = `-----BEGIN PRIVATE KEY-----\n${KEY_BODY}\n-----END PRIVATE KEY-----\n`;
const API_KEY = 'api-key-value-7f3e9b';

let dir: string;
let home: string;
let files: { ca: string; cert: string; key: string };
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-config-temporal-'));
  home = path.join(dir, 'home');
  fs.mkdirSync(home);
  files = { ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'client.pem'), key: path.join(dir, 'client.key') };
  fs.writeFileSync(files.ca, CERT);
  fs.writeFileSync(files.cert, CERT);
  fs.writeFileSync(files.key, KEY, { mode: 0o600 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function load(env: Record<string, string>) {
  return loadConfig({ HOME: home, ...env }).temporal;
}

function configError(env: Record<string, string>): ConfigError {
  try {
    load(env);
  } catch (err) {
    if (isError(err, ConfigError)) return err;
    throw err;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(Object.keys(env))}`);
}

function writeToml(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

describe('precedence', () => {
  it('with nothing set (and no config file) ferry talks plain TCP to the dev stack', () => {
    const t = load({});
    expect(t).toMatchObject({ address: '127.0.0.1:7233', namespace: 'default', tls: false, apiKey: false });
    expect(t.origin).toEqual({ address: null, tls: null, profile: null });
    expect(t.secrets.connectionOptions()).toEqual({});
  });

  it("takes Temporal's own variables", () => {
    const t = load({ TEMPORAL_ADDRESS: 'cluster.example:7233', TEMPORAL_NAMESPACE: 'prod' });
    expect([t.address, t.namespace, t.origin.address]).toEqual(['cluster.example:7233', 'prod', 'TEMPORAL_ADDRESS']);
  });

  it('FERRY_TEMPORAL_ADDRESS and FERRY_TEMPORAL_NAMESPACE win over TEMPORAL_*', () => {
    const t = load({ TEMPORAL_ADDRESS: 'cluster.example:7233', FERRY_TEMPORAL_ADDRESS: 'mine.example:7233', TEMPORAL_NAMESPACE: 'prod', FERRY_TEMPORAL_NAMESPACE: 'ferry' });
    expect([t.address, t.namespace, t.origin.address]).toEqual(['mine.example:7233', 'ferry', 'FERRY_TEMPORAL_ADDRESS']);
  });

  it('FERRY_TEMPORAL_TLS=false wins over TEMPORAL_TLS=true, and the other way round', () => {
    expect(load({ TEMPORAL_TLS: 'true', FERRY_TEMPORAL_TLS: 'false' }).tls).toBe(false);
    expect(load({ TEMPORAL_TLS: 'false', FERRY_TEMPORAL_TLS: 'true' }).tls).toEqual({});
  });

  it('reads the default profile of ~/.config/temporalio/temporal.toml, and a named one from TEMPORAL_CONFIG_FILE', () => {
    const defaultFile = path.join(home, '.config', 'temporalio', 'temporal.toml');
    fs.mkdirSync(path.dirname(defaultFile), { recursive: true });
    fs.writeFileSync(defaultFile, '[profile.default]\naddress = "home.example:7233"\nnamespace = "home"\n');
    try {
      const t = load({});
      expect([t.address, t.namespace, t.tls]).toEqual(['home.example:7233', 'home', false]);
      expect(t.origin.profile).toBe(`profile "default" of ${defaultFile}`);
    } finally {
      fs.rmSync(path.join(home, '.config'), { recursive: true });
    }
    const file = writeToml('named.toml', `[profile.cloud]\naddress = "ns.acct.tmprl.cloud:7233"\nnamespace = "ns.acct"\n[profile.cloud.tls]\nserver_ca_cert_path = "${files.ca}"\nclient_cert_path = "${files.cert}"\nclient_key_path = "${files.key}"\nserver_name = "ns.acct.tmprl.cloud"\n`);
    const t = load({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'cloud' });
    expect(t).toMatchObject({ address: 'ns.acct.tmprl.cloud:7233', namespace: 'ns.acct', origin: { address: `address in profile "cloud" of ${file}` } });
    expect(t.tls).toEqual({
      serverName: 'ns.acct.tmprl.cloud',
      serverCaFrom: `tls.server_ca_cert_path in profile "cloud" of ${file}`,
      clientCertFrom: `tls.client_cert_path in profile "cloud" of ${file}`,
    });
    const tls = t.secrets.connectionOptions().tls!;
    expect(Buffer.from(tls.clientCertPair!.key).toString()).toBe(KEY);
    expect(Buffer.from(tls.serverRootCACertificate!).toString()).toBe(CERT);
    expect(tls.serverNameOverride).toBe('ns.acct.tmprl.cloud');
  });

  it('variables win over the profile, value by value', () => {
    const file = writeToml('layered.toml', '[profile.default]\naddress = "file.example:7233"\nnamespace = "from-file"\napi_key = "from-file-key"\n');
    const t = load({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_ADDRESS: 'env.example:7233', FERRY_TEMPORAL_NAMESPACE: 'ferry' });
    expect([t.address, t.namespace]).toEqual(['env.example:7233', 'ferry']);
    expect(t.secrets.connectionOptions().apiKey).toBe('from-file-key');
    expect(load({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_API_KEY: API_KEY }).secrets.connectionOptions().apiKey).toBe(API_KEY);
  });
});

describe('TLS and the API key', () => {
  it('an API key turns TLS on (system CAs), unless TLS is explicitly off', () => {
    const t = load({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: API_KEY });
    expect(t).toMatchObject({ tls: {}, apiKey: true, origin: { tls: 'TEMPORAL_API_KEY' } });
    expect(t.secrets.connectionOptions()).toEqual({ tls: {}, apiKey: API_KEY });
    const off = load({ TEMPORAL_API_KEY: API_KEY, TEMPORAL_TLS: 'false' });
    expect([off.tls, off.apiKey]).toEqual([false, true]);
  });

  it('a client certificate and key turn TLS on and are read once, into the connection options only', () => {
    const t = load({ TEMPORAL_TLS_CLIENT_CERT_PATH: files.cert, TEMPORAL_TLS_CLIENT_KEY_PATH: files.key, TEMPORAL_TLS_SERVER_CA_CERT_PATH: files.ca, TEMPORAL_TLS_SERVER_NAME: 'frontend.internal' });
    expect(t.tls).toEqual({ serverName: 'frontend.internal', serverCaFrom: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', clientCertFrom: 'TEMPORAL_TLS_CLIENT_CERT_PATH' });
    const tls = t.secrets.connectionOptions().tls!;
    expect(Buffer.from(tls.clientCertPair!.crt).toString()).toBe(CERT);
    expect(Buffer.from(tls.clientCertPair!.key).toString()).toBe(KEY);
  });

  it('key material and the API key never show in JSON or util.inspect of the configuration', () => {
    const config = loadConfig({ HOME: home, TEMPORAL_API_KEY: API_KEY, TEMPORAL_TLS_CLIENT_CERT_PATH: files.cert, TEMPORAL_TLS_CLIENT_KEY_PATH: files.key });
    for (const text of [JSON.stringify(config), inspect(config, { depth: 10, showHidden: true })]) {
      expect(text).not.toContain(KEY_BODY);
      expect(text).not.toContain(API_KEY);
    }
    // The material is there, behind the one accessor.
    expect(config.temporal.secrets.connectionOptions().apiKey).toBe(API_KEY);
  });
});

describe('unusable settings are named, never echoed', () => {
  it('a certificate path that does not exist names the variable and the path', () => {
    const err = configError({ TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'missing.pem'), TEMPORAL_TLS_CLIENT_KEY_PATH: files.key });
    expect(err.setting).toBe('TEMPORAL_TLS_CLIENT_CERT_PATH');
    expect(err.message).toContain(path.join(dir, 'missing.pem'));
    expect(err.message).toContain('ENOENT');
  });

  it('a key file that is not PEM names the variable, not the content', () => {
    const junk = path.join(dir, 'junk.key');
    fs.writeFileSync(junk, 'not-a-key-but-secret-bytes-5521');
    const err = configError({ TEMPORAL_TLS_CLIENT_CERT_PATH: files.cert, TEMPORAL_TLS_CLIENT_KEY_PATH: junk });
    expect(err.setting).toBe('TEMPORAL_TLS_CLIENT_KEY_PATH');
    expect(err.message).toMatch(/does not hold a PEM private key/);
    expect(err.message).not.toContain('secret-bytes-5521');
  });

  it('a certificate without its key, or a key without its certificate, names what is missing', () => {
    expect(configError({ TEMPORAL_TLS_CLIENT_CERT_PATH: files.cert }).message).toMatch(/TEMPORAL_TLS_CLIENT_CERT_PATH gives a client certificate without its key: set TEMPORAL_TLS_CLIENT_KEY_PATH/);
    expect(configError({ TEMPORAL_TLS_CLIENT_KEY_PATH: files.key }).message).toMatch(/TEMPORAL_TLS_CLIENT_KEY_PATH gives a client key without its certificate/);
  });

  it('a config file, or a profile, that is not there', () => {
    expect(configError({ TEMPORAL_CONFIG_FILE: path.join(dir, 'nope.toml') }).setting).toBe('TEMPORAL_CONFIG_FILE');
    const file = writeToml('one.toml', '[profile.default]\naddress = "a.example:7233"\n');
    const err = configError({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'staging' });
    expect(err.setting).toBe('TEMPORAL_PROFILE');
    expect(err.message).toContain('"staging"');
  });

  it('a config file that is not TOML gives the position, never the lines (they may hold a key)', () => {
    const file = writeToml('broken.toml', `[profile.default]\napi_key = "${API_KEY}\n`);
    const err = configError({ TEMPORAL_CONFIG_FILE: file });
    expect(err.setting).toBe('TEMPORAL_CONFIG_FILE');
    expect(err.message).toMatch(/is not valid TOML \(line 2, column \d+\)/);
    expect(err.message).not.toContain(API_KEY);
  });

  it('a TEMPORAL_ADDRESS without a port is refused under its own name', () => {
    expect(configError({ TEMPORAL_ADDRESS: 'no-port' }).setting).toBe('TEMPORAL_ADDRESS');
    expect(configError({ TEMPORAL_TLS: 'maybe' }).setting).toBe('TEMPORAL_TLS');
  });

  it('TEMPORAL_TLS_DISABLE_HOST_VERIFICATION=true is refused: the SDK cannot skip verification', () => {
    const err = configError({ TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true' });
    expect(err.setting).toBe('TEMPORAL_TLS_DISABLE_HOST_VERIFICATION');
    expect(err.message).toMatch(/TEMPORAL_TLS_SERVER_NAME/);
    expect(load({ TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'false' }).tls).toEqual({});
  });
});
