/**
 * The tutorial's two-host commands on one host, over loopback, against real CRIU: `ferry
 * page-server` + `ferry dump --page-server`, `ferry restore --lazy-pages` from local images, and a
 * lazy migration (`ferry dump --lazy-pages` + `ferry restore --lazy-pages --page-server`). Every
 * restored workload checks its own memory page by page.
 *
 * Pre-dumps through a page server need soft-dirty tracking, which this kernel lacks; a full dump
 * exercises the same page server.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ferryInProcess as ferry, ferryProcess } from '../helpers/ferry-cli';
import { removeTempRoots, tempRoot } from '../helpers/temp-dirs';
import { until } from '../helpers/until';
import { buildWorkload, Workload, type VerifyResult } from '../fixtures/workload/workload';

let tmp: string;
const workloads: Workload[] = [];

beforeAll(() => {
  tmp = tempRoot('page-server-it');
});
afterAll(async () => {
  for (const w of workloads) await w.stop();
  killOurs();
  removeTempRoots();
});

async function startWorkload(): Promise<Workload> {
  const w = await Workload.start({ mib: 16, dirtyPermille: 10, intervalMs: 50, dir: fs.mkdtempSync(path.join(tmp, 'wl-')) });
  workloads.push(w);
  return w;
}

async function waitGone(pid: number): Promise<void> {
  await until(`pid ${pid} to be released`, () => !fs.existsSync(`/proc/${pid}`), 10000, 25);
}

/** Copies the files a page server does not receive (everything but pages) next to the pages. */
function copyNonPageImages(from: string, to: string): void {
  for (const name of fs.readdirSync(from)) {
    if (!fs.existsSync(path.join(to, name))) fs.copyFileSync(path.join(from, name), path.join(to, name));
  }
}

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function parentOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Every process whose command line mentions this test's temp dir: only this test started them. */
function oursPids(): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(tmp)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Ours, and the `sleep` inits of the pid namespaces our workloads run in (source or restored). */
function killOurs(): void {
  const pids = oursPids();
  for (const pid of [...pids]) {
    try {
      const parent = parentOf(pid);
      if (comm(parent) === 'sleep') pids.push(parent);
    } catch {
      // gone
    }
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

describe('ferry page-server + ferry dump --page-server', () => {
  it('receives the pages of one dump, exits 0, and the process restored from its dir has its memory intact', async () => {
    const w = await startWorkload();
    const psDir = path.join(tmp, 'ps-received');
    const dumpDir = path.join(tmp, 'ps-dump');
    const server = ferryProcess('page-server', '--images-dir', psDir, '--address', '127.0.0.1', '--port', '0', '--json');
    const listening = await until('the page server to print where it listens', () => {
      try {
        return JSON.parse(server.output().stdout) as { pid: number; address: string; port: number; imagesDir: string };
      } catch {
        return null;
      }
    }, 20000, 50);
    expect(listening).toMatchObject({ address: '127.0.0.1', imagesDir: psDir });
    expect(listening.port).toBeGreaterThan(0);

    const dumped = await ferry('dump', '--pid', String(w.pid), '--images-dir', dumpDir, '--page-server', `127.0.0.1:${listening.port}`);
    expect(dumped.stderr).toBe('');
    expect(dumped.code).toBe(0);
    expect(dumped.stdout).toMatch(/pages +\d+ sent to the page server at 127\.0\.0\.1:\d+ \(16\.\d MiB\)/);
    // Pages went over TCP: the dump's own dir holds everything else, the page server's dir the pages.
    expect(fs.readdirSync(dumpDir).filter((n) => /^(pagemap|pages)-/.test(n))).toEqual([]);
    const ended = await server.done;
    expect(ended.code).toBe(0);
    expect(fs.readdirSync(psDir).filter((n) => /^(pagemap|pages)-/.test(n)).sort()).toEqual([`pagemap-${w.pid}.img`, expect.stringMatching(/^pages-\d+\.img$/)]);

    copyNonPageImages(dumpDir, psDir);
    await waitGone(w.pid);
    const restored = await ferry('restore', '--images-dir', psDir, '--json');
    expect(restored.code).toBe(0);
    expect(JSON.parse(restored.stdout)).toMatchObject({ pid: w.pid });
    expect(await w.verify()).toMatchObject({ ok: true, bad: 0, pages: 4096 });
  });

  it('a page server nobody sends to is refused a second one on its port, and a dump to a closed port leaves the process running', async () => {
    const first = ferryProcess('page-server', '--images-dir', path.join(tmp, 'ps-a'), '--address', '127.0.0.1', '--port', '0', '--json');
    const { port } = await until('the first page server', () => {
      try {
        return JSON.parse(first.output().stdout) as { port: number };
      } catch {
        return null;
      }
    }, 20000, 50);
    const second = await ferry('page-server', '--images-dir', path.join(tmp, 'ps-b'), '--address', '127.0.0.1', '--port', String(port));
    expect(second.code).not.toBe(0);
    expect(second.stderr).toMatch(/CRIU PAGE_SERVER_CHLD failed.*Address already in use.*No page server was started/s);
    // Stopping the command stops its page server: the port is closed afterwards.
    first.child.kill('SIGTERM');
    expect((await first.done).code).not.toBe(0);

    const w = await startWorkload();
    const dumped = await ferry('dump', '--pid', String(w.pid), '--images-dir', path.join(tmp, 'ps-nobody'), '--page-server', `127.0.0.1:${port}`);
    expect(dumped.code).not.toBe(0);
    expect(dumped.stderr).toMatch(/Is a page server listening at 127\.0\.0\.1:\d+\?/);
    expect(w.isRunning()).toBe(true);
  });

  it('bad --page-server values are usage errors that create nothing', async () => {
    const dir = path.join(tmp, 'never-created');
    for (const bad of ['127.0.0.1', '::1:27000', '999.0.0.1:27000', 'host_name:1', '127.0.0.1:0']) {
      const r = await ferry('dump', '--pid', String(process.pid), '--images-dir', dir, '--page-server', bad);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--page-server/);
    }
    const lazy = await ferry('dump', '--pid', String(process.pid), '--images-dir', dir, '--lazy-pages', '--page-server', '127.0.0.1:27000');
    expect(lazy.code).toBe(2);
    expect(lazy.stderr).toMatch(/--page-server must be 0\.0\.0\.0:PORT/);
    const restore = await ferry('restore', '--images-dir', dir, '--page-server', '127.0.0.1:27000');
    expect(restore.code).toBe(2);
    expect(restore.stderr).toMatch(/--page-server needs --lazy-pages/);
    const listen = await ferry('page-server', '--images-dir', dir, '--port', '27000', '--address', 'localhost');
    expect(listen.code).toBe(2);
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describe('ferry restore --lazy-pages', () => {
  it('restores from local images with the pages served on demand, memory intact', async () => {
    const w = await startWorkload();
    const dir = path.join(tmp, 'lazy-local');
    expect((await ferry('dump', '--pid', String(w.pid), '--images-dir', dir)).code).toBe(0);
    await waitGone(w.pid);
    const restored = await ferry('restore', '--images-dir', dir, '--lazy-pages', '--json');
    expect(restored.code).toBe(0);
    const doc = JSON.parse(restored.stdout) as { pid: number; lazyPages: { from: string; allPagesInMs: number } };
    expect(doc.pid).toBe(w.pid);
    expect(doc.lazyPages.from).toBe(dir);
    expect(fs.existsSync(path.join(dir, 'lazy-pages.socket'))).toBe(false);
    expect(await w.verify()).toMatchObject({ ok: true, bad: 0 });
  });
});

/**
 * A lazy migration on one host: the dumped process keeps its pid until the restore has every page,
 * so the source runs as the init of its own pid namespace, which CRIU restores into a new one.
 */
describe('lazy migration over loopback (dump --lazy-pages, restore --lazy-pages --page-server)', () => {
  const PIPE_MAX = '/proc/sys/fs/pipe-max-size';
  let pipeMaxBefore: string;
  beforeAll(() => {
    pipeMaxBefore = fs.readFileSync(PIPE_MAX, 'utf8').trim();
  });
  afterAll(() => {
    fs.writeFileSync(PIPE_MAX, pipeMaxBefore);
  });

  async function startInPidNamespace(dir: string): Promise<{ init: number; resultFile: string }> {
    const binary = buildWorkload();
    const resultFile = path.join(dir, 'verify.json');
    // The init calls setsid itself: a session led from outside its pid namespace cannot be dumped.
    const script = `"${binary}" --pidfile "${dir}/wl.pid" --result "${resultFile}" --mib 16 --dirty-permille 10 --interval-ms 50; exec sleep 3600`;
    const child = spawn('setsid', ['unshare', '--pid', '--fork', 'setsid', 'sh', '-c', script], { stdio: 'ignore', detached: true });
    child.unref();
    // The launcher forks the workload and exits; the workload's parent is then the namespace's init.
    const init = await until('the pid namespace init to exec sleep, with the workload under it', () => {
      for (const pid of oursPids()) {
        try {
          if (comm(pid) === 'workload' && comm(parentOf(pid)) === 'sleep') return parentOf(pid);
        } catch {
          // the launcher, gone meanwhile
        }
      }
      return null;
    }, 10000, 20);
    return { init, resultFile };
  }

  async function verifyRestored(dir: string, resultFile: string): Promise<VerifyResult> {
    const workload = await until('the restored workload', () => oursPids().find((pid) => comm(pid) === 'workload' && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) ?? null, 10000, 50);
    fs.rmSync(resultFile, { force: true });
    process.kill(workload, 'SIGUSR1');
    return until(`a verification from ${dir}`, () => {
      try {
        return JSON.parse(fs.readFileSync(resultFile, 'utf8')) as VerifyResult;
      } catch {
        return null;
      }
    }, 20000, 50);
  }

  async function migrate(dir: string): Promise<{ init: number; dump: { code: number; stdout: string; stderr: string }; restore: { code: number; stdout: string; stderr: string } }> {
    fs.mkdirSync(dir);
    const { init } = await startInPidNamespace(dir);
    const port = 27000 + Math.floor(Math.random() * 2000);
    const src = path.join(dir, 'src');
    const dst = path.join(dir, 'dst');
    const dump = ferryProcess('dump', '--pid', String(init), '--images-dir', src, '--lazy-pages', '--page-server', `0.0.0.0:${port}`);
    await until('the lazy dump to serve its pages', () => /serving the pages/.test(dump.output().stderr), 20000, 50);
    fs.mkdirSync(dst);
    for (const name of fs.readdirSync(src)) if (name.endsWith('.img')) fs.copyFileSync(path.join(src, name), path.join(dst, name));
    const restore = ferryProcess('restore', '--images-dir', dst, '--lazy-pages', '--page-server', `127.0.0.1:${port}`);
    return { init, restore: await restore.done, dump: await dump.done };
  }

  it('with fs.pipe-max-size at 4 MiB, the process moves and its memory arrives intact', async () => {
    fs.writeFileSync(PIPE_MAX, '4194304');
    const dir = path.join(tmp, 'lazy-ok');
    const { dump, restore } = await migrate(dir);
    expect(restore.stderr).toMatch(/pages on demand from 127\.0\.0\.1:\d+, the last one in \d+ ms/);
    expect(restore.code).toBe(0);
    expect(dump.code).toBe(0);
    expect(dump.stdout).toMatch(/migrated: it runs where it was restored/);
    expect(await verifyRestored(dir, path.join(dir, 'verify.json'))).toMatchObject({ ok: true, bad: 0, pages: 4096 });
  });

  it('with fs.pipe-max-size at 1 MiB, the dump fails naming the sysctl and the source keeps running', async () => {
    fs.writeFileSync(PIPE_MAX, '1048576');
    const dir = path.join(tmp, 'lazy-small-pipe');
    const { init, dump, restore } = await migrate(dir);
    expect(dump.code).not.toBe(0);
    expect(dump.stderr).toMatch(/Lazy pages transfer FAILED.*The process was left running.*sysctl -w fs\.pipe-max-size=4194304/s);
    // The restore side races the dump's failure and is not asserted: in CI it has failed naming the
    // sysctl, succeeded with every page, and succeeded with no restored copy left to find (an open
    // question about CRIU's lazy restore after a failed lazy dump; see the closing note of session 6).
    void restore;
    const source = oursPids().filter((pid) => comm(pid) === 'workload' && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir));
    expect(source.map((pid) => parentOf(pid))).toContain(init);
  }, 60000);
});

// A lazy migration leaves its namespaces (and, after a failure, a hung CRIU) behind.
afterEach(killOurs);
