/**
 * ferry against a Temporal that authenticates clients with mutual TLS: a real dev server behind a
 * TLS front that requires a client certificate signed by the test CA (helpers/mtls-front.ts),
 * with certificates made by openssl (helpers/test-pki.ts). Everything goes through ferry's own
 * configuration and connection code: the real `ferry` command in-process for the client side,
 * and the real `ferry worker` process for the worker side.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ferryInProcess, ferryProcessWithEnv, type FerryRun } from '../helpers/ferry-cli';
import { MtlsFront } from '../helpers/mtls-front';
import { freePort } from '../helpers/ports';
import { removeTempRoots, tempRoot } from '../helpers/temp-dirs';
import { PrivateTemporal, installTestRuntime } from '../helpers/temporal';
import { makeTestPki, type TestPki } from '../helpers/test-pki';
import { until } from '../helpers/until';

let dir: string;
let pki: TestPki;
let temporal: PrivateTemporal;
let front: MtlsFront;
/** A loopback port nothing listens on. */
let closedAddress: string;
/** The base64 body lines of both client keys: none may ever appear in output. */
let keyLines: string[];

beforeAll(async () => {
  installTestRuntime();
  dir = tempRoot('mtls');
  pki = makeTestPki(dir);
  temporal = new PrivateTemporal(path.join(dir, 'temporal.sqlite'));
  await temporal.start();
  front = new MtlsFront({ upstream: temporal.address, certPath: pki.server.certPath, keyPath: pki.server.keyPath, clientCaPath: pki.caPath });
  await front.start();
  closedAddress = `127.0.0.1:${await freePort()}`;
  keyLines = [pki.client.keyPath, pki.untrustedClient.keyPath].flatMap((f) =>
    fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.length > 20 && !l.startsWith('-----')),
  );
  expect(keyLines.length).toBeGreaterThanOrEqual(2);
}, 180000);

afterAll(async () => {
  await front?.stop();
  await temporal?.kill();
  removeTempRoots();
});

const TEMPORAL_VARIABLES = /^(FERRY_TEMPORAL_|TEMPORAL_)/;
const saved = { ...process.env };
/** Sets exactly these Temporal settings (none from the machine's own environment) for one test. */
function useEnv(vars: Record<string, string>): void {
  for (const k of Object.keys(process.env)) if (TEMPORAL_VARIABLES.test(k)) delete process.env[k];
  // No ~/.config/temporalio/temporal.toml of the machine's may leak in, and a setting that fails
  // to apply must not fall back to the machine's shared dev stack: its default port is closed here.
  Object.assign(process.env, {
    XDG_CONFIG_HOME: path.join(dir, 'xdg'),
    FERRY_STATE_DIR: path.join(dir, 'state'),
    FERRY_DEV_TEMPORAL_PORT: closedAddress.split(':')[1],
    ...vars,
  });
}
afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  Object.assign(process.env, saved);
});

function goodCert(): Record<string, string> {
  return { TEMPORAL_TLS_CLIENT_CERT_PATH: pki.client.certPath, TEMPORAL_TLS_CLIENT_KEY_PATH: pki.client.keyPath, TEMPORAL_TLS_SERVER_CA_CERT_PATH: pki.caPath };
}

function expectNoKeyMaterial(run: FerryRun): void {
  for (const line of keyLines) {
    expect(run.stderr).not.toContain(line);
    expect(run.stdout).not.toContain(line);
  }
}

describe('the ferry CLI through a mutual-TLS front', () => {
  test('without a client certificate: refused, and the message asks for one', async () => {
    useEnv({ TEMPORAL_ADDRESS: front.address, TEMPORAL_TLS_SERVER_CA_CERT_PATH: pki.caPath });
    const before = front.accepted;
    front.refusals.length = 0;
    const run = await ferryInProcess('schedule', 'ls');
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(new RegExp(`cannot reach Temporal at ${front.address} \\(from TEMPORAL_ADDRESS\\): the server refused the TLS handshake`));
    expect(run.stderr).toMatch(/requires a client certificate and none is configured; set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH/);
    expect(front.accepted).toBe(before);
    expect(front.refusals).toContain('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE');
  });

  test('with a certificate from a CA the server does not trust: refused, naming the certificate setting, never the key', async () => {
    useEnv({
      TEMPORAL_ADDRESS: front.address,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: pki.caPath,
      TEMPORAL_TLS_CLIENT_CERT_PATH: pki.untrustedClient.certPath,
      TEMPORAL_TLS_CLIENT_KEY_PATH: pki.untrustedClient.keyPath,
    });
    const before = front.accepted;
    const run = await ferryInProcess('schedule', 'ls');
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/the server refused the TLS handshake \(.+\): it does not accept the client certificate from TEMPORAL_TLS_CLIENT_CERT_PATH/);
    expect(front.accepted).toBe(before);
    expectNoKeyMaterial(run);
  });

  test('with the right certificate: the listing goes through the front to Temporal', async () => {
    useEnv({ TEMPORAL_ADDRESS: front.address, ...goodCert() });
    const before = front.accepted;
    const run = await ferryInProcess('schedule', 'ls', '--json');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual([]);
    expect(front.accepted).toBeGreaterThan(before);
  });

  test('a profile of a temporal.toml named by TEMPORAL_CONFIG_FILE works the same', async () => {
    const file = path.join(dir, 'temporal.toml');
    fs.writeFileSync(
      file,
      [
        '[profile.default]',
        `address = "${closedAddress}"`,
        '[profile.mtls]',
        `address = "${front.address}"`,
        '[profile.mtls.tls]',
        `client_cert_path = "${pki.client.certPath}"`,
        `client_key_path = "${pki.client.keyPath}"`,
        `server_ca_cert_path = "${pki.caPath}"`,
        '',
      ].join('\n'),
    );
    useEnv({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'mtls' });
    const ok = await ferryInProcess('schedule', 'ls', '--json');
    expect([ok.code, ok.stderr]).toEqual([0, '']);
    expect(JSON.parse(ok.stdout)).toEqual([]);
    // The default profile of the same file points at nothing: proves the profile was what chose.
    useEnv({ TEMPORAL_CONFIG_FILE: file });
    const off = await ferryInProcess('schedule', 'ls');
    expect(off.code).not.toBe(0);
    expect(off.stderr).toContain(`cannot reach Temporal at ${closedAddress} (from address in profile "default" of ${file}): ECONNREFUSED`);
  });

  test('FERRY_TEMPORAL_ADDRESS wins over TEMPORAL_ADDRESS, both ways', async () => {
    useEnv({ TEMPORAL_ADDRESS: closedAddress, FERRY_TEMPORAL_ADDRESS: front.address, ...goodCert() });
    const ok = await ferryInProcess('schedule', 'ls', '--json');
    expect([ok.code, ok.stderr]).toEqual([0, '']);
    useEnv({ TEMPORAL_ADDRESS: front.address, FERRY_TEMPORAL_ADDRESS: closedAddress, ...goodCert() });
    const refused = await ferryInProcess('schedule', 'ls');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`cannot reach Temporal at ${closedAddress} (from FERRY_TEMPORAL_ADDRESS): ECONNREFUSED`);
  });

  test("without the server's CA: ferry refuses the server's certificate and names the CA setting", async () => {
    useEnv({ TEMPORAL_ADDRESS: front.address, TEMPORAL_TLS_CLIENT_CERT_PATH: pki.client.certPath, TEMPORAL_TLS_CLIENT_KEY_PATH: pki.client.keyPath });
    const run = await ferryInProcess('schedule', 'ls');
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/ferry does not trust the server's certificate \([A-Z_]+\); set TEMPORAL_TLS_SERVER_CA_CERT_PATH/);
    expectNoKeyMaterial(run);
  });

  test('TLS to the plain dev server: the message says the server speaks no TLS', async () => {
    useEnv({ TEMPORAL_ADDRESS: temporal.address, TEMPORAL_TLS: 'true' });
    const run = await ferryInProcess('schedule', 'ls');
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('the server does not speak TLS, but TLS is on (from TEMPORAL_TLS)');
  });
});

describe('the ferry worker through the mutual-TLS front', () => {
  test('with the right certificate it connects, creates its workers and stops on SIGTERM', async () => {
    useEnv({ TEMPORAL_ADDRESS: front.address, FERRY_TASK_QUEUE_PREFIX: `mtls${process.pid}`, ...goodCert() });
    const before = front.accepted;
    const worker = ferryProcessWithEnv({ ...process.env }, 'worker', '--no-activities');
    try {
      await until(
        'the worker to report ready',
        () => {
          const out = worker.output();
          if (worker.child.exitCode !== null) throw new Error(`ferry worker exited (${worker.child.exitCode}): ${out.stderr}`);
          return out.stderr.includes('ready: workflows on');
        },
        120000,
      );
      expect(worker.output().stderr).toContain(`Temporal at ${front.address}`);
      expect(front.accepted).toBeGreaterThan(before);
    } finally {
      worker.child.kill('SIGTERM');
    }
    const end = await worker.done;
    expectNoKeyMaterial(end);
  }, 180000);

  test('with the untrusted certificate it stops at once with the same clear error', async () => {
    useEnv({
      TEMPORAL_ADDRESS: front.address,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: pki.caPath,
      TEMPORAL_TLS_CLIENT_CERT_PATH: pki.untrustedClient.certPath,
      TEMPORAL_TLS_CLIENT_KEY_PATH: pki.untrustedClient.keyPath,
    });
    const worker = ferryProcessWithEnv({ ...process.env }, 'worker', '--no-activities');
    // A worker that wrongly got through would run until stopped: end it, and the test fails below.
    const guard = setTimeout(() => worker.child.kill('SIGKILL'), 60000);
    const end = await worker.done.finally(() => clearTimeout(guard));
    expect(end.code).not.toBe(0);
    expect(end.stderr).toMatch(/the server refused the TLS handshake \(.+\): it does not accept the client certificate from TEMPORAL_TLS_CLIENT_CERT_PATH/);
    expectNoKeyMaterial(end);
  });
});
