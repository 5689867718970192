/**
 * The host policy against real processes and real CRIU: a request outside the policy is refused
 * before anything is touched (the target keeps running with its memory intact, no file appears or
 * changes), and it is logged. Also: images written under ferry are private (dir 0700, files 0600)
 * whatever the caller's umask, and a restored process gets its own umask back, not CRIU's.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dump, restore, type DriverOptions } from '../../src/criu';
import { isError, PolicyRefused, NoSuchProcessError } from '../../src/core';
import { parseHostPolicy, type HostPolicy } from '../../src/policy/host-policy';
import { Workload, buildWorkload } from '../fixtures/workload/workload';
import { until } from '../helpers/until';

const ROOT = path.resolve(__dirname, '..', '..');
const MIB = 4;
const PAGES = (MIB * 1024 * 1024) / 4096;

let tmp: string;
let staging: string;
let outside: string;
const workloads: Workload[] = [];
let stderr: jest.SpyInstance;
const logged = (): string[] => stderr.mock.calls.map((c) => String(c[0])).filter((l) => l.startsWith('ferry host-policy:'));

async function startWorkload(): Promise<Workload> {
  const w = await Workload.start({ mib: MIB, dirtyPermille: 10, intervalMs: 50, dir: fs.mkdtempSync(path.join(tmp, 'wl-')) });
  workloads.push(w);
  return w;
}

function policy(content: Record<string, unknown>): HostPolicy {
  return parseHostPolicy(JSON.stringify({ version: 1, ...content }), path.join(tmp, 'policy.json'), { imageRoots: [staging] });
}

/** Every path under `dir` with its type, mode and size: "changes nothing on disk" made checkable. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      out.push(`${path.relative(tmp, p)} ${st.isSymbolicLink() ? 'l' : st.isDirectory() ? 'd' : 'f'} ${(st.mode & 0o7777).toString(8)} ${st.isFile() ? st.size : ''}`);
      if (st.isDirectory() && !p.includes(`${path.sep}wl-`)) walk(p);
    }
  };
  walk(dir);
  return out;
}

async function refused(step: Promise<unknown>): Promise<PolicyRefused> {
  const err = await step.then(
    () => new Error('expected the host policy to refuse, the step succeeded'),
    (e: unknown) => e,
  );
  if (!isError(err, PolicyRefused)) throw err;
  return err;
}

async function expectUntouched(w: Workload, before: string[], mapsBefore: string[]): Promise<void> {
  expect(snapshot(tmp)).toEqual(before);
  expect(['R', 'S']).toContain(w.state());
  expect(w.maps()).toEqual(mapsBefore);
  expect(await w.verify()).toMatchObject({ ok: true, bad: 0, pages: PAGES });
}

beforeAll(() => {
  buildWorkload();
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-policy-it-')));
  staging = path.join(tmp, 'staging');
  outside = path.join(tmp, 'outside');
  fs.mkdirSync(staging, { mode: 0o700 });
  fs.mkdirSync(outside);
  fs.symlinkSync(outside, path.join(staging, 'escape'));
});

beforeEach(() => {
  stderr = jest.spyOn(process.stderr, 'write');
});
afterEach(() => stderr.mockRestore());

afterAll(async () => {
  for (const w of workloads) await w.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('processes outside the policy', () => {
  it('refuses a real process by uid, touching nothing, and logs why', async () => {
    const w = await startWorkload();
    const before = snapshot(tmp);
    const maps = w.maps();
    const notOurs = (typeof process.getuid === 'function' ? process.getuid() : 0) + 4242;
    const err = await refused(dump({ pid: w.pid, imagesDir: path.join(staging, 'by-uid'), leaveRunning: true }, { policy: policy({ processes: { uids: [notOurs] } }) }));
    expect(err.rule).toBe('uid');
    expect(err.message).toMatch(new RegExp(`host policy refused dump of pid ${w.pid} \\(workload\\): it runs as uid \\d+ .*not one of the allowed uids ${notOurs}`));
    expect(logged()).toHaveLength(1);
    expect(logged()[0]).toMatch(new RegExp(`^ferry host-policy: refused dump of pid ${w.pid} \\(workload\\): rule uid: .*policy .*policy\\.json\\n$`));
    await expectUntouched(w, before, maps);
  });

  it('refuses a real process by executable, and allows it once its executable is listed', async () => {
    const w = await startWorkload();
    const before = snapshot(tmp);
    const maps = w.maps();
    const err = await refused(dump({ pid: w.pid, imagesDir: path.join(staging, 'by-exe') }, { policy: policy({ processes: { executables: ['/usr/bin/', '/bin/'] } }) }));
    expect(err.rule).toBe('executable');
    expect(err.message).toContain(`its executable ${path.join(ROOT, 'build', 'workload')} is not an allowed executable`);
    await expectUntouched(w, before, maps);
    // The same process is allowed once its executable is listed (the rule, not something else, refused it).
    const allowed = policy({ processes: { executables: [path.join(ROOT, 'build') + '/'] } });
    const ok = await dump({ pid: w.pid, imagesDir: path.join(staging, 'by-exe-allowed'), leaveRunning: true }, { policy: allowed });
    expect(ok.imagesDir).toBe(path.join(staging, 'by-exe-allowed'));
    expect(['R', 'S']).toContain(w.state());
  });

  it('still refuses pid 1 and a missing pid first, with their own errors', async () => {
    const any = policy({ processes: { uids: 'any' } });
    await expect(dump({ pid: 1, imagesDir: path.join(staging, 'init') }, { policy: any })).rejects.toMatchObject({ name: 'RefusedTargetError' });
    const err = await dump({ pid: 4194304 + 1, imagesDir: path.join(staging, 'none') }, { policy: any }).catch((e: unknown) => e);
    expect(isError(err, NoSuchProcessError)).toBe(true);
    expect(fs.existsSync(path.join(staging, 'init'))).toBe(false);
  });
});

describe('images dirs outside the allowed roots', () => {
  const cases: Array<[string, () => string]> = [
    ['a symlink inside the root that leads out', () => path.join(staging, 'escape', 'layer-0')],
    ['`..` out of the root', () => path.join(staging, '..', 'outside', 'layer-0')],
    ['`..` after a symlink', () => path.join(staging, 'escape', 'sub', '..', 'layer-1')],
    ['a path with no root at all', () => path.join(tmp, 'elsewhere', 'layer-0')],
  ];
  it.each(cases)('refuses %s, touching nothing', async (_what, dirOf) => {
    const w = await startWorkload();
    const before = snapshot(tmp);
    const maps = w.maps();
    const err = await refused(dump({ pid: w.pid, imagesDir: dirOf() }, { policy: policy({}) }));
    expect(err.rule).toBe('image-root');
    expect(err.message).toContain(`allowed: ${staging}`);
    expect(logged()).toHaveLength(1);
    await expectUntouched(w, before, maps);
  });

  it('refuses a parent images dir outside the roots, and a restore from outside them', async () => {
    const w = await startWorkload();
    const before = snapshot(tmp);
    const maps = w.maps();
    const opts: DriverOptions = { policy: policy({}) };
    expect((await refused(dump({ pid: w.pid, imagesDir: path.join(staging, 'next'), prevImagesDir: path.join(staging, 'escape', 'pre') }, opts))).subject).toMatch(/^parent images dir /);
    expect((await refused(restore({ imagesDir: path.join(staging, 'escape', 'final') }, opts))).message).toMatch(/host policy refused restore of images dir/);
    await expectUntouched(w, before, maps);
  });
});

describe('restores judged by what the images record', () => {
  it('refuses to restore a process whose recorded uid or executable the policy does not allow, before CRIU runs; allows it once listed', async () => {
    const w = await startWorkload();
    const dir = path.join(staging, `restore-${w.pid}`);
    await dump({ pid: w.pid, imagesDir: dir }, { policy: policy({}) });
    // The dumped process is a child of this test: gone once Node has reaped it.
    await until(`pid ${w.pid} reaped after the dump`, () => w.state() === null);
    const before = snapshot(tmp);

    const byUid = await refused(restore({ imagesDir: dir }, { policy: policy({ processes: { uids: [4242] } }) }));
    expect(byUid.step).toBe('restore');
    expect(byUid.rule).toBe('uid');
    expect(byUid.message).toMatch(new RegExp(`checkpointed tree of pid ${w.pid} \\(workload\\).*would run as uid 0, not one of the allowed uids 4242`));
    const byExe = await refused(restore({ imagesDir: dir }, { policy: policy({ processes: { executables: ['/usr/bin/'] } }) }));
    expect(byExe.rule).toBe('executable');
    expect(byExe.message).toContain(`would run ${fs.realpathSync(buildWorkload())}`);
    expect(logged()).toHaveLength(2);
    // Nothing ran: no process under the pid, and no file (not even CRIU's restore.log) appeared.
    expect(w.state()).toBeNull();
    expect(snapshot(tmp)).toEqual(before);

    await restore({ imagesDir: dir }, { policy: policy({ processes: { uids: [0], executables: [fs.realpathSync(buildWorkload())] } }) });
    expect(['R', 'S']).toContain(w.state());
    expect(await w.verify()).toMatchObject({ ok: true, bad: 0, pages: PAGES });
  });
});

describe('the local CLI with FERRY_HOST_POLICY', () => {
  it('enforces the file, exits 1 with the reason, and logs the refusal', async () => {
    const w = await startWorkload();
    const file = path.join(tmp, 'cli-policy.json');
    fs.writeFileSync(file, JSON.stringify({ version: 1, imageRoots: [staging] }));
    const before = snapshot(tmp);
    const maps = w.maps();
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'ferry.js'), 'dump', '--pid', String(w.pid), '--images-dir', path.join(staging, 'escape', 'cli')], {
      env: { ...process.env, FERRY_HOST_POLICY: file },
      encoding: 'utf8',
      timeout: 30000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^ferry host-policy: refused dump of images dir .*rule image-root/m);
    expect(r.stderr).toMatch(/^ferry: host policy refused dump of images dir/m);
    await expectUntouched(w, before, maps);
    const bad = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'ferry.js'), 'dump', '--pid', String(w.pid), '--images-dir', path.join(staging, 'cli')], {
      env: { ...process.env, FERRY_HOST_POLICY: path.join(tmp, 'no-such-policy.json') },
      encoding: 'utf8',
      timeout: 30000,
    });
    expect(bad.stderr).toMatch(/invalid configuration: FERRY_HOST_POLICY names .*no-such-policy\.json, which cannot be read/);
    expect(bad.status).toBe(78);
    expect(fs.existsSync(path.join(staging, 'cli'))).toBe(false);
  });
});

describe('images are private', () => {
  function modes(dir: string): Record<string, string> {
    return Object.fromEntries(
      fs.readdirSync(dir).map((name) => {
        const st = fs.lstatSync(path.join(dir, name));
        return [name, st.isSymbolicLink() ? 'link' : (st.mode & 0o777).toString(8)];
      }),
    );
  }

  it('writes dirs 0700 and files 0600 under a permissive umask, and the restored process keeps its own umask', async () => {
    const w = await startWorkload();
    const umaskBefore = /^Umask:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${w.pid}/status`, 'utf8'))?.[1];
    expect(umaskBefore).toBeDefined();
    const old = process.umask(0o000);
    let imagesDir: string;
    try {
      // An existing empty dir with a loose mode is tightened too; new parents are created 0700.
      fs.mkdirSync(path.join(tmp, 'loose'), { mode: 0o777 });
      fs.chmodSync(path.join(tmp, 'loose'), 0o777);
      const first = await dump({ pid: w.pid, imagesDir: path.join(tmp, 'loose'), leaveRunning: true });
      expect((fs.statSync(first.imagesDir).mode & 0o777).toString(8)).toBe('700');
      for (const [name, mode] of Object.entries(modes(first.imagesDir))) expect(`${name} ${mode}`).toBe(`${name} 600`);
      imagesDir = path.join(tmp, 'new-parent', 'final');
      const result = await dump({ pid: w.pid, imagesDir });
      expect((fs.statSync(path.join(tmp, 'new-parent')).mode & 0o777).toString(8)).toBe('700');
      expect((fs.statSync(result.imagesDir).mode & 0o777).toString(8)).toBe('700');
      const files = modes(result.imagesDir);
      expect(Object.keys(files)).toEqual(expect.arrayContaining(['inventory.img', 'pages-1.img', 'dump.log', 'stats-dump']));
      for (const [name, mode] of Object.entries(files)) expect(`${name} ${mode}`).toBe(`${name} 600`);
    } finally {
      process.umask(old);
    }
    // Wait for the dumped task to be reaped before restoring into its pid.
    const deadline = Date.now() + 10000;
    while (fs.existsSync(`/proc/${w.pid}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const restored = await restore({ imagesDir });
    expect(restored.pid).toBe(w.pid);
    for (const [name, mode] of Object.entries(modes(imagesDir))) expect(`${name} ${mode}`).toBe(`${name} 600`);
    expect(Object.keys(modes(imagesDir))).toEqual(expect.arrayContaining(['restore.log', 'stats-restore']));
    const umaskAfter = /^Umask:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${w.pid}/status`, 'utf8'))?.[1];
    expect(umaskAfter).toBe(umaskBefore);
    expect(await w.verify()).toMatchObject({ ok: true, bad: 0, pages: PAGES });
  });
});
