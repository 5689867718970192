/**
 * Dev stack building blocks on sockets and files (no Temporal or MinIO needed): process identity,
 * port ownership, credentials files, the state file, env output, and the preflight refusals of
 * `up`. Stopping real processes is in test/integration/devstack.test.ts.
 */
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import { loadConfig, type FerryConfig } from '../../src/config/config';
import { loadOrCreateCredentials, redactSecrets, writeSharedCredentialsFile } from '../../src/devstack/credentials';
import { findPortOwner, isPortFree, parseListeningInodes } from '../../src/devstack/ports';
import { findOnPath, identifyProcess, isRecordedProcessAlive, parseProcStat, stopRecordedProcess, type ProcessRecord } from '../../src/devstack/process';
import { devEnv, devStatus, devUp, formatExports, shellQuote } from '../../src/devstack/stack';
import { readState, stateFile, writeState } from '../../src/devstack/state';
import { freePort } from '../helpers/ports';
import { rejection } from '../helpers/rejection';
import { isError } from '../../src/core';
import { DevStackBinaryMissingError, DevStackPortInUseError, DevStackStateError } from '../../src/devstack/errors';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-devstack-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

function configIn(dir: string, extra: Record<string, string> = {}): FerryConfig {
  return loadConfig({ HOME: dir, FERRY_STATE_DIR: path.join(dir, 'state'), ...extra });
}

describe('process identity', () => {
  it('parses /proc/<pid>/stat even when comm holds spaces and parentheses', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    fields[0] = 'S';
    fields[19] = '123456';
    const stat = parseProcStat(`42 (evil) (name x) ${fields.join(' ')}`);
    expect(stat).toEqual({ comm: 'evil) (name x', state: 'S', startTime: 123456 });
    expect(parseProcStat('garbage')).toBeNull();
  });

  it('recognises this process, and not a record with another start time or boot', async () => {
    const me = await identifyProcess(process.pid);
    expect(me).not.toBeNull();
    const record = me as ProcessRecord;
    expect(await isRecordedProcessAlive(record)).toBe(true);
    expect(await isRecordedProcessAlive({ ...record, startTime: record.startTime + 1 })).toBe(false);
    expect(await isRecordedProcessAlive({ ...record, bootId: 'another-boot' })).toBe(false);
  });

  it('never signals a recycled pid: a record of this pid with another start time is "not-running"', async () => {
    const me = (await identifyProcess(process.pid)) as ProcessRecord;
    expect(await stopRecordedProcess({ ...me, startTime: me.startTime - 1 }, 100, 100)).toBe('not-running');
    expect(await isRecordedProcessAlive(me)).toBe(true);
  });

  it('finds executables on PATH only when they are executable files', async () => {
    await fs.writeFile(path.join(tmp, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
    await fs.writeFile(path.join(tmp, 'plain'), 'x', { mode: 0o644 });
    expect(await findOnPath('tool', `/nonexistent:${tmp}`)).toBe(path.join(tmp, 'tool'));
    expect(await findOnPath('plain', tmp)).toBeNull();
    expect(await findOnPath('missing', tmp)).toBeNull();
  });
});

describe('ports', () => {
  it('parses listening sockets out of /proc/net/tcp text', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1C41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0',
      '   1: 0100007F:1C41 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1',
      '   2: 00000000:2328 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5151 1 0000000000000000 100 0 0 10 0',
    ].join('\n');
    expect(parseListeningInodes(text, 7233)).toEqual([4242]);
    expect(parseListeningInodes(text, 9000)).toEqual([5151]);
    expect(parseListeningInodes(text, 9001)).toEqual([]);
  });

  it('reports a taken port and names the process holding it', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      expect(await isPortFree('127.0.0.1', port)).toBe(false);
      expect(await findPortOwner(port)).toEqual({ pid: process.pid, comm: expect.any(String) });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await isPortFree('127.0.0.1', port)).toBe(true);
  });
});

describe('credentials', () => {
  it('generates root credentials once, keeps them 0600, and reuses them', async () => {
    const file = path.join(tmp, 'dev', 'minio-root.json');
    const first = await loadOrCreateCredentials(file);
    expect(first.created).toBe(true);
    expect(first.credentials.secretAccessKey.length).toBeGreaterThanOrEqual(16);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    const second = await loadOrCreateCredentials(file);
    expect(second).toEqual({ credentials: first.credentials, created: false });
    // A fresh stack gets fresh secrets.
    const other = await loadOrCreateCredentials(path.join(tmp, 'other', 'minio-root.json'));
    expect(other.credentials.secretAccessKey).not.toBe(first.credentials.secretAccessKey);
  });

  it('refuses a damaged credentials file instead of overwriting it', async () => {
    const file = path.join(tmp, 'minio-root.json');
    await fs.writeFile(file, '{"accessKeyId": 1}');
    expect(isError(await rejection(loadOrCreateCredentials(file)), DevStackStateError)).toBe(true);
    expect(await fs.readFile(file, 'utf8')).toBe('{"accessKeyId": 1}');
  });

  it('writes a 0600 shared-credentials file the AWS SDK provider reads', async () => {
    const file = path.join(tmp, 'aws-credentials');
    const creds = { accessKeyId: 'ferryabc', secretAccessKey: 'a-very-secret-value' };
    await writeSharedCredentialsFile(file, 'ferry-dev', creds);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    const read = await fromIni({ filepath: file, configFilepath: path.join(tmp, 'no-config'), profile: 'ferry-dev' })();
    expect(read.accessKeyId).toBe('ferryabc');
    expect(read.secretAccessKey).toBe('a-very-secret-value');
  });

  it('redacts secrets from log excerpts', () => {
    const creds = { accessKeyId: 'ferryabc', secretAccessKey: 's3cr3t-pass' };
    expect(redactSecrets('user ferryabc pass s3cr3t-pass end', creds)).toBe('user <redacted> pass <redacted> end');
  });
});

describe('state file', () => {
  it('round-trips records and treats a missing file as an empty stack', async () => {
    expect(await readState(tmp)).toEqual({ version: 1, components: {} });
    const me = (await identifyProcess(process.pid)) as ProcessRecord;
    const state = {
      version: 1 as const,
      components: {
        minio: {
          ...me,
          component: 'minio' as const,
          command: ['minio', 'server'],
          address: 'http://127.0.0.1:9000',
          uiAddress: 'http://127.0.0.1:9001',
          dataPath: '/d',
          logFile: '/l',
          startedAt: new Date(0).toISOString(),
        },
      },
    };
    await writeState(tmp, state);
    expect(await readState(tmp)).toEqual(state);
  });

  it('refuses a damaged state file with a message naming it', async () => {
    await fs.writeFile(stateFile(tmp), '{"version": 1, "components": {"minio": {"pid": "x"}}}');
    const err = await rejection(readState(tmp));
    expect(isError(err, DevStackStateError)).toBe(true);
    expect(err.message).toContain(stateFile(tmp));
  });
});

describe('env', () => {
  it('prints addresses and where the credentials are, never the credentials', async () => {
    const config = configIn(tmp);
    const { credentials } = await loadOrCreateCredentials(path.join(config.dev.dir, 'minio-root.json'));
    const vars = devEnv(config);
    const byName = Object.fromEntries(vars.map((v) => [v.name, v.value]));
    expect(byName).toMatchObject({
      FERRY_TEMPORAL_ADDRESS: '127.0.0.1:7233',
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
      TEMPORAL_NAMESPACE: 'default',
      FERRY_S3_ENDPOINT: 'http://127.0.0.1:9000',
      AWS_SHARED_CREDENTIALS_FILE: config.dev.credentialsFile,
      AWS_PROFILE: 'ferry-dev',
    });
    const text = formatExports(vars);
    expect(text).not.toContain(credentials.secretAccessKey);
    expect(text).not.toContain(credentials.accessKeyId);
    expect(text.split('\n').every((line) => /^export [A-Z0-9_]+=\S+$/.test(line))).toBe(true);
  });

  it('the exported settings load back into the same configuration', () => {
    const config = configIn(tmp, { FERRY_DEV_MINIO_PORT: '19000' });
    const env = Object.fromEntries(devEnv(config).map((v) => [v.name, v.value]));
    const again = loadConfig({ HOME: tmp, ...env });
    expect(again.temporal.address).toBe(config.temporal.address);
    expect(again.temporal.tls).toBe(false);
    expect(again.s3.endpoint).toBe('http://127.0.0.1:19000');
    expect(again.s3.bucket).toBe(config.s3.bucket);
    expect(again.stateDir).toBe(config.stateDir);
  });

  it('exports the Temporal names too, following the dev ports and namespace, so the temporal CLI finds the same server', () => {
    const config = configIn(tmp, { FERRY_DEV_TEMPORAL_PORT: '17233', FERRY_TEMPORAL_NAMESPACE: 'ferry-dev' });
    const byName = Object.fromEntries(devEnv(config).map((v) => [v.name, v.value]));
    expect(byName.TEMPORAL_ADDRESS).toBe('127.0.0.1:17233');
    expect(byName.TEMPORAL_NAMESPACE).toBe('ferry-dev');
    expect(byName.TEMPORAL_ADDRESS).toBe(byName.FERRY_TEMPORAL_ADDRESS);
    // Loaded back with only Temporal's names, ferry lands on the same server and namespace.
    const again = loadConfig({ HOME: tmp, TEMPORAL_ADDRESS: byName.TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE: byName.TEMPORAL_NAMESPACE });
    expect([again.temporal.address, again.temporal.namespace]).toEqual(['127.0.0.1:17233', 'ferry-dev']);
  });

  it('quotes values for a POSIX shell', () => {
    expect(shellQuote('/plain/path')).toBe('/plain/path');
    expect(shellQuote("it's here")).toBe(`'it'\\''s here'`);
  });
});

describe('up/status preflight', () => {
  let savedPath: string | undefined;
  beforeEach(() => {
    savedPath = process.env.PATH;
  });
  afterEach(() => {
    process.env.PATH = savedPath;
  });

  it('status of a stack that never ran: everything stopped, not up', async () => {
    const status = await devStatus(configIn(tmp));
    expect(status.up).toBe(false);
    expect(status.components.map((c) => [c.component, c.state, c.pid])).toEqual([
      ['temporal', 'stopped', null],
      ['minio', 'stopped', null],
    ]);
  });

  it('up without the binaries says which one is missing and starts nothing', async () => {
    process.env.PATH = tmp;
    const config = configIn(tmp);
    const err = await rejection(devUp(config, { timeoutMs: 5000 }));
    expect(isError(err, DevStackBinaryMissingError)).toBe(true);
    expect(err.message).toContain('`temporal` is not on PATH');
    expect(await readState(config.dev.dir)).toEqual({ version: 1, components: {} });
  });

  it('up refuses a port held by another program, naming it, and starts nothing', async () => {
    // Fake executables: the preflight must stop before anything runs them.
    for (const name of ['temporal', 'minio']) {
      await fs.writeFile(path.join(tmp, name), '#!/bin/sh\ntouch "$0.ran"\n', { mode: 0o755 });
    }
    process.env.PATH = `${tmp}:${savedPath}`;
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const taken = (server.address() as net.AddressInfo).port;
    try {
      const config = configIn(tmp, {
        FERRY_DEV_TEMPORAL_PORT: String(await freePort()),
        FERRY_DEV_TEMPORAL_UI_PORT: String(await freePort()),
        FERRY_DEV_MINIO_PORT: String(taken),
        FERRY_DEV_MINIO_CONSOLE_PORT: String(await freePort()),
      });
      const err = await rejection(devUp(config, { timeoutMs: 5000 }));
      expect(isError(err, DevStackPortInUseError)).toBe(true);
      expect(err).toMatchObject({ component: 'minio', owner: { pid: process.pid } });
      expect(err.message).toContain(`127.0.0.1:${taken}`);
      expect(err.message).toContain('FERRY_DEV_MINIO_PORT');
      expect(await readState(config.dev.dir)).toEqual({ version: 1, components: {} });
      await expect(fs.access(path.join(tmp, 'temporal.ran'))).rejects.toThrow();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
