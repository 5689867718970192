/**
 * The triggers as `ferry worker` runs them: the rules, a Temporal client to start workflows, the
 * request endpoint, and what a stopping worker does for its `shutdown` rules. Each event source
 * turns what it saw into an EventNotice and hands it to fire(); the rest is the same for all.
 */
import type { FerryClient } from '../client';
import type { TriggerSettings } from '../config/config';
import { readBootId, readProcStat } from '../criu/process';
import type { CheckpointResult } from '../workflows/types';
import type { EventNotice } from './event-ids';
import { fireRule, type Fired } from './fire';
import { resolveTarget, type ProcessSnapshot } from './match';
import { Episodes, readPsi, treeRssBytes } from './memory-pressure';
import { startPreemptionPoller, type PreemptionPoller } from './preemption';
import { readTokenFile, startRequestServer, type Answer, type CheckpointRequest, type RequestServer } from './request-server';
import { findRule, type TriggerEvent, type TriggerRule, type TriggerRules } from './rules';

export interface TriggerServiceOptions {
  settings: TriggerSettings;
  rules: TriggerRules;
  ferry: FerryClient;
  host: string;
  log: (line: string) => void;
}

/** How one workflow a stopping worker waited for ended. */
export interface ShutdownWait {
  workflowId: string;
  pid: number;
  outcome: 'stored' | 'failed' | 'timed-out';
  detail: string;
}

export class TriggerService {
  private server: RequestServer | null = null;
  private poller: PreemptionPoller | null = null;
  private memoryTimer: NodeJS.Timeout | null = null;
  private readonly episodes = new Episodes();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly opts: TriggerServiceOptions) {}

  rulesFor(event: TriggerEvent): TriggerRule[] {
    return this.opts.rules.rules.filter((r) => r.events.includes(event));
  }

  /** Starts the event sources that are configured; returns what listens or polls, for the ready line. */
  async start(): Promise<string[]> {
    const s = this.opts.settings;
    const sources: string[] = [];
    const preemptionRules = this.rulesFor('preemption');
    if (s.preemption && preemptionRules.length > 0) {
      const p = s.preemption;
      this.poller = startPreemptionPoller({
        provider: p.provider,
        baseUrl: p.url,
        intervalMs: p.intervalMs,
        bootId: readBootId(),
        onNotice: async (notice) => {
          for (const rule of preemptionRules) await this.fire(rule, notice);
        },
        onError: (message) => this.opts.log(`preemption poll failed: ${message}`),
      });
      sources.push(`${p.provider} preemption notices polled at ${p.url} every ${p.intervalMs} ms`);
    }
    const memoryRules = this.rulesFor('memory-pressure');
    if (memoryRules.length > 0) {
      this.watchMemory(memoryRules, s.memoryPollMs);
      sources.push(`memory pressure checked every ${s.memoryPollMs} ms`);
    }
    if (!s.listen && !s.socket) return sources;
    const tokenDigest = readTokenFile(s.tokenFile!);
    this.server = await startRequestServer({
      ...(s.listen ? { listen: s.listen } : {}),
      ...(s.socket ? { socket: s.socket } : {}),
      tokenDigest,
      handle: (req) => this.onRequest(req),
      log: (line) => this.opts.log(`request ${line}`),
    });
    return [...sources, `requests on ${this.server.addresses.join(' and ')}`];
  }

  /**
   * Fires `rule` for `notice` on what its target matches now (or on `only`, a subset the event
   * concerns); schedules the dumpNow a joined run will need.
   */
  async fire(rule: TriggerRule, notice: EventNotice, only?: readonly ProcessSnapshot[]): Promise<{ fired: Fired[]; problem: string | null }> {
    const match = only ? { processes: [...only], problem: null } : await resolveTarget(rule.target, this.opts.host);
    const fired = await fireRule({ ferry: this.opts.ferry, host: this.opts.host, rule, notice, processes: match.processes });
    for (const f of fired) {
      this.opts.log(`${notice.event} (${notice.detail}) rule ${rule.name}: ${f.detail}`);
      if (f.dumpNowDueMs !== null && f.workflowId !== null) this.dumpNowAt(f.workflowId, f.dumpNowDueMs);
    }
    if (fired.length === 0) this.opts.log(`${notice.event} (${notice.detail}) rule ${rule.name}: no process matches${match.problem ? ` (${match.problem})` : ''}`);
    return { fired, problem: match.problem };
  }

  private dumpNowAt(workflowId: string, atMs: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.opts.ferry.dumpNow(workflowId).then(
        () => this.opts.log(`deadline near: told ${workflowId} to dump now`),
        (err: unknown) => this.opts.log(`deadline near: could not tell ${workflowId} to dump now: ${(err as Error).message}`),
      );
    }, Math.max(0, atMs - Date.now()));
    t.unref();
    this.timers.add(t);
  }

  private watchMemory(rules: TriggerRule[], intervalMs: number): void {
    const tick = async (): Promise<void> => {
      for (const rule of rules) {
        try {
          await this.checkMemory(rule);
        } catch (err) {
          this.opts.log(`memory-pressure rule ${rule.name}: ${(err as Error).message}`);
        }
      }
      if (this.memoryTimer !== null) {
        this.memoryTimer = setTimeout(() => void tick(), intervalMs);
        this.memoryTimer.unref();
      }
    };
    this.memoryTimer = setTimeout(() => void tick(), 0);
    this.memoryTimer.unref();
  }

  private async checkMemory(rule: TriggerRule): Promise<void> {
    const m = rule.memory!;
    const notice = (key: string, n: number, detail: string): EventNotice => ({ event: 'memory-pressure', id: `${key}:episode-${n}`, deadlineMs: null, detail });
    if (m.psiAbove !== undefined) {
      const psi = readPsi(m.psiFile);
      const n = this.episodes.observe(`${rule.name}:psi`, psi.someAvg10 > m.psiAbove);
      if (n !== null) await this.fire(rule, notice(`${rule.name}:psi`, n, `${m.psiFile} some avg10=${psi.someAvg10} above ${m.psiAbove}`));
    }
    if (m.rssAboveBytes !== undefined) {
      const { processes } = await resolveTarget(rule.target, this.opts.host);
      for (const p of processes) {
        const rss = treeRssBytes(p.pid);
        const key = `${rule.name}:rss:${p.pid}:${p.startTime}`;
        const n = this.episodes.observe(key, rss !== null && rss > m.rssAboveBytes);
        if (n !== null) await this.fire(rule, notice(key, n, `pid ${p.pid} resident ${rss} bytes above ${m.rssAboveBytes}`), [p]);
      }
    }
  }

  async onRequest(req: CheckpointRequest): Promise<Answer> {
    const rule = findRule(this.opts.rules, req.rule);
    if (typeof rule === 'string') return { status: 404, body: { error: 'no-such-rule', detail: rule } };
    if (!rule.events.includes('request')) return { status: 403, body: { error: 'rule-not-for-requests', detail: `rule ${rule.name} does not list the event "request"` } };
    const id = req.requestId ?? `${rule.name}\n${req.deadlineMs ?? ''}`;
    const notice: EventNotice = { event: 'request', id, deadlineMs: req.deadlineMs, detail: req.requestId ? `request ${req.requestId}` : 'request' };
    const { fired, problem } = await this.fire(rule, notice);
    if (fired.length === 0) return { status: 409, body: { error: 'no-process', detail: `rule ${rule.name} matches no process now${problem ? `: ${problem}` : ''}` } };
    const first = fired.find((f) => f.workflowId !== null);
    return { status: first ? 202 : 409, body: { ...(first ? { workflowId: first.workflowId } : { error: 'nothing-to-do', detail: fired[0]!.detail }), workflows: fired } };
  }

  /**
   * SIGTERM: checkpoint what the `shutdown` rules protect, with the grace period as deadline, and
   * wait (at most until then) for each checkpoint to be stored. The caller keeps the activity
   * worker running meanwhile, then stops it.
   */
  async onShutdown(nowMs: number = Date.now()): Promise<ShutdownWait[]> {
    const rules = this.rulesFor('shutdown');
    if (rules.length === 0) return [];
    const deadlineMs = nowMs + this.opts.settings.shutdownGraceMs;
    const self = readProcStat(process.pid);
    // One stop of one worker is one event: a repeated SIGTERM finds the same workflows.
    const notice: EventNotice = { event: 'shutdown', id: `${readBootId()}:${process.pid}:${self?.startTime ?? 0}`, deadlineMs, detail: `worker stopping, grace ${this.opts.settings.shutdownGraceMs} ms` };
    const waits: Array<Promise<ShutdownWait>> = [];
    for (const rule of rules) {
      const { fired } = await this.fire(rule, notice).catch((err: unknown) => {
        this.opts.log(`shutdown rule ${rule.name}: could not start: ${(err as Error).message}`);
        return { fired: [] as Fired[] };
      });
      for (const f of fired) if (f.workflowId !== null) waits.push(this.waitStored(f.workflowId, f.pid, deadlineMs));
    }
    return Promise.all(waits);
  }

  private async waitStored(workflowId: string, pid: number, deadlineMs: number): Promise<ShutdownWait> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<ShutdownWait>((resolve) => {
      timer = setTimeout(() => resolve({ workflowId, pid, outcome: 'timed-out', detail: 'the grace period ended before it was stored' }), Math.max(0, deadlineMs - Date.now()));
    });
    const result = this.opts.ferry.result<CheckpointResult>(workflowId).then(
      (r): ShutdownWait => ({ workflowId, pid, outcome: 'stored', detail: `stored as ${r.checkpointId}${r.deadline ? `, ${r.deadline.detail}` : ''}` }),
      (err: unknown): ShutdownWait => ({ workflowId, pid, outcome: 'failed', detail: (err as Error).message }),
    );
    try {
      const w = await Promise.race([result, timeout]);
      this.opts.log(`shutdown: ${workflowId} ${w.outcome}: ${w.detail}`);
      return w;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.poller?.stop();
    if (this.memoryTimer !== null) clearTimeout(this.memoryTimer);
    this.memoryTimer = null;
    await this.server?.close();
  }
}
