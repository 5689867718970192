import path from 'node:path';
import { ConfigError, DEV_BUCKET, loadConfig, parseDirectAddress, unencryptedStoreCheck } from '../../src/config/config';
import { isError } from '../../src/core';

const HOME = '/home/tester';
const base = { HOME };

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (isError(err, ConfigError)) return err;
    throw err;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe('loadConfig defaults (nothing configured: the dev stack)', () => {
  const config = loadConfig(base);

  it('points Temporal at the dev server', () => {
    expect(config.temporal.address).toBe('127.0.0.1:7233');
    expect(config.temporal.namespace).toBe('default');
    expect(config.temporal.webUrl).toBe('http://127.0.0.1:8233');
    expect(config.temporal.tls).toBe(false);
    expect(config.temporal.taskQueuePrefix).toBe('ferry');
  });

  it('points S3 at the dev MinIO with path-style addressing and the dev credentials file', () => {
    expect(config.s3.endpoint).toBe('http://127.0.0.1:9000');
    expect(config.s3.bucket).toBe(DEV_BUCKET);
    expect(config.s3.region).toBe('us-east-1');
    expect(config.s3.prefix).toBe('ferry');
    expect(config.s3.forcePathStyle).toBe(true);
    expect(config.s3.useDevCredentials).toBe(true);
  });

  it('keeps state under ~/.local/state/ferry and the dev stack under <state>/dev', () => {
    expect(config.stateDir).toBe(path.join(HOME, '.local', 'state', 'ferry'));
    expect(config.stagingDir).toBe(path.join(config.stateDir, 'staging'));
    expect(config.dev.dir).toBe(path.join(config.stateDir, 'dev'));
    expect(config.dev.credentialsFile).toBe(path.join(config.dev.dir, 'aws-credentials'));
    expect(config.dev.credentialsProfile).toBe('ferry-dev');
    expect([config.dev.temporalPort, config.dev.temporalUiPort, config.dev.minioPort, config.dev.minioConsolePort]).toEqual([7233, 8233, 9000, 9001]);
    expect(config.criuBinary).toBe('criu');
  });

  it('honours XDG_STATE_HOME', () => {
    expect(loadConfig({ ...base, XDG_STATE_HOME: '/xdg' }).stateDir).toBe('/xdg/ferry');
  });

  it('holds no credentials', () => {
    const text = JSON.stringify(loadConfig({ ...base, AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'sekrit-value' }));
    expect(text).not.toContain('AKIDEXAMPLE');
    expect(text).not.toContain('sekrit-value');
  });
});

describe('loadConfig overrides', () => {
  it('moves every dev address together with the dev ports', () => {
    const c = loadConfig({ ...base, FERRY_DEV_TEMPORAL_PORT: '17233', FERRY_DEV_TEMPORAL_UI_PORT: '18233', FERRY_DEV_MINIO_PORT: '19000' });
    expect(c.temporal.address).toBe('127.0.0.1:17233');
    expect(c.temporal.webUrl).toBe('http://127.0.0.1:18233');
    expect(c.s3.endpoint).toBe('http://127.0.0.1:19000');
  });

  it('takes a real cluster and a real S3 endpoint', () => {
    const c = loadConfig({
      ...base,
      FERRY_TEMPORAL_ADDRESS: 'temporal.example.com:7233',
      FERRY_TEMPORAL_NAMESPACE: 'prod',
      FERRY_TEMPORAL_TLS: 'yes',
      FERRY_S3_ENDPOINT: 'https://s3.example.com/',
      FERRY_S3_REGION: 'eu-west-1',
      FERRY_S3_BUCKET: 'my.bucket-1',
      FERRY_S3_PREFIX: '/team/ferry/',
      FERRY_S3_PATH_STYLE: 'false',
      FERRY_CRIU: '/opt/criu/sbin/criu',
      FERRY_STATE_DIR: '/var/lib/ferry/',
    });
    expect(c.temporal).toMatchObject({ address: 'temporal.example.com:7233', namespace: 'prod', tls: {}, apiKey: false });
    expect(c.s3).toMatchObject({ endpoint: 'https://s3.example.com', region: 'eu-west-1', bucket: 'my.bucket-1', prefix: 'team/ferry', forcePathStyle: false });
    expect(c.s3.useDevCredentials).toBe(false);
    expect(c.criuBinary).toBe('/opt/criu/sbin/criu');
    expect(c.dev.dir).toBe('/var/lib/ferry/dev');
    expect(c.stagingDir).toBe(path.join('/var/lib/ferry', 'staging'));
  });

  it('plain http only to this machine, unless FERRY_S3_ALLOW_HTTP says the network is trusted', () => {
    for (const ok of ['http://127.0.0.1:9000', 'http://localhost:9000', 'http://[::1]:9000', 'https://minio.internal:9000']) {
      expect(loadConfig({ ...base, FERRY_S3_ENDPOINT: ok }).s3.endpoint).toBe(ok);
    }
    const err = configError({ ...base, FERRY_S3_ENDPOINT: 'http://minio.internal:9000' });
    expect(err.message).toMatch(/FERRY_S3_ENDPOINT is plain http to minio.internal: .*FERRY_S3_ALLOW_HTTP=true/);
    expect(loadConfig({ ...base, FERRY_S3_ENDPOINT: 'http://10.0.2.100:9000', FERRY_S3_ALLOW_HTTP: 'true' }).s3.endpoint).toBe('http://10.0.2.100:9000');
  });

  it('"aws" or an empty endpoint means AWS S3 itself: no endpoint, virtual-hosted style', () => {
    for (const value of ['aws', '']) {
      const c = loadConfig({ ...base, FERRY_S3_ENDPOINT: value });
      expect(c.s3.endpoint).toBeUndefined();
      expect(c.s3.forcePathStyle).toBe(false);
      expect(c.s3.useDevCredentials).toBe(false);
    }
  });

  it('uses the provider chain instead of the dev file as soon as AWS credentials are configured', () => {
    expect(loadConfig({ ...base, AWS_ACCESS_KEY_ID: 'x' }).s3.useDevCredentials).toBe(false);
    expect(loadConfig({ ...base, AWS_PROFILE: 'work' }).s3.useDevCredentials).toBe(false);
    expect(loadConfig({ ...base, AWS_SHARED_CREDENTIALS_FILE: '/x' }).s3.useDevCredentials).toBe(false);
  });

  it('takes the region from AWS_REGION unless FERRY_S3_REGION is set', () => {
    expect(loadConfig({ ...base, AWS_REGION: 'ap-south-1' }).s3.region).toBe('ap-south-1');
    expect(loadConfig({ ...base, AWS_REGION: 'ap-south-1', FERRY_S3_REGION: 'eu-north-1' }).s3.region).toBe('eu-north-1');
  });
});

describe('loadConfig rejects bad settings, naming them', () => {
  const cases: Array<[string, string]> = [
    ['FERRY_TEMPORAL_ADDRESS', 'no-port'],
    ['FERRY_TEMPORAL_ADDRESS', 'host:99999'],
    ['FERRY_TEMPORAL_TLS', 'maybe'],
    ['FERRY_TEMPORAL_WEB_URL', 'ftp://x'],
    ['FERRY_TASK_QUEUE_PREFIX', 'has space'],
    ['FERRY_S3_ENDPOINT', 'not a url'],
    ['FERRY_S3_ENDPOINT', 'http://user:pass@minio:9000'],
    ['FERRY_S3_BUCKET', 'Upper_Case'],
    ['FERRY_S3_BUCKET', 'a..b'],
    ['FERRY_S3_PREFIX', 'a/../b'],
    ['FERRY_S3_PATH_STYLE', '2'],
    ['FERRY_DEV_TEMPORAL_PORT', '0'],
    ['FERRY_DEV_MINIO_PORT', '65536'],
    ['FERRY_DEV_MINIO_CONSOLE_PORT', 'abc'],
    ['FERRY_STATE_DIR', 'relative/dir'],
    ['FERRY_STAGING_DIR', 'relative'],
    ['FERRY_CRIU', '   '],
  ];
  it.each(cases)('%s=%j', (setting, value) => {
    const err = configError({ ...base, [setting]: value });
    expect(err.setting).toBe(setting);
    expect(err.name).toBe('ConfigError');
    expect(err.message).toContain(setting);
  });

  it('never echoes credentials embedded in an endpoint URL', () => {
    const err = configError({ ...base, FERRY_S3_ENDPOINT: 'http://user:topsecret@minio:9000' });
    expect(err.message).not.toContain('topsecret');
  });

  it('((e: unknown) => isError(e, ConfigError)) recognises the error by name across realms', () => {
    expect(isError({ name: 'ConfigError' }, ConfigError)).toBe(true);
    expect(isError(new Error('x'), ConfigError)).toBe(false);
    expect(isError(undefined, ConfigError)).toBe(false);
  });
});

describe('the direct address a worker advertises', () => {
  test('address, address:port and [v6]:port; the port defaults to any free one', () => {
    expect(parseDirectAddress('X', '10.0.0.5')).toEqual({ host: '10.0.0.5', port: 0 });
    expect(parseDirectAddress('X', 'node-b.internal:7300')).toEqual({ host: 'node-b.internal', port: 7300 });
    expect(parseDirectAddress('X', '[fd00::5]:7300')).toEqual({ host: 'fd00::5', port: 7300 });
    expect(loadConfig({ FERRY_DIRECT_ADDRESS: '10.0.0.5:7300' }).directAddress).toEqual({ host: '10.0.0.5', port: 7300 });
    expect(loadConfig({}).directAddress).toBeUndefined();
  });

  test('a wildcard, a bad port or garbage is refused, naming the setting', () => {
    for (const bad of ['0.0.0.0', '[::]:7300', '10.0.0.5:70000', 'a b', '10.0.0.5:']) {
      expect(() => parseDirectAddress('FERRY_DIRECT_ADDRESS', bad)).toThrow(/FERRY_DIRECT_ADDRESS/);
    }
  });
});

describe('a store off this machine without an encryption key', () => {
  const check = (env: Record<string, string>) => unencryptedStoreCheck(loadConfig(env));

  test('the dev stack and any loopback store may hold plaintext images', () => {
    expect(check({})).toBeNull();
    expect(check({ FERRY_S3_ENDPOINT: 'http://127.0.0.1:19000' })).toBeNull();
  });

  test('AWS or a store across the network is refused without a key, naming both ways out', () => {
    for (const env of [{ FERRY_S3_ENDPOINT: 'aws' }, { FERRY_S3_ENDPOINT: 'https://s3.example.com' }]) {
      const c = check(env);
      expect(c).toMatchObject({ refuse: expect.stringMatching(/FERRY_ENCRYPTION_KEY_FILE.*FERRY_S3_ALLOW_UNENCRYPTED=true/) });
    }
  });

  test('allowed explicitly, it is a warning; with a key, nothing to say', () => {
    expect(check({ FERRY_S3_ENDPOINT: 'https://s3.example.com', FERRY_S3_ALLOW_UNENCRYPTED: 'true' })).toMatchObject({ warn: expect.stringMatching(/unencrypted/) });
    expect(check({ FERRY_S3_ENDPOINT: 'https://s3.example.com', FERRY_ENCRYPTION_KEY: 'a'.repeat(64) })).toBeNull();
  });
});

describe('S3 settings as the AWS SDK and CLI take them', () => {
  it('takes the endpoint from FERRY_S3_ENDPOINT, then AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, else the dev stack', () => {
    expect(loadConfig(base).s3).toMatchObject({ endpoint: 'http://127.0.0.1:9000', endpointFrom: 'the dev stack', useDevCredentials: true });
    expect(loadConfig({ ...base, AWS_ENDPOINT_URL: 'https://s3.general.example' }).s3).toMatchObject({ endpoint: 'https://s3.general.example', endpointFrom: 'AWS_ENDPOINT_URL' });
    const s3Specific = loadConfig({ ...base, AWS_ENDPOINT_URL: 'https://s3.general.example', AWS_ENDPOINT_URL_S3: 'https://s3.specific.example' }).s3;
    expect(s3Specific).toMatchObject({ endpoint: 'https://s3.specific.example', endpointFrom: 'AWS_ENDPOINT_URL_S3', useDevCredentials: false });
    expect(loadConfig({ ...base, AWS_ENDPOINT_URL_S3: 'https://s3.specific.example', FERRY_S3_ENDPOINT: 'https://ferry.example' }).s3.endpoint).toBe('https://ferry.example');
    expect(loadConfig({ ...base, AWS_ENDPOINT_URL_S3: 'https://s3.specific.example', FERRY_S3_ENDPOINT: 'aws' }).s3.endpoint).toBeUndefined();
    expect(configError({ ...base, AWS_ENDPOINT_URL_S3: 'not a url' }).setting).toBe('AWS_ENDPOINT_URL_S3');
  });

  it('takes the region from FERRY_S3_REGION, AWS_REGION or AWS_DEFAULT_REGION; else us-east-1 for an S3-compatible endpoint, and the SDK (the profile) for AWS S3', () => {
    expect(loadConfig(base).s3.region).toBe('us-east-1');
    expect(loadConfig({ ...base, FERRY_S3_ENDPOINT: 'https://minio.example:9000' }).s3.region).toBe('us-east-1');
    expect(loadConfig({ ...base, FERRY_S3_ENDPOINT: 'aws' }).s3.region).toBeUndefined();
    expect(loadConfig({ ...base, FERRY_S3_ENDPOINT: 'aws', AWS_DEFAULT_REGION: 'eu-west-3' }).s3.region).toBe('eu-west-3');
    expect(loadConfig({ ...base, FERRY_S3_ENDPOINT: 'aws', AWS_DEFAULT_REGION: 'eu-west-3', AWS_REGION: 'eu-north-1' }).s3.region).toBe('eu-north-1');
    expect(loadConfig({ ...base, FERRY_S3_ENDPOINT: 'aws', AWS_REGION: 'eu-north-1', FERRY_S3_REGION: 'ap-south-1' }).s3.region).toBe('ap-south-1');
  });
});
