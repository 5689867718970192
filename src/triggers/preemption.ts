/**
 * The `preemption` event source: the cloud's instance metadata service says this VM is about to
 * be taken away. Each provider in its own format:
 *
 * - AWS spot: PUT /latest/api/token (IMDSv2, header X-aws-ec2-metadata-token-ttl-seconds), then
 *   GET /latest/meta-data/spot/instance-action with X-aws-ec2-metadata-token: 404 while nothing is
 *   planned, else {"action": "terminate"|"stop"|"hibernate", "time": "2026-11-29T14:02:00Z"}.
 * - GCP: GET /computeMetadata/v1/instance/preempted with Metadata-Flavor: Google: "TRUE" once
 *   preempted (the VM has about 30 s from then; the answer carries no time).
 * - Azure: GET /metadata/scheduledevents?api-version=2020-07-01 with Metadata: true:
 *   {"DocumentIncarnation": n, "Events": [{"EventId", "EventType": "Preempt"|"Terminate"|...,
 *   "NotBefore": "Mon, 19 Sep 2016 18:29:47 GMT", ...}]}.
 *
 * The parsers are pure (text and time in, a notice or null out); the poller does the HTTP. A
 * notice's id comes from the notice itself, so polling the same notice again fires nothing new.
 */
import http from 'node:http';
import type { EventNotice } from './event-ids';

export type PreemptionProvider = 'aws' | 'gcp' | 'azure';
export const PREEMPTION_PROVIDERS: readonly PreemptionProvider[] = ['aws', 'gcp', 'azure'];
export const DEFAULT_METADATA_URL = 'http://169.254.169.254';
/** What GCP gives a preempted VM between the notice and the stop. */
export const GCP_NOTICE_MS = 30_000;

/** AWS spot instance-action: a notice, or null (404: nothing planned). */
export function parseAwsInstanceAction(status: number, text: string): EventNotice | null {
  if (status === 404) return null;
  if (status !== 200) throw new Error(`instance-action answered HTTP ${status}`);
  const doc = JSON.parse(text) as { action?: unknown; time?: unknown };
  if (typeof doc.action !== 'string' || typeof doc.time !== 'string') throw new Error('instance-action is not {"action", "time"}');
  const deadlineMs = Date.parse(doc.time);
  if (!Number.isFinite(deadlineMs)) throw new Error(`instance-action time ${JSON.stringify(doc.time.slice(0, 40))} is not a time`);
  return { event: 'preemption', id: `aws:${doc.action}:${doc.time}`, deadlineMs, detail: `aws spot instance-action ${doc.action} at ${doc.time}` };
}

/** GCP preempted: a notice once "TRUE"; the deadline counts from when it was first seen. */
export function parseGcpPreempted(status: number, text: string, firstSeenMs: number, bootId: string): EventNotice | null {
  if (status !== 200) throw new Error(`preempted answered HTTP ${status}`);
  if (text.trim() !== 'TRUE') return null;
  // One preemption per boot of the VM.
  return { event: 'preemption', id: `gcp:preempted:${bootId}`, deadlineMs: firstSeenMs + GCP_NOTICE_MS, detail: 'gcp instance preempted' };
}

const AZURE_FATAL = ['Preempt', 'Terminate', 'Reboot', 'Redeploy'];

/** Azure Scheduled Events: the first event that ends this VM's memory (Freeze does not). */
export function parseAzureScheduledEvents(status: number, text: string, nowMs: number): EventNotice | null {
  if (status !== 200) throw new Error(`scheduledevents answered HTTP ${status}`);
  const doc = JSON.parse(text) as { Events?: Array<Record<string, unknown>> };
  for (const e of doc.Events ?? []) {
    if (!AZURE_FATAL.includes(String(e.EventType)) || typeof e.EventId !== 'string') continue;
    if (e.EventStatus === 'Started') continue;
    const notBefore = typeof e.NotBefore === 'string' && e.NotBefore !== '' ? Date.parse(e.NotBefore) : NaN;
    const deadlineMs = Number.isFinite(notBefore) ? notBefore : nowMs;
    return { event: 'preemption', id: `azure:${e.EventId}`, deadlineMs, detail: `azure scheduled event ${String(e.EventType)} ${e.EventId}` };
  }
  return null;
}

function request(url: string, method: string, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        if (text.length > 64 * 1024) req.destroy(new Error('metadata answer too large'));
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** One poll of the provider's metadata service: a notice, or null when none is posted. */
export async function pollPreemption(provider: PreemptionProvider, baseUrl: string, state: { firstSeenMs: number | null; bootId: string }, timeoutMs = 2000): Promise<EventNotice | null> {
  const base = baseUrl.replace(/\/+$/, '');
  switch (provider) {
    case 'aws': {
      const tok = await request(`${base}/latest/api/token`, 'PUT', { 'X-aws-ec2-metadata-token-ttl-seconds': '300' }, timeoutMs);
      if (tok.status !== 200) throw new Error(`IMDSv2 token request answered HTTP ${tok.status}`);
      const r = await request(`${base}/latest/meta-data/spot/instance-action`, 'GET', { 'X-aws-ec2-metadata-token': tok.text.trim() }, timeoutMs);
      return parseAwsInstanceAction(r.status, r.text);
    }
    case 'gcp': {
      const r = await request(`${base}/computeMetadata/v1/instance/preempted`, 'GET', { 'Metadata-Flavor': 'Google' }, timeoutMs);
      const seen = state.firstSeenMs ?? Date.now();
      const notice = parseGcpPreempted(r.status, r.text, seen, state.bootId);
      if (notice && state.firstSeenMs === null) state.firstSeenMs = seen;
      return notice;
    }
    case 'azure': {
      const r = await request(`${base}/metadata/scheduledevents?api-version=2020-07-01`, 'GET', { Metadata: 'true' }, timeoutMs);
      return parseAzureScheduledEvents(r.status, r.text, Date.now());
    }
  }
}

export interface PreemptionPoller {
  stop(): void;
}

/**
 * Polls every `intervalMs` and hands each notice to `onNotice` (the same notice again on every
 * poll while it stands: firing is idempotent per notice id). Errors are reported, polling goes on.
 */
export function startPreemptionPoller(opts: {
  provider: PreemptionProvider;
  baseUrl: string;
  intervalMs: number;
  bootId: string;
  onNotice: (notice: EventNotice) => Promise<void>;
  onError: (message: string) => void;
}): PreemptionPoller {
  const state = { firstSeenMs: null as number | null, bootId: opts.bootId };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async (): Promise<void> => {
    try {
      const notice = await pollPreemption(opts.provider, opts.baseUrl, state);
      if (notice && !stopped) await opts.onNotice(notice);
    } catch (err) {
      opts.onError(`${opts.provider} metadata at ${opts.baseUrl}: ${(err as Error).message}`);
    }
    if (!stopped) {
      timer = setTimeout(() => void tick(), opts.intervalMs);
      timer.unref();
    }
  };
  void tick();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
