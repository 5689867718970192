/**
 * The RPC client's transport and request loop against a scripted stand-in for `criu swrk`: a small
 * Python program that speaks over the real SEQPACKET socketpair on fd 3, sends pre-encoded
 * responses and records what it received. Needs python3 and ferry's native helper (`npm run
 * build`). Real CRIU is exercised by criu-driver.test.ts and the other criu-* tests here.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeMessage, encodeMessage } from '../../src/criu/codec';
import { checkCriu, preDump } from '../../src/criu/driver';
import { CriuRequestFailed, CriuRpcClient, type NotificationInfo } from '../../src/criu/rpc-client';
import { ReqType } from '../../src/criu/schema';
import { isError, CriuUnavailableError, KernelFeatureMissingError } from '../../src/core';

const FAKE = `#!/usr/bin/env python3
import json, os, socket, sys
assert sys.argv[1:] == ['swrk', '3'], sys.argv
sk = socket.socket(fileno=3)
assert sk.type == socket.SOCK_SEQPACKET
here = os.path.dirname(os.path.abspath(sys.argv[0]))
steps = json.load(open(os.path.join(here, 'steps.json')))
log = open(os.path.join(here, 'log'), 'a')
log.write(json.dumps({'ppid': os.getppid()}) + '\\n'); log.flush()
for step in steps:
    if 'recv' in step:
        data = sk.recv(65536)
        log.write(json.dumps({'recv': data.hex()}) + '\\n'); log.flush()
    elif 'send' in step:
        sk.send(bytes.fromhex(step['send']))
    elif 'exit' in step:
        sys.stderr.write(step.get('stderr', ''))
        sys.exit(step['exit'])
# swrk exits once the client closes its end
sk.recv(1)
`;

let tmp: string;
let fake: string;
let logFile: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-fake-criu-'));
  fake = path.join(tmp, 'criu');
  logFile = path.join(tmp, 'log');
  fs.writeFileSync(fake, FAKE, { mode: 0o755 });
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const resp = (v: Record<string, unknown>): { send: string } => ({ send: encodeMessage('criu_resp', v).toString('hex') });
const RECV = { recv: true };

function script(steps: object[]): void {
  // Jest gives tests a copy of process.env that children do not see: the script reads a file.
  fs.writeFileSync(path.join(tmp, 'steps.json'), JSON.stringify(steps));
}

function received(): Array<Record<string, unknown>> {
  return fs
    .readFileSync(logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { recv?: string })
    .filter((l) => l.recv !== undefined)
    .map((l) => decodeMessage('criu_req', Buffer.from(l.recv!, 'hex')));
}

const VERSION = resp({ type: ReqType.VERSION, success: true, version: { major_number: 4, minor_number: 1, sublevel: 1 } });

describe('CRIU RPC client over a SEQPACKET socketpair', () => {
  it('asks VERSION and FEATURE_CHECK on one worker, requesting every feature as true', async () => {
    script([RECV, VERSION, RECV, resp({ type: ReqType.FEATURE_CHECK, success: true, features: { mem_track: false, lazy_pages: true, pidfd_store: true } })]);
    const result = await checkCriu({ criuBinary: fake });
    expect(result).toMatchObject({ version: '4.1.1', features: { memTrack: false, lazyPages: true, pidfdStore: true }, binary: fake });
    const reqs = received();
    expect(reqs[0]).toMatchObject({ type: ReqType.VERSION, keep_open: true });
    expect(reqs[1]).toMatchObject({ type: ReqType.FEATURE_CHECK, keep_open: true, features: { mem_track: true, lazy_pages: true, pidfd_store: true } });
  });

  it('runs CRIU under an intermediate shell, so restored tasks are not children of Node', async () => {
    script([RECV, VERSION]);
    const client = CriuRpcClient.start(fake);
    await client.version();
    await client.close();
    const { ppid } = JSON.parse(fs.readFileSync(logFile, 'utf8').split('\n')[0]!) as { ppid: number };
    expect(ppid).not.toBe(process.pid);
    expect(ppid).toBe(client.workerPid);
  });

  it('dispatches notifications to typed hooks in order and acknowledges each', async () => {
    const notify = (script: string, pid?: number) => resp({ type: ReqType.NOTIFY, success: true, notify: { script, ...(pid ? { pid } : {}) } });
    script([
      RECV,
      notify('pre-dump'), RECV,
      notify('network-lock'), RECV,
      notify('query-ext-files'), RECV,
      notify('post-dump'), RECV,
      resp({ type: ReqType.DUMP, success: true }),
    ]);
    const client = CriuRpcClient.start(fake);
    const seen: string[] = [];
    const hook = (label: string) => (info: NotificationInfo) => {
      seen.push(`${label}:${info.name}`);
    };
    await client.dump({ images_dir_fd: 5, pid: 123 }, { hooks: { preDump: hook('pre'), postDump: hook('post'), networkLock: hook('lock'), any: hook('any') } });
    await client.close();
    expect(seen).toEqual(['any:pre-dump', 'pre:pre-dump', 'any:network-lock', 'lock:network-lock', 'any:query-ext-files', 'any:post-dump', 'post:post-dump']);
    const reqs = received();
    expect(reqs[0]).toMatchObject({ type: ReqType.DUMP, opts: { images_dir_fd: 5, pid: 123, notify_scripts: true } });
    expect(reqs.slice(1)).toEqual(Array(4).fill({ type: ReqType.NOTIFY, notify_success: true }));
  });

  it('answers false when a hook throws, then rethrows the hook error', async () => {
    script([
      RECV,
      resp({ type: ReqType.NOTIFY, success: true, notify: { script: 'pre-dump' } }), RECV,
      resp({ type: ReqType.DUMP, success: false, cr_errno: 0 }),
    ]);
    const client = CriuRpcClient.start(fake);
    await expect(client.dump({ images_dir_fd: 5, pid: 1 }, { hooks: { preDump: () => { throw new Error('not now'); } } })).rejects.toThrow('not now');
    await client.close();
    expect(received()[1]).toEqual({ type: ReqType.NOTIFY, notify_success: false });
  });

  it('delivers an abort as a failed notification answer', async () => {
    script([
      RECV,
      resp({ type: ReqType.NOTIFY, success: true, notify: { script: 'pre-dump' } }), RECV,
      resp({ type: ReqType.SINGLE_PRE_DUMP, success: false }),
    ]);
    const controller = new AbortController();
    controller.abort(new Error('cancelled by workflow'));
    const client = CriuRpcClient.start(fake);
    await expect(client.singlePreDump({ images_dir_fd: 5, pid: 1 }, { signal: controller.signal })).rejects.toThrow('cancelled by workflow');
    await client.close();
    expect(received()[1]).toEqual({ type: ReqType.NOTIFY, notify_success: false });
  });

  it('reports a failed request with its response', async () => {
    script([RECV, resp({ type: ReqType.RESTORE, success: false, cr_errno: 17, cr_errmsg: 'rlimit noise' })]);
    const client = CriuRpcClient.start(fake);
    const err = await client.restore({ images_dir_fd: 5 }).catch((e: unknown) => e);
    await client.close();
    expect(err).toBeInstanceOf(CriuRequestFailed);
    expect((err as CriuRequestFailed).response.cr_errno).toBe(17);
  });

  it('explains a worker that dies without answering', async () => {
    script([RECV, { exit: 3, stderr: 'Error: kerndat failed\n' }]);
    const client = CriuRpcClient.start(fake);
    const err = await client.version().catch((e: unknown) => e);
    await client.close();
    expect(isError(err, CriuUnavailableError)).toBe(true);
    expect((err as Error).message).toMatch(/closed its socket without answering \(exit status 3; stderr: Error: kerndat failed\)/);
  });

  it('reports a missing binary before spawning anything', async () => {
    await expect(checkCriu({ criuBinary: path.join(tmp, 'no-criu') })).rejects.toThrow(/no executable file at that path/);
  });
});

describe('pre-dump without soft-dirty tracking', () => {
  it('is refused after FEATURE_CHECK, before any dump request, and leaves no images dir behind', async () => {
    // A daemonized sleep: not a descendant of this test, so ferry may target it.
    const pid = Number(execFileSync('sh', ['-c', 'sleep 60 >/dev/null 2>&1 & echo $!']).toString().trim());
    try {
      script([RECV, VERSION, RECV, resp({ type: ReqType.FEATURE_CHECK, success: true, features: { mem_track: false, lazy_pages: false, pidfd_store: true } })]);
      const imagesDir = path.join(tmp, 'predump-1');
      const err = await preDump({ pid, imagesDir }, { criuBinary: fake }).catch((e: unknown) => e);
      expect(isError(err, KernelFeatureMissingError)).toBe(true);
      expect((err as Error).message).toMatch(/CONFIG_MEM_SOFT_DIRTY/);
      expect(received().map((r) => r.type)).toEqual([ReqType.VERSION, ReqType.FEATURE_CHECK]);
      expect(fs.existsSync(imagesDir)).toBe(false);
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });
});
