/**
 * CRIU's RPC protocol over one `criu swrk` worker: request/response with NOTIFY dispatch, and one
 * small method per request type. Knows the protocol, not ferry's policies (those are in driver.ts).
 *
 * One worker serves any number of VERSION / FEATURE_CHECK / PAGE_SERVER / PAGE_SERVER_CHLD requests
 * (sent with keep_open) followed by at most one dump, pre-dump, restore or WAIT_PID, which ends the
 * worker: CRIU allows keep_open only for the requests it knows leak nothing.
 */
import { failureKind } from '../core/ferry-error';
import { decodeMessage, encodeMessage } from './codec';
import { CriuUnavailableError, type CriuRequestName } from '../core';
import { ReqType } from './schema';
import { CriuWorker } from './transport';
import type { CriuFeatures } from './types';

/** CRIU's notification names, as its action scripts know them. */
export type CriuNotification =
  | 'pre-dump'
  | 'post-dump'
  | 'network-lock'
  | 'network-unlock'
  | 'pre-restore'
  | 'post-restore'
  | 'pre-resume'
  | 'post-resume'
  | 'setup-namespaces'
  | 'post-setup-namespaces'
  | 'query-ext-files'
  | 'orphan-pts-master'
  | 'status-ready'
  | 'pre-stream';

export interface NotificationInfo {
  /** CRIU's name for the notification. */
  name: CriuNotification | string;
  /** Root pid of the restored tree (post-restore and setup-namespaces only). */
  pid?: number;
  /** performance.now() when the notification arrived, for timing the freeze and thaw. */
  at: number;
}

type Hook = (info: NotificationInfo) => void | Promise<void>;

/**
 * Typed notification callbacks. A hook that throws (or rejects) makes ferry answer CRIU with
 * failure, which aborts the step (a dump then leaves the task running; a restore kills what it
 * restored); the hook's error is rethrown once CRIU has answered.
 */
export interface CriuHooks {
  preDump?: Hook;
  postDump?: Hook;
  networkLock?: Hook;
  networkUnlock?: Hook;
  preRestore?: Hook;
  postRestore?: Hook;
  preResume?: Hook;
  postResume?: Hook;
  /** Every notification, including the ones without a typed hook (called before the typed one). */
  any?: Hook;
}

const HOOK_BY_NAME: Record<string, keyof CriuHooks> = {
  'pre-dump': 'preDump',
  'post-dump': 'postDump',
  'network-lock': 'networkLock',
  'network-unlock': 'networkUnlock',
  'pre-restore': 'preRestore',
  'post-restore': 'postRestore',
  'pre-resume': 'preResume',
  'post-resume': 'postResume',
};

/** criu_opts as ferry sets them (snake_case like the protocol). */
export interface CriuOpts {
  images_dir_fd: number;
  pid?: number;
  leave_running?: boolean;
  shell_job?: boolean;
  file_locks?: boolean;
  tcp_established?: boolean;
  ext_unix_sk?: boolean;
  link_remap?: boolean;
  log_level?: number;
  log_file?: string;
  notify_scripts?: boolean;
  parent_img?: string;
  track_mem?: boolean;
  work_dir_fd?: number;
  rst_sibling?: boolean;
  lazy_pages?: boolean;
  ps?: { address?: string; port?: number; fd?: number };
}

/** criu_resp, decoded. */
export interface CriuResponse {
  type: number;
  success: boolean;
  dump?: { restored?: boolean };
  restore?: { pid: number };
  notify?: { script?: string; pid?: number };
  ps?: { address?: string; port?: number; pid?: number; fd?: number };
  cr_errno?: number;
  features?: { mem_track?: boolean; lazy_pages?: boolean; pidfd_store?: boolean };
  cr_errmsg?: string;
  version?: { major_number: number; minor_number: number; gitid?: string; sublevel?: number; extra?: number; name?: string };
  status?: number;
}

export interface CriuVersionInfo {
  /** e.g. "4.1.1" */
  version: string;
  major: number;
  minor: number;
  sublevel: number;
  gitid: string | null;
}

/** A request CRIU answered with success=false; the driver turns it into a typed error. */
export class CriuRequestFailed extends failureKind('criu-request-failed', { retryable: true }) {
  constructor(readonly request: CriuRequestName, readonly response: CriuResponse) {
    super(`CRIU ${request} answered success=false${response.cr_errno ? ` (errno ${response.cr_errno})` : ''}`);
  }
}

export interface RequestOptions {
  hooks?: CriuHooks;
  /**
   * Cancels the request safely: CRIU cannot be interrupted mid-step without risking a frozen
   * target, so an abort is delivered as a failed answer to CRIU's next notification, which makes
   * CRIU roll back (thaw the task) and fail the request.
   */
  signal?: AbortSignal;
}

const REQUEST_NAMES: Record<number, CriuRequestName> = {
  [ReqType.VERSION]: 'VERSION',
  [ReqType.FEATURE_CHECK]: 'FEATURE_CHECK',
  [ReqType.SINGLE_PRE_DUMP]: 'SINGLE_PRE_DUMP',
  [ReqType.DUMP]: 'DUMP',
  [ReqType.RESTORE]: 'RESTORE',
  [ReqType.PAGE_SERVER]: 'PAGE_SERVER',
  [ReqType.PAGE_SERVER_CHLD]: 'PAGE_SERVER_CHLD',
  [ReqType.WAIT_PID]: 'WAIT_PID',
};

export class CriuRpcClient {
  private finished = false;

  private constructor(private readonly worker: CriuWorker) {}

  /** Starts a `criu swrk` worker for `binary` (an absolute path; see binary.ts locateCriu). */
  static start(binary: string): CriuRpcClient {
    return new CriuRpcClient(new CriuWorker(binary));
  }

  get workerPid(): number | undefined {
    return this.worker.pid;
  }

  async version(): Promise<CriuVersionInfo> {
    const resp = await this.call(ReqType.VERSION, { keep_open: true });
    const v = resp.version;
    if (!v) throw new CriuUnavailableError(this.worker.binary, 'its VERSION answer carries no version');
    const sublevel = v.sublevel ?? 0;
    return {
      version: `${v.major_number}.${v.minor_number}${v.sublevel !== undefined ? `.${sublevel}` : ''}`,
      major: v.major_number,
      minor: v.minor_number,
      sublevel,
      gitid: v.gitid ?? null,
    };
  }

  /**
   * The features CRIU reports for this kernel. Each must be requested as true: CRIU answers only
   * what was asked, and a request without `features` crashes the worker.
   */
  async featureCheck(): Promise<CriuFeatures> {
    const resp = await this.call(ReqType.FEATURE_CHECK, {
      keep_open: true,
      features: { mem_track: true, lazy_pages: true, pidfd_store: true },
    });
    const f = resp.features ?? {};
    return { memTrack: f.mem_track === true, lazyPages: f.lazy_pages === true, pidfdStore: f.pidfd_store === true };
  }

  /** One pre-dump (SINGLE_PRE_DUMP): the worker does not wait for a final dump afterwards. */
  singlePreDump(opts: CriuOpts, options?: RequestOptions): Promise<CriuResponse> {
    return this.finalCall(ReqType.SINGLE_PRE_DUMP, opts, options);
  }

  dump(opts: CriuOpts, options?: RequestOptions): Promise<CriuResponse> {
    return this.finalCall(ReqType.DUMP, opts, options);
  }

  restore(opts: CriuOpts, options?: RequestOptions): Promise<CriuResponse> {
    return this.finalCall(ReqType.RESTORE, opts, options);
  }

  /** Starts a page server (CRIU forks it and answers with its pid and port). */
  async pageServer(opts: CriuOpts): Promise<{ pid: number; port: number }> {
    const resp = await this.call(ReqType.PAGE_SERVER, { opts: { ...opts }, keep_open: true });
    return { pid: resp.ps?.pid ?? 0, port: resp.ps?.port ?? 0 };
  }

  /**
   * Starts a page server as a child of this worker (PAGE_SERVER_CHLD), answered once it listens.
   * Unlike PAGE_SERVER's daemon, a child can be waited for (waitPid), which is the only way to
   * learn whether the pages it received arrived whole. CRIU answers with the PAGE_SERVER type.
   */
  async pageServerChild(opts: CriuOpts): Promise<{ pid: number; port: number }> {
    const resp = await this.call(ReqType.PAGE_SERVER_CHLD, { opts: { ...opts }, keep_open: true }, undefined, ReqType.PAGE_SERVER);
    return { pid: resp.ps?.pid ?? 0, port: resp.ps?.port ?? 0 };
  }

  /**
   * Waits for a child of this worker (a page server from pageServerChild) to exit and returns its
   * wait(2) status. CRIU serves no keep_open here, so this ends the worker.
   */
  async waitPid(pid: number): Promise<number> {
    if (this.finished) throw new Error('CriuRpcClient: this worker already served its last request');
    this.finished = true;
    const resp = await this.call(ReqType.WAIT_PID, { pid });
    return resp.status ?? 0;
  }

  /** Ends the worker; `graceMs` bounds the wait for a worker stuck in a request (see CriuWorker.close). */
  close(graceMs?: number): Promise<unknown> {
    return this.worker.close(graceMs);
  }

  private async finalCall(type: number, opts: CriuOpts, options?: RequestOptions): Promise<CriuResponse> {
    if (this.finished) throw new Error('CriuRpcClient: this worker already served its dump/restore request');
    this.finished = true;
    return this.call(type, { opts: { ...opts, notify_scripts: true } }, options);
  }

  private async call(type: number, fields: Record<string, unknown>, options?: RequestOptions, answeredAs = type): Promise<CriuResponse> {
    const name = REQUEST_NAMES[type] ?? (`TYPE_${type}` as CriuRequestName);
    this.worker.send(encodeMessage('criu_req', { type, ...fields }));
    let hookError: unknown = null;
    for (;;) {
      const resp = decodeMessage<CriuResponse>('criu_resp', await this.worker.receive());
      if (resp.type === ReqType.NOTIFY) {
        let ok = true;
        if (hookError === null) {
          try {
            await this.dispatch(resp, options);
          } catch (err) {
            hookError = err;
          }
        }
        if (hookError !== null) ok = false;
        this.worker.send(encodeMessage('criu_req', { type: ReqType.NOTIFY, notify_success: ok }));
        continue;
      }
      if (resp.type !== answeredAs && resp.type !== ReqType.EMPTY) {
        throw new CriuUnavailableError(this.worker.binary, `it answered ${name} with response type ${resp.type}`);
      }
      if (hookError !== null) throw hookError;
      if (!resp.success) throw new CriuRequestFailed(name, resp);
      return resp;
    }
  }

  private async dispatch(resp: CriuResponse, options?: RequestOptions): Promise<void> {
    const script = resp.notify?.script ?? '';
    const info: NotificationInfo = { name: script, at: performance.now() };
    if (resp.notify?.pid) info.pid = resp.notify.pid;
    const signal = options?.signal;
    if (signal?.aborted) throw signal.reason ?? new Error('aborted');
    const hooks = options?.hooks;
    if (!hooks) return;
    if (hooks.any) await hooks.any(info);
    const key = HOOK_BY_NAME[script];
    const hook = key ? hooks[key] : undefined;
    if (hook) await hook(info);
  }
}
