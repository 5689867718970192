/**
 * The host policy without CRIU: parsing and validating the file, the path rules (`..`, symlinks)
 * and the process rules on given facts. The real-process refusals are in
 * test/integration/host-policy.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, SETTINGS_HELP, ConfigError } from '../../src/config/config';
import { PERMANENT_FAILURE_TYPES, PolicyRefused, RefusedTargetError, errorKind, isError } from '../../src/core';
import {
  checkImagesDirAllowed,
  checkProcessAllowed,
  defaultHostPolicy,
  loadHostPolicy,
  parseHostPolicy,
  processViolation,
  resolveReal,
  rootWorkerPolicyProblem,
  type HostPolicy,
  type ProcessFacts,
} from '../../src/policy/host-policy';

let tmp: string;
let stderr: jest.SpyInstance;
const logged = (): string[] => stderr.mock.calls.map((c) => String(c[0]));

beforeEach(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-policy-')));
  stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => {
  stderr.mockRestore();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (isError(err, ConfigError)) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

function policyFile(value: unknown): string {
  const file = path.join(tmp, 'policy.json');
  fs.writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

describe('the policy file', () => {
  it('reads every rule, resolving executables and image roots', () => {
    fs.mkdirSync(path.join(tmp, 'roots', 'a'), { recursive: true });
    fs.symlinkSync(path.join(tmp, 'roots', 'a'), path.join(tmp, 'link-a'));
    const file = policyFile({
      version: 1,
      comment: 'test host',
      processes: { uids: [1000, 1000, 0], cgroups: ['/system.slice/app.service/'], executables: ['/usr/bin/', '/bin/sleep'] },
      imageRoots: [path.join(tmp, 'link-a'), path.join(tmp, 'not-yet')],
    });
    const p = loadHostPolicy(file, { imageRoots: null, uid: 1000 });
    expect(p.source).toBe(file);
    expect(p.uids).toEqual([1000, 0]);
    expect(p.cgroups).toEqual(['/system.slice/app.service']);
    expect(p.executables).toEqual(['/usr/bin/', fs.realpathSync('/bin/sleep')]);
    expect(p.imageRoots).toEqual([path.join(tmp, 'roots', 'a'), path.join(tmp, 'not-yet')]);
  });

  it('falls back to the defaults for what it does not set', () => {
    const p = loadHostPolicy(policyFile({ version: 1 }), { imageRoots: ['/srv/staging'], uid: 1000 });
    expect(p).toMatchObject({ uids: [1000], cgroups: null, executables: null, imageRoots: ['/srv/staging'] });
    expect(loadHostPolicy(policyFile({ version: 1, imageRoots: 'any', processes: { uids: 'any' } }), { imageRoots: ['/x'], uid: 5 })).toMatchObject({
      uids: 'any',
      imageRoots: null,
    });
  });

  it.each([
    ['not JSON', '{ version: 1', /is not valid JSON/],
    ['an array', '[]', /does not hold a JSON object/],
    ['no version', { processes: {} }, /version/],
    ['version 2', { version: 2 }, /version 2/],
    ['an unknown key', { version: 1, imageroots: ['/x'] }, /unknown key imageroots/],
    ['an unknown process key', { version: 1, processes: { uid: [1] } }, /unknown key processes\.uid/],
    ['negative uids', { version: 1, processes: { uids: [-1] } }, /processes\.uids/],
    ['empty uids', { version: 1, processes: { uids: [] } }, /processes\.uids/],
    ['a relative root', { version: 1, imageRoots: ['staging'] }, /imageRoots\[0\]/],
    ['an empty executables list', { version: 1, processes: { executables: [] } }, /processes\.executables/],
    ['a non-string cgroup', { version: 1, processes: { cgroups: [7] } }, /processes\.cgroups\[0\]/],
  ])('refuses %s, naming FERRY_HOST_POLICY', (_what, content, problem) => {
    const file = policyFile(content);
    const err = configError(() => loadHostPolicy(file, { imageRoots: null }));
    expect(err.setting).toBe('FERRY_HOST_POLICY');
    expect(err.message).toMatch(problem);
    expect(err.message).toContain(file);
  });

  it('refuses a missing file, a directory and a huge file instead of running without a policy', () => {
    expect(configError(() => loadHostPolicy(path.join(tmp, 'absent.json'), { imageRoots: null })).message).toMatch(/cannot be read \(ENOENT\)/);
    expect(configError(() => loadHostPolicy(tmp, { imageRoots: null })).message).toMatch(/not a regular file/);
    const big = policyFile(' '.repeat(1024 * 1024 + 1));
    expect(configError(() => loadHostPolicy(big, { imageRoots: null })).message).toMatch(/bytes, more than a policy/);
  });

  it('is not confused by a 1 MiB string inside a valid file', () => {
    const err = configError(() => parseHostPolicy(JSON.stringify({ version: 1, imageRoots: ['x'.repeat(1000000)] }), '/p.json', { imageRoots: null }));
    expect(err.message.length).toBeLessThan(2000);
  });

  it('defaults to ferry\'s own uid, and to any uid for root', () => {
    expect(defaultHostPolicy({ imageRoots: null, uid: 1000 }).uids).toEqual([1000]);
    expect(defaultHostPolicy({ imageRoots: null, uid: 0 }).uids).toBe('any');
    expect(loadHostPolicy(undefined, { imageRoots: ['/srv/s'], uid: 0 })).toMatchObject({ source: null, imageRoots: ['/srv/s'] });
  });
});

describe('FERRY_HOST_POLICY in the configuration', () => {
  it('is optional, absolute, and documented', () => {
    expect(loadConfig({ HOME: '/h' }).hostPolicyFile).toBeUndefined();
    expect(loadConfig({ HOME: '/h', FERRY_HOST_POLICY: '/etc/ferry//policy.json' }).hostPolicyFile).toBe('/etc/ferry/policy.json');
    for (const bad of ['policy.json', '', '  ', '/etc/ferry/']) {
      const err = configError(() => loadConfig({ HOME: '/h', FERRY_HOST_POLICY: bad }));
      expect(err.setting).toBe('FERRY_HOST_POLICY');
    }
    expect(SETTINGS_HELP.map(([name]) => name)).toContain('FERRY_HOST_POLICY');
  });

  it("falls back to the dev stack's policy only when ferry uses the dev stack for everything and `ferry dev up` wrote it", () => {
    const state = path.join(tmp, 'state');
    const devPolicy = path.join(state, 'dev', 'host-policy.json');
    const env = { HOME: '/h', FERRY_STATE_DIR: state };
    expect(loadConfig(env).hostPolicyFile).toBeUndefined(); // not written yet
    fs.mkdirSync(path.dirname(devPolicy), { recursive: true });
    fs.writeFileSync(devPolicy, '{"version": 1}');
    expect(loadConfig(env).hostPolicyFile).toBe(devPolicy);
    expect(loadConfig({ ...env, FERRY_TEMPORAL_ADDRESS: '127.0.0.1:7233' }).hostPolicyFile).toBe(devPolicy);
    // A real cluster or store never inherits the dev stack's permissive policy.
    expect(loadConfig({ ...env, FERRY_TEMPORAL_ADDRESS: 'temporal.example:7233' }).hostPolicyFile).toBeUndefined();
    expect(loadConfig({ ...env, FERRY_S3_ENDPOINT: 'https://s3.example' }).hostPolicyFile).toBeUndefined();
    expect(loadConfig({ ...env, FERRY_HOST_POLICY: '/etc/ferry/policy.json' }).hostPolicyFile).toBe('/etc/ferry/policy.json');
  });
});

describe('a root worker needs an explicit policy', () => {
  it('refuses root without a policy file, says why and how to write one', () => {
    const problem = rootWorkerPolicyProblem(undefined, 0);
    expect(problem).toMatch(/^is not set, and this worker runs as root: without a host policy anyone who can start a workflow/);
    // The example in the message is a policy this ferry accepts.
    const example = /for example (\{.*?\}\}) /.exec(problem ?? '')?.[1];
    expect(example).toBeDefined();
    expect(parseHostPolicy(example!, '/example.json', { imageRoots: null }).uids).toEqual([1000]);
  });

  it('lets root run with a policy file, and any other uid without one (it can only touch its own processes)', () => {
    expect(rootWorkerPolicyProblem('/etc/ferry/policy.json', 0)).toBeNull();
    expect(rootWorkerPolicyProblem(undefined, 1000)).toBeNull();
  });
});

describe('images dirs under the allowed roots', () => {
  let root: string;
  let policy: HostPolicy;
  beforeEach(() => {
    root = path.join(tmp, 'staging');
    fs.mkdirSync(path.join(root, 'ok'), { recursive: true });
    fs.mkdirSync(path.join(tmp, 'elsewhere'));
    policy = parseHostPolicy(JSON.stringify({ version: 1, imageRoots: [root] }), '/etc/ferry/policy.json', { imageRoots: null });
  });

  it('allows new and existing dirs inside a root (and the root itself)', () => {
    expect(checkImagesDirAllowed(policy, 'dump', path.join(root, 'ok'))).toBe(path.join(root, 'ok'));
    expect(checkImagesDirAllowed(policy, 'dump', path.join(root, 'new', 'deeper'))).toBe(path.join(root, 'new', 'deeper'));
    expect(checkImagesDirAllowed(policy, 'dump', path.join(root, 'ok', '..', 'ok2'))).toBe(path.join(root, 'ok2'));
    expect(checkImagesDirAllowed(policy, 'dump', root)).toBe(root);
    expect(logged()).toEqual([]);
  });

  function refusal(dir: string): PolicyRefused {
    try {
      checkImagesDirAllowed(policy, 'pre-dump', dir);
    } catch (err) {
      if (isError(err, PolicyRefused)) return err;
      throw err;
    }
    throw new Error(`expected ${dir} to be refused`);
  }

  it('refuses `..` out of the root, and logs one line', () => {
    const err = refusal(path.join(root, 'ok', '..', '..', 'elsewhere', 'x'));
    expect(err.rule).toBe('image-root');
    expect(err.message).toMatch(/host policy refused pre-dump of images dir .*not under an allowed image root/);
    expect(logged()).toHaveLength(1);
    expect(logged()[0]).toMatch(/^ferry host-policy: refused pre-dump of images dir .*rule image-root: .*policy \/etc\/ferry\/policy\.json\n$/);
  });

  it('refuses a symlink inside the root that leads out, however deep the new part', () => {
    fs.symlinkSync(path.join(tmp, 'elsewhere'), path.join(root, 'escape'));
    const err = refusal(path.join(root, 'escape', 'new', 'layer-0'));
    expect(err.message).toContain(`resolves to ${path.join(tmp, 'elsewhere', 'new', 'layer-0')}`);
    // a `..` after a symlink is taken lexically first, as the driver does: root/escape/.. is root
    expect(checkImagesDirAllowed(policy, 'dump', path.join(root, 'escape', '..', 'fine'))).toBe(path.join(root, 'fine'));
    fs.symlinkSync(path.join(tmp, 'elsewhere', 'dangling'), path.join(root, 'dangling'));
    expect(refusal(path.join(root, 'dangling')).rule).toBe('image-root');
  });

  it('refuses a symlink loop instead of failing with an untyped error', () => {
    fs.symlinkSync(path.join(root, 'loop'), path.join(root, 'loop'));
    expect(refusal(path.join(root, 'loop', 'x')).message).toMatch(/cannot tell where it leads/);
  });

  it('does not take a sibling with a common prefix for the root', () => {
    fs.mkdirSync(`${root}-evil`);
    expect(refusal(path.join(`${root}-evil`, 'x')).rule).toBe('image-root');
  });

  it('keeps a 1 MiB path out of the message and the log', () => {
    const err = refusal('/' + 'a'.repeat(1024 * 1024));
    expect(err.message.length).toBeLessThan(2000);
    expect(logged()[0]!.length).toBeLessThan(2000);
  });

  it('resolves the real path of the deepest existing ancestor', () => {
    fs.writeFileSync(path.join(root, 'file'), '');
    expect(resolveReal(path.join(root, 'file', 'sub'))).toBe(path.join(root, 'file', 'sub'));
    expect(resolveReal('relative/x')).toBe(path.resolve('relative/x'));
  });
});

describe('process rules', () => {
  const facts: ProcessFacts = { pid: 4242, comm: 'app', uids: [1000, 1000, 1000, 1000], cgroup: '/system.slice/app.service', exe: '/opt/app/bin/app' };
  const policy = (processes: Record<string, unknown>): HostPolicy =>
    parseHostPolicy(JSON.stringify({ version: 1, processes }), '/p.json', { imageRoots: null, uid: 0 });

  it('allows what every rule allows', () => {
    expect(processViolation(policy({ uids: [1000], cgroups: ['/system.slice'], executables: ['/opt/app/'] }), facts)).toBeNull();
    expect(processViolation(policy({}), facts)).toBeNull();
  });

  it('checks every uid (a setuid process runs with two)', () => {
    expect(processViolation(policy({ uids: [1000] }), { ...facts, uids: [1000, 0, 0, 0] })).toMatchObject({ rule: 'uid', reason: expect.stringMatching(/uid 0 .*not one of the allowed uids 1000/) });
  });

  it('matches cgroups on whole path segments', () => {
    expect(processViolation(policy({ cgroups: ['/system.slice/app'] }), facts)).toMatchObject({ rule: 'cgroup' });
    expect(processViolation(policy({ cgroups: ['/system.slice/app.service'] }), facts)).toBeNull();
    expect(processViolation(policy({ cgroups: ['/'] }), { ...facts, cgroup: null })).toMatchObject({ rule: 'cgroup' });
  });

  it('matches executables exactly, or under a directory given with a trailing slash', () => {
    expect(processViolation(policy({ executables: ['/opt/app'] }), facts)).toMatchObject({ rule: 'executable' });
    expect(processViolation(policy({ executables: ['/opt/app/'] }), facts)).toBeNull();
    expect(processViolation(policy({ executables: ['/opt/app/bin/app'] }), { ...facts, exe: '/opt/app/bin/app (deleted)' })).toMatchObject({ rule: 'executable' });
  });

  it('keeps the built-in refusals first: pid 1 and ferry itself', () => {
    const any = defaultHostPolicy({ imageRoots: null, uid: 0 });
    expect(() => checkProcessAllowed(any, 'dump', 1)).toThrow(expect.objectContaining({ name: 'RefusedTargetError', reason: 'init' }));
    let err: unknown;
    try {
      checkProcessAllowed(any, 'dump', process.pid);
    } catch (e) {
      err = e;
    }
    expect(isError(err, RefusedTargetError)).toBe(true);
    expect(logged()).toEqual([]);
  });

  it('refuses kernel threads before the policy is asked', () => {
    // pid 2 is kthreadd: refused as a kernel thread by criu/process.ts, whatever the policy says.
    const strict = policy({ uids: [65534] });
    expect(() => checkProcessAllowed(strict, 'dump', 2)).toThrow(expect.objectContaining({ name: 'RefusedTargetError', reason: 'kernel-thread' }));
  });
});

describe('PolicyRefused as a CRIU-layer kind', () => {
  it('is a permanent kind, also after serialisation', () => {
    const err = new PolicyRefused('dump', 'pid 7 (x)', 'uid', 'it runs as uid 0', null);
    expect(errorKind(err)).toBe('policy-refused');
    expect(errorKind(JSON.parse(JSON.stringify({ name: err.name, message: err.message })))).toBe('policy-refused');
    expect(PolicyRefused.retryable).toBe(false);
    expect(PERMANENT_FAILURE_TYPES).toContain('PolicyRefused');
    expect(isError({ name: 'PolicyRefused' }, PolicyRefused)).toBe(true);
    expect(err.message).toMatch(/host policy refused dump of pid 7 \(x\): it runs as uid 0 \(default policy\)\. Nothing was touched;/);
  });
});
