/**
 * The pure parts of event-driven checkpoints: the rules file, what a target matches in a given
 * process table, the ids one event gets, the deadline plan, and the request endpoint's parsing
 * and authentication (over a real loopback socket, with a recording handler).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/config';
import { eventKey, processTriggerPrefix, triggerCheckpointId, triggerWorkflowId } from '../../src/triggers/event-ids';
import { dumpNowTiming, workflowInput } from '../../src/triggers/fire';
import { matchTarget, type ProcessSnapshot } from '../../src/triggers/match';
import { authorized, parseCheckpointRequest, readTokenFile, startRequestServer, type CheckpointRequest } from '../../src/triggers/request-server';
import { findRule, loadTriggerRules, parseTriggerRules, type TriggerRule } from '../../src/triggers/rules';
import { deadlineOutcome, parseDeadline, planForDeadline, policyForDeadline } from '../../src/workflows/deadline-plan';
import { DEFAULT_POLICY } from '../../src/workflows/convergence-policy';
import { isValidCheckpointId } from '../../src/core';
import { Episodes, parsePsi } from '../../src/triggers/memory-pressure';
import { GCP_NOTICE_MS, parseAwsInstanceAction, parseAzureScheduledEvents, parseGcpPreempted } from '../../src/triggers/preemption';

const FILE = '/etc/ferry/triggers.json';
const doc = (rules: unknown[]) => JSON.stringify({ version: 1, rules });
const webRule = { name: 'web', target: { pidFile: '/run/web.pid' }, events: ['request', 'shutdown'], action: { type: 'checkpoint' }, policy: { preDumps: 2, maxDowntimeMs: 500 } };

function refusal(text: string): ConfigError {
  try {
    parseTriggerRules(text, FILE);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('the rules were accepted');
}

describe('trigger rules file', () => {
  test('a valid file gives typed rules with defaults', () => {
    const rules = parseTriggerRules(
      doc([
        webRule,
        { name: 'batch', target: { cmdline: '^python3 train\\.py' }, events: ['preemption'], action: { type: 'migrate', to: 'node-b' } },
        { name: 'svc', target: { cgroup: '/system.slice/app.service/' }, events: ['memory-pressure', 'request'], action: { type: 'dump-now' }, memory: { psiAbove: 10 } },
      ]),
      FILE,
    );
    expect(rules.rules.map((r) => r.name)).toEqual(['web', 'batch', 'svc']);
    expect(rules.rules[0]).toMatchObject({ target: { kind: 'pid-file', pidFile: '/run/web.pid' }, policy: { preDumps: 2, maxDowntimeMs: 500, leaveRunning: false, finalReserveMs: 30_000 } });
    expect(rules.rules[1]!.action).toEqual({ type: 'migrate', to: 'node-b' });
    expect(rules.rules[2]!.target).toEqual({ kind: 'cgroup', cgroup: '/system.slice/app.service' });
    expect(findRule(rules, 'nope')).toMatch(/no trigger rule named nope .*rules: web, batch, svc/);
  });

  test.each([
    ['an unknown key in a rule', doc([{ ...webRule, evnets: ['request'] }]), /unknown key evnets in rules\[0\]/],
    ['an unknown key in the policy', doc([{ ...webRule, policy: { preDump: 2 } }]), /unknown key preDump in rules\[0\]\.policy/],
    ['an unknown event', doc([{ ...webRule, events: ['reboot'] }]), /rules\[0\]\.events\[0\] "reboot"/],
    ['two targets at once', doc([{ ...webRule, target: { pidFile: '/run/a.pid', cgroup: '/a' } }]), /exactly one of pidFile, cmdline, cgroup/],
    ['a relative pid file', doc([{ ...webRule, target: { pidFile: 'web.pid' } }]), /not an absolute path/],
    ['a bad regular expression', doc([{ ...webRule, target: { cmdline: '(' } }]), /not a regular expression/],
    ['a cgroup with ..', doc([{ ...webRule, target: { cgroup: '/a/../b' } }]), /not a cgroup path/],
    ['a migration to a bad host', doc([{ ...webRule, action: { type: 'migrate', to: '../x' } }]), /action\.to that must be a host name/],
    ['an unknown action', doc([{ ...webRule, action: { type: 'restart' } }]), /checkpoint, migrate or dump-now/],
    ['a rule name unfit for ids', doc([{ ...webRule, name: 'Web Server' }]), /a rule name is 1-48 chars/],
    ['duplicate names', doc([webRule, webRule]), /two rules named web/],
    ['a wrong version', JSON.stringify({ version: 2, rules: [] }), /this ferry reads version 1/],
    ['negative pre-dumps', doc([{ ...webRule, policy: { preDumps: -1 } }]), /preDumps -1, not a whole number from 0 to 100/],
    ['not JSON', '{', /not valid JSON/],
    ['memory-pressure without thresholds', doc([{ ...webRule, events: ['memory-pressure'] }]), /no rules\[0\]\.memory such as/],
    ['memory thresholds on a rule without memory-pressure', doc([{ ...webRule, memory: { rssAboveBytes: 1 << 20 } }]), /its events do not list memory-pressure/],
    ['a PSI file without psiAbove', doc([{ ...webRule, events: ['memory-pressure'], memory: { rssAboveBytes: 1 << 20, psiFile: '/sys/fs/cgroup/a/memory.pressure' } }]), /psiFile without psiAbove/],
    ['a PSI threshold of 100', doc([{ ...webRule, events: ['memory-pressure'], memory: { psiAbove: 100 } }]), /not a percentage/],
  ])('refuses %s, naming FERRY_TRIGGERS and the file', (_what, text, problem) => {
    const err = refusal(text);
    expect(err.setting).toBe('FERRY_TRIGGERS');
    expect(err.message).toContain(FILE);
    expect(err.message).toMatch(problem);
  });

  test('loadTriggerRules reads a file and refuses a directory', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-triggers-'));
    const file = path.join(dir, 'rules.json');
    fs.writeFileSync(file, doc([webRule]));
    expect(loadTriggerRules(file).rules).toHaveLength(1);
    expect(() => loadTriggerRules(dir)).toThrow(/is not a regular file/);
    expect(() => loadTriggerRules(path.join(dir, 'missing.json'))).toThrow(/cannot be read: ENOENT/);
  });
});

describe('trigger settings', () => {
  const base = { HOME: '/home/x' };
  test('the endpoint needs a token file and FERRY_TRIGGERS, and listens on loopback only', () => {
    const ok = loadConfig({ ...base, FERRY_TRIGGERS: '/etc/t.json', FERRY_TRIGGER_LISTEN: '127.0.0.1:7310', FERRY_TRIGGER_TOKEN_FILE: '/etc/t.token' });
    expect(ok.triggers).toEqual({ rulesFile: '/etc/t.json', listen: { host: '127.0.0.1', port: 7310 }, tokenFile: '/etc/t.token', shutdownGraceMs: 90_000, memoryPollMs: 2_000 });
    expect(loadConfig(base).triggers).toBeUndefined();
    expect(() => loadConfig({ ...base, FERRY_TRIGGERS: '/etc/t.json', FERRY_TRIGGER_LISTEN: '127.0.0.1:7310' })).toThrow(/FERRY_TRIGGER_TOKEN_FILE is not set/);
    expect(() => loadConfig({ ...base, FERRY_TRIGGERS: '/etc/t.json', FERRY_TRIGGER_LISTEN: '0.0.0.0:7310', FERRY_TRIGGER_TOKEN_FILE: '/t' })).toThrow(/FERRY_TRIGGER_LISTEN must listen on loopback/);
    expect(() => loadConfig({ ...base, FERRY_TRIGGER_SOCKET: '/run/f.sock' })).toThrow(/FERRY_TRIGGER_SOCKET is set but FERRY_TRIGGERS is not/);
    expect(() => loadConfig({ ...base, FERRY_TRIGGERS: 'rules.json' })).toThrow(/FERRY_TRIGGERS must be the absolute path/);
  });
});

function proc(pid: number, ppid: number, cmdline: string, cgroup: string | null = '/user.slice'): ProcessSnapshot {
  return { pid, ppid, startTime: 1000 + pid, bootId: 'b', comm: cmdline.split(' ')[0]!, cmdline, cgroup };
}

describe('matching a target', () => {
  const table = [
    proc(100, 1, 'nginx: master', '/system.slice/nginx.service'),
    proc(101, 100, 'nginx: worker', '/system.slice/nginx.service'),
    proc(200, 1, 'python3 train.py --epochs 9', '/system.slice/nginx.service-other'),
    proc(201, 200, 'python3 train.py --worker', '/system.slice/nginx.service-other'),
    proc(300, 1, 'python3 serve.py', null),
  ];
  test('a command-line pattern matches tree roots only: the children go with the dump', () => {
    const regex = /^python3 train\.py/;
    expect(matchTarget({ kind: 'cmdline', pattern: regex.source, regex }, table).map((p) => p.pid)).toEqual([200]);
  });
  test('a cgroup matches on whole path segments', () => {
    expect(matchTarget({ kind: 'cgroup', cgroup: '/system.slice/nginx.service' }, table).map((p) => p.pid)).toEqual([100]);
    expect(matchTarget({ kind: 'cgroup', cgroup: '/system.slice' }, table).map((p) => p.pid)).toEqual([100, 200]);
  });
  test('a pid file matches the pid it holds, if that process is in the table', () => {
    const t = { kind: 'pid-file' as const, pidFile: '/run/x.pid' };
    expect(matchTarget(t, table, 101).map((p) => p.pid)).toEqual([101]);
    expect(matchTarget(t, table, 999)).toEqual([]);
    expect(matchTarget(t, table, null)).toEqual([]);
  });
});

describe('one event, one workflow', () => {
  const target = { host: 'web-1', pid: 4242, startTime: 777 };
  const notice = { event: 'request' as const, id: 'deploy-1' };
  test('ids are a function of rule, process identity and event', () => {
    const id = triggerWorkflowId('web', target, notice);
    expect(id).toBe(triggerWorkflowId('web', { ...target }, { ...notice }));
    expect(id.startsWith(processTriggerPrefix(target))).toBe(true);
    expect(triggerWorkflowId('web', { ...target, startTime: 778 }, notice)).not.toBe(id);
    expect(triggerWorkflowId('web', target, { ...notice, id: 'deploy-2' })).not.toBe(id);
    expect(triggerWorkflowId('db', target, notice)).not.toBe(id);
    expect(triggerWorkflowId('web', target, { ...notice, event: 'shutdown' })).not.toBe(id);
    // An id from outside never reaches the workflow id as it is.
    expect(triggerWorkflowId('web', target, { ...notice, id: '../../x y' })).toMatch(/^ferry-trigger-web-1-4242-777-web-request-[0-9a-f]{16}$/);
    expect(eventKey('a')).not.toBe(eventKey('b'));
  });
  test('the checkpoint id is deterministic and valid', () => {
    const c = triggerCheckpointId('web', target, notice);
    expect(c).toBe(triggerCheckpointId('web', target, notice));
    expect(isValidCheckpointId(c)).toBe(true);
    expect(c).toMatch(/^web-1-4242-[0-9a-f]{8}$/);
  });

  const rule = parseTriggerRules(doc([{ ...webRule, policy: { preDumps: 2, leaveRunning: true, finalReserveMs: 5000 } }]), FILE).rules[0] as TriggerRule;
  test('the workflow input carries the rule policy and the deadline', () => {
    const w = workflowInput(rule, 'web-1', target, { ...notice, deadlineMs: Date.parse('2026-11-29T14:00:00Z'), detail: '' });
    expect(w).toEqual({
      type: 'checkpoint',
      input: { host: 'web-1', pid: 4242, policy: { maxPreDumps: 2 }, leaveRunning: true, checkpointId: triggerCheckpointId('web', target, notice), deadline: '2026-11-29T14:00:00.000Z', deadlineReserveMs: 5000 },
    });
  });
  test('a running checkpoint is told to dump now once the deadline is within the reserve', () => {
    const n = { ...notice, detail: '', deadlineMs: 100_000 };
    expect(dumpNowTiming(rule, n, 96_000)).toEqual({ now: true, dueMs: null });
    expect(dumpNowTiming(rule, n, 90_000)).toEqual({ now: false, dueMs: 95_000 });
    expect(dumpNowTiming(rule, { ...n, deadlineMs: null }, 90_000)).toEqual({ now: false, dueMs: null });
  });
});

describe('deadline plan', () => {
  test('pre-dumps only while more than the reserve is left; a past deadline is reported at once', () => {
    expect(planForDeadline(100_000, 0, 30_000)).toMatchObject({ outlook: 'ok', preDumps: true, remainingMs: 100_000 });
    expect(planForDeadline(100_000, 80_000, 30_000)).toMatchObject({ outlook: 'tight', preDumps: false });
    const past = planForDeadline(100_000, 100_500, 30_000);
    expect(past).toMatchObject({ outlook: 'past', preDumps: false, remainingMs: -500 });
    expect(past.detail).toMatch(/passed 500 ms ago: it cannot be met/);
    const capped = policyForDeadline({ ...DEFAULT_POLICY, maxPreDumps: 5, requirePreDumps: true }, planForDeadline(10, 0, 30));
    expect(capped).toMatchObject({ maxPreDumps: 0, maxCatchUps: 0, requirePreDumps: false });
    expect(policyForDeadline(DEFAULT_POLICY, planForDeadline(100_000, 0, 30))).toBe(DEFAULT_POLICY);
  });
  test('the outcome says by how much the deadline was met or missed', () => {
    const plan = planForDeadline(Date.parse('2026-11-29T14:00:00Z'), Date.parse('2026-11-29T13:58:00Z'));
    expect(deadlineOutcome(plan, Date.parse('2026-11-29T13:59:50Z'))).toMatchObject({ met: true, marginMs: 10_000, deadline: '2026-11-29T14:00:00.000Z' });
    expect(deadlineOutcome(plan, Date.parse('2026-11-29T14:00:01Z'))).toMatchObject({ met: false, marginMs: -1000, detail: 'stored 1000 ms after the deadline' });
  });
  test('deadlines are ISO 8601 with a zone', () => {
    expect(parseDeadline('2026-11-29T14:00:00Z')).toBe(Date.parse('2026-11-29T14:00:00Z'));
    expect(parseDeadline('2026-11-29T15:00:00+01:00')).toBe(Date.parse('2026-11-29T14:00:00Z'));
    expect(parseDeadline('2026-11-29 14:00')).toBeNull();
    expect(parseDeadline('2026-11-29T14:00:00')).toBeNull();
    expect(parseDeadline(1764424800000)).toBeNull();
  });
});

describe('request endpoint', () => {
  const token = 'a'.repeat(20) + 'secret';
  const digest = (() => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-token-'));
    const file = path.join(dir, 'token');
    fs.writeFileSync(file, token + '\n', { mode: 0o600 });
    return readTokenFile(file);
  })();

  test('the token file must be private, long enough, and one token', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-token-'));
    const file = path.join(dir, 'token');
    fs.writeFileSync(file, token, { mode: 0o644 });
    expect(() => readTokenFile(file)).toThrow(/mode 644; others could read the token/);
    fs.chmodSync(file, 0o600);
    fs.writeFileSync(file, 'short');
    expect(() => readTokenFile(file)).toThrow(/at least 16 characters/);
    fs.writeFileSync(file, token);
    expect(() => readTokenFile(file, 12345)).toThrow(/owned by uid/);
  });

  test('authorization needs exactly the bearer token', () => {
    expect(authorized(`Bearer ${token}`, digest)).toBe(true);
    expect(authorized(undefined, digest)).toBe(false);
    expect(authorized(`Bearer ${token}x`, digest)).toBe(false);
    expect(authorized(`Basic ${token}`, digest)).toBe(false);
    expect(authorized(`Bearer  ${token}`, digest)).toBe(false);
  });

  test('bodies are parsed strictly', () => {
    expect(parseCheckpointRequest('{"rule":"web","deadline":"2026-11-29T14:00:00Z","requestId":"r1"}')).toEqual({ rule: 'web', deadlineMs: Date.parse('2026-11-29T14:00:00Z'), requestId: 'r1' });
    expect(parseCheckpointRequest('{"rule":"web"}')).toEqual({ rule: 'web', deadlineMs: null, requestId: null });
    expect(parseCheckpointRequest('{"rule":"web","pid":1}')).toMatchObject({ status: 400, body: { detail: expect.stringMatching(/unknown field "pid"/) } });
    expect(parseCheckpointRequest('{"rule":"web","deadline":"soon"}')).toMatchObject({ status: 400 });
    expect(parseCheckpointRequest('nope')).toMatchObject({ status: 400, body: { error: 'bad-request' } });
  });

  test('over a real socket: no token or a wrong one is 401 and reaches no handler; a good one is answered', async () => {
    const seen: CheckpointRequest[] = [];
    const sockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-sock-'));
    const socket = path.join(sockDir, 'triggers.sock');
    const server = await startRequestServer({
      listen: { host: '127.0.0.1', port: 0 },
      socket,
      tokenDigest: digest,
      handle: async (req) => {
        seen.push(req);
        return { status: 202, body: { workflowId: 'wf-1' } };
      },
    });
    try {
      const port = Number(server.addresses[0]!.split(':')[1]);
      const post = (headers: Record<string, string>, body: string, where: { port: number } | { socketPath: string } = { port }) =>
        new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
          const req = http.request({ ...('port' in where ? { host: '127.0.0.1', port: where.port } : where), path: '/v1/checkpoints', method: 'POST', headers }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> }));
          });
          req.on('error', reject);
          req.end(body);
        });
      const body = '{"rule":"web"}';
      const none = await post({}, body);
      expect(none).toEqual({ status: 401, body: expect.objectContaining({ error: 'unauthorized' }) });
      expect(JSON.stringify(none.body)).not.toContain(token);
      expect((await post({ authorization: 'Bearer wrong-token-of-some-length' }, body)).status).toBe(401);
      expect(seen).toEqual([]);
      expect(await post({ authorization: `Bearer ${token}` }, body)).toEqual({ status: 202, body: { workflowId: 'wf-1' } });
      expect(await post({ authorization: `Bearer ${token}` }, body, { socketPath: socket })).toEqual({ status: 202, body: { workflowId: 'wf-1' } });
      expect((await post({ authorization: `Bearer ${token}` }, '{"rule":')).status).toBe(400);
      expect(seen).toEqual([
        { rule: 'web', deadlineMs: null, requestId: null },
        { rule: 'web', deadlineMs: null, requestId: null },
      ]);
      expect(fs.statSync(socket).mode & 0o777).toBe(0o600);
    } finally {
      await server.close();
    }
    expect(fs.existsSync(socket)).toBe(false);
  });
});

describe('preemption notices in each cloud\'s format', () => {
  test('AWS spot instance-action: 404 is no notice; a notice carries its time as deadline', () => {
    expect(parseAwsInstanceAction(404, '<html>Not Found</html>')).toBeNull();
    const n = parseAwsInstanceAction(200, '{"action": "terminate", "time": "2026-11-29T14:02:00Z"}');
    expect(n).toEqual({ event: 'preemption', id: 'aws:terminate:2026-11-29T14:02:00Z', deadlineMs: Date.parse('2026-11-29T14:02:00Z'), detail: expect.stringContaining('terminate') });
    expect(() => parseAwsInstanceAction(200, '{"action": "terminate"}')).toThrow(/not \{"action", "time"\}/);
    expect(() => parseAwsInstanceAction(500, '')).toThrow(/HTTP 500/);
  });
  test('GCP preempted: TRUE is a notice with 30 s from when it was first seen, one per boot', () => {
    expect(parseGcpPreempted(200, 'FALSE', 1000, 'boot')).toBeNull();
    expect(parseGcpPreempted(200, 'TRUE', 1000, 'boot')).toMatchObject({ id: 'gcp:preempted:boot', deadlineMs: 1000 + GCP_NOTICE_MS });
  });
  test('Azure scheduled events: Preempt and Terminate are notices with NotBefore as deadline; Freeze is not', () => {
    const doc = (events: unknown[]) => JSON.stringify({ DocumentIncarnation: 2, Events: events });
    expect(parseAzureScheduledEvents(200, doc([]), 0)).toBeNull();
    expect(parseAzureScheduledEvents(200, doc([{ EventId: 'f1', EventType: 'Freeze', ResourceType: 'VirtualMachine', Resources: ['vm1'], EventStatus: 'Scheduled', NotBefore: 'Mon, 19 Sep 2016 18:29:47 GMT' }]), 0)).toBeNull();
    const n = parseAzureScheduledEvents(
      200,
      doc([{ EventId: '602d9444-d2cd-49c7-8624-8643e7171297', EventType: 'Preempt', ResourceType: 'VirtualMachine', Resources: ['vm1'], EventStatus: 'Scheduled', NotBefore: 'Mon, 19 Sep 2016 18:29:47 GMT', EventSource: 'Platform', DurationInSeconds: -1 }]),
      0,
    );
    expect(n).toMatchObject({ id: 'azure:602d9444-d2cd-49c7-8624-8643e7171297', deadlineMs: Date.parse('2016-09-19T18:29:47Z') });
    expect(parseAzureScheduledEvents(200, doc([{ EventId: 't1', EventType: 'Terminate', EventStatus: 'Scheduled', NotBefore: '' }]), 5000)).toMatchObject({ deadlineMs: 5000 });
  });
});

describe('memory pressure', () => {
  test('PSI text is parsed; something else is refused', () => {
    expect(parsePsi('some avg10=12.50 avg60=3.00 avg300=0.10 total=1234\nfull avg10=4.00 avg60=1.00 avg300=0.00 total=99\n')).toEqual({ someAvg10: 12.5, fullAvg10: 4 });
    expect(parsePsi('some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n')).toEqual({ someAvg10: 0, fullAvg10: null });
    expect(() => parsePsi('MemTotal: 1 kB')).toThrow(/not a pressure stall information file/);
  });
  test('a rule fires once per crossing upwards, again only after dropping below', () => {
    const e = new Episodes();
    expect([false, true, true, true, false, true, true].map((above) => e.observe('k', above))).toEqual([null, 1, null, null, null, 2, null]);
    expect(e.observe('other', true)).toBe(1);
  });
  test('memory thresholds parse with their defaults', () => {
    const r = parseTriggerRules(doc([{ ...webRule, events: ['memory-pressure'], memory: { rssAboveBytes: 1 << 26, psiAbove: 20 } }]), FILE).rules[0]!;
    expect(r.memory).toEqual({ rssAboveBytes: 1 << 26, psiAbove: 20, psiFile: '/proc/pressure/memory' });
  });
});
