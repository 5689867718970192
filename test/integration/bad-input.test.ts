/**
 * Bad input across every command of the built CLI (bin/ferry.js; run `npm run build` first):
 * missing or garbage pids, negative numbers, a file where a dir is expected, a non-empty images
 * dir, a prev-images-dir that is not a chain, huge and empty strings, invalid cron expressions,
 * unknown hosts and ids. Each case must give one clear line on stderr, exit 2 for a usage error
 * (1 when the operation was refused, 78 for bad configuration), print nothing on stdout, and
 * change nothing: the files under the test's dir and the target process (still running, same
 * mappings, memory intact at the end) are compared before and after.
 *
 * Cases in KNOWN_GAPS misbehave today in commands other engineers own; the test asserts that they
 * STILL misbehave, so a fix flips this test and the case must then leave the list. Nothing is
 * skipped. Needs the dev stack (Temporal 127.0.0.1:7233, MinIO 127.0.0.1:9000) and CRIU.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Workload } from '../fixtures/workload/workload';

const ROOT = path.resolve(__dirname, '..', '..');
const FERRY = path.join(ROOT, 'bin', 'ferry.js');
const CASE_TIMEOUT_MS = 20000;
/** "A clear error" is one short message, not an echo of a 100 KiB argument. */
const MAX_STDERR = 2048;
/**
 * The longest single argument Linux passes to a program (MAX_ARG_STRLEN = 32 pages): a 1 MiB
 * argument cannot reach ferry at all (execve fails with E2BIG), so "huge" here is 120 KiB.
 */
const HUGE = 'a'.repeat(120 * 1024);
const NO_SUCH_PID = '4194305'; // above the kernel's highest possible pid_max
const UNKNOWN_HOST = 'ferry-bad-input-nohost';

interface Ctx {
  tmp: string;
  pid: string;
  file: string;
  full: string;
  empty: string;
  fresh: string;
}

interface Case {
  name: string;
  args: (c: Ctx) => string[];
  code: number;
  stderr: RegExp;
  env?: (c: Ctx) => Record<string, string>;
}

const usage = (name: string, args: Case['args'], stderr: RegExp): Case => ({ name, args, code: 2, stderr });
const refusal = (name: string, args: Case['args'], stderr: RegExp): Case => ({ name, args, code: 1, stderr });
const POSITIVE = /must be a positive integer/;

const CASES: Case[] = [
  usage('unknown command', () => ['nosuchcmd'], /unknown command 'nosuchcmd'/),
  usage('unknown option', (c) => ['dump', '--pid', c.pid, '--images-dir', c.fresh, '--bogus'], /unknown option '--bogus'/),
  usage('check: extra argument', () => ['check', 'extra'], /`ferry check` takes no arguments, got "extra"/),
  // Misspellings are named as such, not reported as a missing required option.
  usage('dump: a short option ferry does not have', () => ['dump', '-p', '1234'], /unknown option '-p'/),
  usage('checkpoint ls: the plural command meant', () => ['checkpoint', 'ls'], /takes no arguments, got "ls"; did you mean `ferry checkpoints ls`\?/),

  usage('dump: missing --pid', (c) => ['dump', '--images-dir', c.fresh], /required option '--pid <pid>' not specified/),
  usage('dump: garbage pid', (c) => ['dump', '--pid', '12abc', '--images-dir', c.fresh], POSITIVE),
  usage('dump: negative pid', (c) => ['dump', '--pid=-5', '--images-dir', c.fresh], POSITIVE),
  usage('dump: pid 0', (c) => ['dump', '--pid', '0', '--images-dir', c.fresh], POSITIVE),
  usage('dump: empty pid', (c) => ['dump', '--pid', '', '--images-dir', c.fresh], POSITIVE),
  usage('dump: huge pid', (c) => ['dump', '--pid', HUGE, '--images-dir', c.fresh], POSITIVE),
  refusal('dump: pid of no process', (c) => ['dump', '--pid', NO_SUCH_PID, '--images-dir', c.fresh], /no process with pid 4194305/),
  refusal('dump: pid 1', (c) => ['dump', '--pid', '1', '--images-dir', c.fresh], /refusing to checkpoint pid 1: it is pid 1 \(init\)/),
  refusal('dump: images dir is a file', (c) => ['dump', '--pid', c.pid, '--images-dir', c.file], /is a file, not a directory/),
  refusal('dump: images dir under a file', (c) => ['dump', '--pid', c.pid, '--images-dir', path.join(c.file, 'layer')], /a parent of it is a file, not a directory/),
  refusal('dump: non-empty images dir', (c) => ['dump', '--pid', c.pid, '--images-dir', c.full], /images dir .*full is not empty \(a\)/),
  usage('dump: empty images dir', (c) => ['dump', '--pid', c.pid, '--images-dir', ''], /--images-dir must not be empty/),
  usage('dump: huge images dir', (c) => ['dump', '--pid', c.pid, '--images-dir', path.join(c.tmp, HUGE)], /--images-dir (is \d+ characters long|has a name longer than 255 bytes)/),
  usage('dump: over-long name in images dir', (c) => ['dump', '--pid', c.pid, '--images-dir', path.join(c.tmp, 'b'.repeat(300), 'layer')], /--images-dir has a name longer than 255 bytes/),
  refusal('dump: prev-images-dir not a chain', (c) => ['dump', '--pid', c.pid, '--images-dir', c.fresh, '--prev-images-dir', c.empty], /parent images .*empty are not usable: no inventory\.img/),
  refusal('dump: prev-images-dir is a file', (c) => ['dump', '--pid', c.pid, '--images-dir', c.fresh, '--prev-images-dir', c.file], /parent images .*file are not usable: it is not a directory/),
  usage('dump: empty prev-images-dir', (c) => ['dump', '--pid', c.pid, '--images-dir', c.fresh, '--prev-images-dir', ''], /--prev-images-dir must not be empty/),
  usage('pre-dump: missing --images-dir', (c) => ['pre-dump', '--pid', c.pid], /required option '--images-dir <dir>' not specified/),
  usage('pre-dump: garbage pid', (c) => ['pre-dump', '--pid', 'x', '--images-dir', c.fresh], POSITIVE),
  refusal('pre-dump: prev-images-dir not a chain', (c) => ['pre-dump', '--pid', c.pid, '--images-dir', c.fresh, '--prev-images-dir', c.full], /parent images .*full are not usable/),
  {
    name: 'dump: invalid FERRY_HOST_POLICY',
    args: (c) => ['dump', '--pid', c.pid, '--images-dir', c.fresh],
    env: () => ({ FERRY_HOST_POLICY: 'relative/policy.json' }),
    code: 78,
    stderr: /invalid configuration: FERRY_HOST_POLICY must be the absolute path of a JSON policy file/,
  },

  refusal('restore: missing images dir', (c) => ['restore', '--images-dir', path.join(c.tmp, 'absent')], /CRIU images dir .*absent cannot be read: no such directory/),
  refusal('restore: images dir is a file', (c) => ['restore', '--images-dir', c.file], /is a file, not a directory/),
  refusal('restore: not an images dir', (c) => ['restore', '--images-dir', c.empty], /not a CRIU images dir/),
  usage('restore: negative --pid-wait', (c) => ['restore', '--images-dir', c.full, '--pid-wait', '-2'], POSITIVE),
  usage('restore: empty images dir', () => ['restore', '--images-dir', ''], /--images-dir must not be empty/),
  usage('inspect: no dir', () => ['inspect'], /missing required argument 'dir'/),
  usage('inspect: empty dir', () => ['inspect', ''], /DIR must not be empty/),
  refusal('inspect: a file', (c) => ['inspect', c.file], /is a file, not a directory/),
  usage('inspect: huge dir', () => ['inspect', HUGE], /DIR (is \d+ characters long|has a name longer than 255 bytes)/),

  usage('push: invalid checkpoint id', (c) => ['push', c.full, '--checkpoint', 'Bad Id!'], /checkpoint id "Bad Id!" is not valid/),
  usage('push: missing --checkpoint', (c) => ['push', c.full], /required option '--checkpoint <id>' not specified/),
  usage('push: huge checkpoint id', (c) => ['push', c.full, '--checkpoint', HUGE], /checkpoint id .* is not valid/),
  refusal('push: not an images dir', (c) => ['push', c.full, '--checkpoint', 'bad-input-push-1'], /not a usable CRIU images dir.*nothing was uploaded/),
  usage('pull: invalid id', (c) => ['pull', '../x', '--into', c.fresh], /checkpoint id "\.\.\/x" is not valid/),
  usage('pull: missing --into', () => ['pull', 'bad-input-none-1'], /required option '--into <dir>' not specified/),
  refusal('pull: unknown checkpoint', (c) => ['pull', 'bad-input-none-1', '--into', c.fresh], /checkpoint "bad-input-none-1" not found/),
  usage('checkpoints show: invalid id', () => ['checkpoints', 'show', ''], /checkpoint id "" is not valid/),
  refusal('checkpoints show: unknown id', () => ['checkpoints', 'show', 'bad-input-none-2'], /checkpoint "bad-input-none-2" not found/),
  refusal('checkpoints rm: unknown id', () => ['checkpoints', 'rm', 'bad-input-none-3'], /checkpoint "bad-input-none-3" not found/),
  usage('gc: missing --keep-last', () => ['gc'], /required option '--keep-last <n>' not specified/),
  usage('gc: negative --keep-last', () => ['gc', '--keep-last', '-1'], /--keep-last must be a whole number \(0 or more\), got "-1"/),
  usage('gc: garbage --grace-hours', () => ['gc', '--keep-last', '3', '--grace-hours', 'soon'], /--grace-hours must be a number >= 0/),
  usage('gc: negative --grace-hours', () => ['gc', '--keep-last', '3', '--grace-hours', '-1'], /--grace-hours must be a number >= 0/),

  usage('worker: empty host', () => ['worker', '--host', ''], /--host must be a host name/),
  usage('worker: bad host', () => ['worker', '--host', 'a b'], /--host must be a host name/),
  usage('worker: huge host', () => ['worker', '--host', HUGE], /--host must be a host name/),
  usage('worker: nothing to run', () => ['worker', '--no-workflows', '--no-activities'], /--no-workflows and --no-activities together leave the worker nothing to run/),

  usage('checkpoint: missing --pid', () => ['checkpoint'], /required option '--pid <pid>' not specified/),
  usage('checkpoint: garbage pid', () => ['checkpoint', '--pid', 'abc'], POSITIVE),
  usage('checkpoint: huge pid', () => ['checkpoint', '--pid', HUGE], POSITIVE),
  usage('checkpoint: negative --pre-dumps', (c) => ['checkpoint', '--pid', c.pid, '--pre-dumps=-1'], /--pre-dumps must be an integer from 0 to 100/),
  usage('checkpoint: zero --max-downtime', (c) => ['checkpoint', '--pid', c.pid, '--max-downtime', '0'], POSITIVE),
  usage('checkpoint: contradicting flags', (c) => ['checkpoint', '--pid', c.pid, '--pre-dumps', '0', '--require-pre-dumps'], /--require-pre-dumps contradicts --pre-dumps 0/),
  usage('checkpoint: invalid --checkpoint-id', (c) => ['checkpoint', '--pid', c.pid, '--checkpoint-id', 'UP/../x'], /--checkpoint-id "UP\/\.\.\/x" is not valid/),
  refusal('checkpoint: unknown host', (c) => ['checkpoint', '--pid', c.pid, '--host', UNKNOWN_HOST, '--json'], /no ferry worker serves host ferry-bad-input-nohost: start `ferry worker --host ferry-bad-input-nohost` on that host/),
  usage('restore-checkpoint: invalid id', () => ['restore-checkpoint', 'bad id!'], /checkpoint id "bad id!" is not valid/),
  refusal('restore-checkpoint: unknown host', () => ['restore-checkpoint', 'bad-input-none-4', '--host', UNKNOWN_HOST, '--json'], /no ferry worker serves host ferry-bad-input-nohost: start `ferry worker --host ferry-bad-input-nohost` on that host/),
  usage('migrate: same hosts', (c) => ['migrate', '--pid', c.pid, '--from', 'a', '--to', 'a'], /--from and --to are both "a"/),
  usage('migrate: missing --to', (c) => ['migrate', '--pid', c.pid, '--from', 'a'], /required option '--to <host>' not specified/),
  usage('migrate: negative pid', () => ['migrate', '--pid=-1', '--from', 'a', '--to', 'b'], POSITIVE),
  refusal('migrate: unknown hosts', (c) => ['migrate', '--pid', c.pid, '--from', UNKNOWN_HOST, '--to', `${UNKNOWN_HOST}-2`, '--json'], /no ferry worker serves host ferry-bad-input-nohost: start `ferry worker --host ferry-bad-input-nohost` on that host/),
  refusal('status: unknown workflow', () => ['status', 'bad-input-none-5'], /no ferry workflow with id "bad-input-none-5"/),
  usage('status: empty id', () => ['status', ''], /(id|workflow).*(empty|not valid)/i),

  usage('schedule create: not a cron', () => ['schedule', 'create', 'bad-input-s1', '--pid', '5', '--cron', 'every night'], /--cron must be a cron expression/),
  usage('schedule create: cron out of range', () => ['schedule', 'create', 'bad-input-s2', '--pid', '5', '--cron', '99 99 * * *'], /--cron "99 99 \* \* \*": minute "99" is out of range \(0-59\)/),
  usage('schedule create: unknown @ macro', () => ['schedule', 'create', 'bad-input-s3', '--pid', '5', '--cron', '@nonsense'], /--cron "@nonsense" is not a known macro/),
  usage('schedule create: empty cron', () => ['schedule', 'create', 'bad-input-s4', '--pid', '5', '--cron', ''], /--cron must be a cron expression/),
  usage('schedule create: --pid and --pid-file', () => ['schedule', 'create', 'bad-input-s5', '--pid', '5', '--pid-file', '/run/x.pid', '--cron', '0 2 * * *'], /give exactly one of --pid and --pid-file/),
  usage('schedule create: relative --pid-file', () => ['schedule', 'create', 'bad-input-s6', '--pid-file', 'x.pid', '--cron', '0 2 * * *'], /--pid-file must be an absolute path/),
  usage('schedule create: bad name', () => ['schedule', 'create', 'bad name', '--pid', '5', '--cron', '0 2 * * *'], /schedule name must be 1-100 chars/),
  usage('schedule create: zero --max-chain', () => ['schedule', 'create', 'bad-input-s7', '--pid', '5', '--cron', '0 2 * * *', '--max-chain', '0'], POSITIVE),
  refusal('schedule create: unknown host', () => ['schedule', 'create', 'bad-input-s8', '--pid', '5', '--cron', '0 2 * * *', '--host', UNKNOWN_HOST, '--json'], /no ferry worker serves host ferry-bad-input-nohost: start `ferry worker --host ferry-bad-input-nohost` on that host/),
  refusal('schedule show: unknown schedule', () => ['schedule', 'show', 'bad-input-none-6'], /no schedule named "bad-input-none-6"; list them with `ferry schedule ls`/),
  refusal('schedule delete: unknown schedule', () => ['schedule', 'delete', 'bad-input-none-7'], /no schedule named "bad-input-none-7"; list them with `ferry schedule ls`/),
  usage('schedule trigger: bad name', () => ['schedule', 'trigger', '../x'], /schedule name must be 1-100 chars/),

  usage('dev up: garbage --timeout', () => ['dev', 'up', '--timeout', 'soon'], POSITIVE),
  usage('dev up: negative --timeout', () => ['dev', 'up', '--timeout=-5'], POSITIVE),
];

/**
 * Cases that misbehave today, in files this test's author may not edit (owner in brackets).
 * Each must still fail its expectation; when one is fixed, remove it from here.
 */
const KNOWN_GAPS: Record<string, string> = {
  // All twelve CLI gaps found first (huge values echoed whole, unknown hosts accepted, `status ''`,
  // invalid cron reaching Temporal, unknown schedules named by Temporal's internal id) are fixed.
};

let ctx: Ctx;
let workload: Workload;
let mapsBefore: string[];
const startedWorkflows: string[] = [];
const FAKE_CTX: Ctx = { tmp: '/t', pid: '1', file: '/f', full: '/d', empty: '/e', fresh: '/n' };
const scheduleNames = CASES.map((c) => c.args(FAKE_CTX)).filter((a) => a[0] === 'schedule' && a[1] === 'create').map((a) => a[2]!);

function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      out.push(`${path.relative(dir, p)} ${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'} ${(st.mode & 0o7777).toString(8)} ${st.isFile() ? `${st.size} ${st.mtimeMs}` : ''}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

function runCase(c: Case): string[] {
  const before = snapshot(ctx.tmp);
  const env: Record<string, string | undefined> = { ...process.env, ...(c.env ? c.env(ctx) : {}) };
  delete env.FERRY_DEBUG;
  if (!c.env) delete env.FERRY_HOST_POLICY;
  const r = spawnSync(process.execPath, [FERRY, ...c.args(ctx)], { env, encoding: 'utf8', timeout: CASE_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
  const problems: string[] = [];
  if (r.error) problems.push(`did not finish: ${r.error.message}`);
  if (r.status !== c.code) problems.push(`exit ${r.status ?? r.signal}, expected ${c.code}`);
  const stderr = r.stderr ?? '';
  if (!c.stderr.test(stderr)) problems.push(`stderr ${JSON.stringify(stderr.slice(0, 300))} does not match ${c.stderr}`);
  if (stderr.length > MAX_STDERR) problems.push(`stderr is ${stderr.length} chars (a clear error is one short message)`);
  const stdout = r.stdout ?? '';
  // Asked for --json, a failure is one JSON error document on stdout (with the exit code); else nothing.
  const jsonError = c.args(ctx).includes('--json') ? jsonErrorProblem(stdout, r.status) : null;
  if (stdout !== '' && jsonError !== '') {
    problems.push(jsonError ?? `printed on stdout: ${JSON.stringify(stdout.slice(0, 200))}`);
    const id = /"workflowId":\s*"([^"]+)"/.exec(stdout)?.[1];
    if (id) startedWorkflows.push(id);
  }
  const after = snapshot(ctx.tmp);
  if (JSON.stringify(after) !== JSON.stringify(before)) {
    problems.push(`files changed: ${after.filter((l) => !before.includes(l)).concat(before.filter((l) => !after.includes(l)).map((l) => `gone: ${l}`)).slice(0, 5).join('; ')}`);
  }
  if (!workload.isRunning()) problems.push(`the target pid ${workload.pid} is no longer running (state ${workload.state()})`);
  else if (JSON.stringify(workload.maps()) !== JSON.stringify(mapsBefore)) problems.push('the target process\'s mappings changed');
  return problems;
}

beforeAll(async () => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` before this test');
  const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bad-input-')));
  fs.writeFileSync(path.join(tmp, 'file'), 'not a dir\n');
  fs.mkdirSync(path.join(tmp, 'full'));
  fs.writeFileSync(path.join(tmp, 'full', 'a'), 'x');
  fs.mkdirSync(path.join(tmp, 'empty'));
  workload = await Workload.start({ mib: 2 });
  mapsBefore = workload.maps();
  ctx = { tmp, pid: String(workload.pid), file: path.join(tmp, 'file'), full: path.join(tmp, 'full'), empty: path.join(tmp, 'empty'), fresh: path.join(tmp, 'new', 'layer') };
});

afterAll(async () => {
  // Undo what the known gaps did (workflows started and schedules created for unknown hosts).
  const connection = await Connection.connect({ address: process.env.FERRY_TEMPORAL_ADDRESS ?? '127.0.0.1:7233' }).catch(() => null);
  if (connection) {
    const client = new Client({ connection, namespace: process.env.FERRY_TEMPORAL_NAMESPACE ?? 'default' });
    for (const id of startedWorkflows) await client.workflow.getHandle(id).terminate('bad-input test cleanup').catch(() => undefined);
    for (const name of scheduleNames) await client.schedule.getHandle(name).delete().catch(() => undefined);
    await connection.close();
  }
  await workload?.stop();
  if (ctx) fs.rmSync(ctx.tmp, { recursive: true, force: true });
});

/** '' when `stdout` is exactly a JSON error document for exit code `status`; else what is wrong with it. */
function jsonErrorProblem(stdout: string, status: number | null): string {
  try {
    const doc = JSON.parse(stdout) as { error?: { kind?: unknown; message?: unknown; exitCode?: unknown } };
    const e = doc.error;
    if (Object.keys(doc).length === 1 && e && typeof e.kind === 'string' && typeof e.message === 'string' && e.exitCode === status) return '';
    return `stdout is not a JSON error document for exit ${status}: ${JSON.stringify(stdout.slice(0, 200))}`;
  } catch {
    return `stdout is not JSON: ${JSON.stringify(stdout.slice(0, 200))}`;
  }
}

describe.each(CASES.map((c) => [c.name, c] as const))('%s', (name, c) => {
  if (KNOWN_GAPS[name]) {
    it(`is a KNOWN GAP that still misbehaves (${KNOWN_GAPS[name]})`, () => {
      const problems = runCase(c);
      process.stdout.write(`KNOWN GAP ${name}: ${problems.join(' | ')}\n`);
      expect(problems).not.toEqual([]);
    });
  } else {
    it(`exits ${c.code} with a clear message and changes nothing`, () => {
      expect(runCase(c)).toEqual([]);
    });
  }
});

describe('with --json, a failure is one JSON document on stdout (and the usual line on stderr)', () => {
  const run = (args: string[], env: Record<string, string> = {}): { code: number | null; doc: { error: Record<string, unknown> }; stderr: string } => {
    const r = spawnSync(process.execPath, [FERRY, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: CASE_TIMEOUT_MS });
    return { code: r.status, doc: JSON.parse(r.stdout) as { error: Record<string, unknown> }, stderr: r.stderr };
  };

  it('a refused step names its kind, its message and the exit code', () => {
    const r = run(['dump', '--pid', NO_SUCH_PID, '--images-dir', ctx.fresh, '--json']);
    expect(r.code).toBe(1);
    expect(r.doc.error).toEqual({ kind: 'no-such-process', message: expect.stringMatching(/^no process with pid 4194305/), exitCode: 1 });
    expect(r.stderr).toMatch(/^ferry: no process with pid 4194305/);
  });

  it('a command line commander refuses is kind "usage" with its code', () => {
    const r = run(['dump', '-p', '1234', '--json']);
    expect(r.code).toBe(2);
    expect(r.doc.error).toEqual({ kind: 'usage', message: "unknown option '-p'", exitCode: 2, code: 'commander.unknownOption' });
  });

  it('a bad setting is kind "config-invalid", exit 78', () => {
    const r = run(['dump', '--pid', ctx.pid, '--images-dir', ctx.fresh, '--json'], { FERRY_HOST_POLICY: 'relative/policy.json' });
    expect(r.code).toBe(78);
    expect(r.doc.error).toMatchObject({ kind: 'config-invalid', exitCode: 78 });
  });
});

it('lists only known gaps that are real cases', () => {
  const names = new Set(CASES.map((c) => c.name));
  expect(Object.keys(KNOWN_GAPS).filter((n) => !names.has(n))).toEqual([]);
});

it('left the target process intact: its memory verifies after every case', async () => {
  expect(workload.isRunning()).toBe(true);
  expect(await workload.verify()).toMatchObject({ ok: true, bad: 0 });
});
