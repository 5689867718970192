/**
 * The host policy: what this host lets ferry checkpoint and where it lets ferry keep images,
 * whatever a request (a CLI flag, a workflow input) says. A HostPolicy is the CRIU driver's
 * TargetGuard (criu/target-guard.ts): the worker and the CLI hand it to the driver
 * (DriverOptions.policy), which asks it before anything is touched; a refusal is a PolicyRefused
 * error plus one line on stderr saying what was refused and why.
 *
 * Processes: the target and every process in its subtree (CRIU dumps the whole tree) must pass
 * every rule the policy sets: uid allow-list (real, effective and saved uid), cgroup path
 * prefixes, executable paths. pid 1, kernel threads and ferry's own process tree are refused by
 * criu/process.ts before the policy is even asked.
 *
 * Restores: every process the images would bring back must pass the uid and executable rules,
 * judged by what the images record (criu/imaged-processes.ts), since CRIU restores credentials
 * as recorded. Cgroup rules apply to dumps only: the images do not say the cgroup as a path.
 *
 * Images: an images dir must lie at or below one of the allowed roots once every symlink is
 * resolved. The path is normalised (`..` removed) exactly as the driver will use it, then the
 * deepest existing ancestor is resolved with realpath and the rest appended, so a symlink
 * anywhere on the way cannot lead out. (What is created between the check and CRIU's write is
 * the host's own doing: the roots are directories only ferry's operator can write to.)
 *
 * The file (FERRY_HOST_POLICY) is JSON; see docs/reliability.md for the format.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config/config';
import { checkTarget, descendantsOf, readProcStat } from '../criu/process';
import type { ImagedProcess } from '../criu/imaged-processes';
import type { GuardedStep, TargetGuard } from '../criu/target-guard';
import type { DumpKind, ProcessIdentity } from '../criu/types';
import { PolicyRefused, type PolicyRule, type PolicyStep } from '../core';

export const POLICY_SETTING = 'FERRY_HOST_POLICY';
/** Larger than any sensible policy: a bigger file is a mistake (or an attack on the parser). */
const MAX_POLICY_BYTES = 1024 * 1024;

/** What a host policy says, as read from its file or taken from the defaults. */
export interface HostPolicyRules {
  /** The policy file, or null for the default policy. */
  source: string | null;
  /** uids whose processes may be dumped, or 'any'. */
  uids: 'any' | readonly number[];
  /** cgroup path prefixes (cgroup v2 unified path, on whole path segments), or null for any. */
  cgroups: readonly string[] | null;
  /** Executable paths (exact) and directories (ending in '/'), resolved; null for any. */
  executables: readonly string[] | null;
  /** Real paths under which images may be written and read; null for anywhere. */
  imageRoots: readonly string[] | null;
}

/** A host policy's rules, and the guard the CRIU driver asks before each step. */
export class HostPolicy implements HostPolicyRules, TargetGuard {
  readonly source: string | null;
  readonly uids: 'any' | readonly number[];
  readonly cgroups: readonly string[] | null;
  readonly executables: readonly string[] | null;
  readonly imageRoots: readonly string[] | null;

  constructor(rules: HostPolicyRules) {
    this.source = rules.source;
    this.uids = rules.uids;
    this.cgroups = rules.cgroups;
    this.executables = rules.executables;
    this.imageRoots = rules.imageRoots;
  }

  checkProcess(step: DumpKind, target: ProcessIdentity): void {
    checkProcessRules(this, step, target);
  }

  checkImagesDir(step: GuardedStep, dir: string, role?: string): void {
    checkImagesDirAllowed(this, step, dir, role);
  }

  checkRestoredProcesses(processes: readonly ImagedProcess[]): void {
    checkRestoredProcessesAllowed(this, processes);
  }
}

export interface PolicyDefaults {
  /** Where images may go when the file does not say: the worker passes its staging dir, the CLI null (anywhere). */
  imageRoots: readonly string[] | null;
  /** The uid ferry runs as (default process.getuid()): the default policy allows only its processes, or any for root. */
  uid?: number;
}

function ownUid(defaults: PolicyDefaults): number {
  return defaults.uid ?? (typeof process.getuid === 'function' ? process.getuid() : 0);
}

/** The policy when no file is configured: processes of ferry's own uid (root: any), images under the default roots. */
export function defaultHostPolicy(defaults: PolicyDefaults): HostPolicy {
  return new HostPolicy(defaultRules(defaults));
}

function defaultRules(defaults: PolicyDefaults): HostPolicyRules {
  const uid = ownUid(defaults);
  return {
    source: null,
    uids: uid === 0 ? 'any' : [uid],
    cgroups: null,
    executables: null,
    imageRoots: defaults.imageRoots === null ? null : defaults.imageRoots.map(resolveReal),
  };
}

/**
 * Why a worker may not start without a policy file (a problem with FERRY_HOST_POLICY, worded to
 * follow the setting's name), or null when it may. A root worker runs CRIU
 * for whoever can start a workflow: without a policy that would be any process of the host (sshd,
 * another user's), dumped, stopped or moved, and any checkpoint restored as root. So root must say
 * what it allows; a worker of another uid can only touch that uid's processes anyway.
 */
export function rootWorkerPolicyProblem(policyFile: string | undefined, uid: number = ownUid({ imageRoots: null })): string | null {
  if (policyFile !== undefined || uid !== 0) return null;
  return (
    `is not set, and this worker runs as root: without a host policy anyone who can start a workflow could dump, stop or move any process of this host and restore any checkpoint as root. ` +
    `Set it to a policy file that names what the worker may touch, for example ` +
    `{"version": 1, "processes": {"uids": [1000], "executables": ["/srv/app/"]}} ` +
    `(docs/reliability.md, "Host policy"); {"version": 1, "processes": {"uids": "any"}} allows every process. ` +
    'The dev stack writes its own (`ferry dev up`)'
  );
}

/** Long or multi-line values (paths come from requests) shown in messages and the log without harm. */
export function shown(value: string, max = 200): string {
  const flat = JSON.stringify(value.length > max ? value.slice(0, max) : value).slice(1, -1);
  return value.length > max ? `${flat}...(${value.length - max} more chars)` : flat;
}

/**
 * `p` made absolute and normalised, with the deepest ancestor that exists replaced by its real
 * path: where a write to `p` would really land.
 */
export function resolveReal(p: string): string {
  const rest: string[] = [];
  let cur = path.resolve(p);
  let hops = 0;
  for (;;) {
    try {
      const real = fs.realpathSync.native(cur);
      return rest.length === 0 ? real : path.join(real, ...[...rest].reverse());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOENT: not there yet; ENOTDIR: a file on the way; ENAMETOOLONG: cannot exist. In each
      // case the part that exists decides where a write would land.
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'ENAMETOOLONG' && code !== 'ELOOP') throw err;
      // A dangling symlink is followed, not skipped: a write through it lands at its target.
      const link = symlinkTarget(cur);
      if (link !== null) {
        if (++hops > 40) throw Object.assign(new Error(`too many levels of symbolic links at ${shown(cur)}`), { code: 'ELOOP' });
        cur = path.resolve(path.dirname(cur), link);
        continue;
      }
      const parent = path.dirname(cur);
      if (parent === cur) return path.join(cur, ...[...rest].reverse());
      rest.push(path.basename(cur));
      cur = parent;
    }
  }
}

function symlinkTarget(p: string): string | null {
  try {
    return fs.lstatSync(p).isSymbolicLink() ? fs.readlinkSync(p) : null;
  } catch {
    return null;
  }
}

function isAtOrBelow(p: string, root: string): boolean {
  if (p === root) return true;
  const rel = path.relative(root, p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

// ---- the policy file ------------------------------------------------------------------------

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function invalid(file: string, problem: string): ConfigError {
  return new ConfigError(POLICY_SETTING, `names ${shown(file)}, which ${problem}`);
}

function checkKeys(file: string, where: string, value: Json, allowed: string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw invalid(file, `has an unknown key ${where}${shown(key)} (allowed: ${allowed.join(', ')}); a misspelt rule would silently allow everything`);
    }
  }
}

function pathList(file: string, where: string, value: unknown, what: string): string[] {
  if (!Array.isArray(value) || value.length === 0) throw invalid(file, `has ${where} that is not a non-empty list of ${what}`);
  return value.map((v, i) => {
    if (typeof v !== 'string' || !path.isAbsolute(v) || v.includes('\0') || v.length > 4096) {
      throw invalid(file, `has ${where}[${i}] ${shown(JSON.stringify(v) ?? String(v))}, not an absolute path`);
    }
    return v;
  });
}

function cgroupPrefix(p: string): string {
  const normal = path.posix.normalize(p);
  return normal.length > 1 ? normal.replace(/\/+$/, '') : normal;
}

function executableEntry(p: string): string {
  // A trailing slash means "any executable under this directory"; resolve what exists, as the
  // kernel's /proc/<pid>/exe shows the resolved path.
  const dir = p.endsWith('/');
  const real = resolveReal(p);
  return dir ? (real.endsWith('/') ? real : real + '/') : real;
}

/** Parses and validates a policy file's text. Throws ConfigError naming FERRY_HOST_POLICY. */
export function parseHostPolicy(text: string, file: string, defaults: PolicyDefaults): HostPolicy {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalid(file, `is not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(value)) throw invalid(file, 'does not hold a JSON object');
  checkKeys(file, '', value, ['version', 'processes', 'imageRoots', 'comment']);
  if (value.version !== 1) throw invalid(file, `has version ${shown(JSON.stringify(value.version) ?? 'missing')}; this ferry reads version 1`);
  const policy: HostPolicyRules = { ...defaultRules(defaults), source: file };
  if (value.processes !== undefined) {
    const p = value.processes;
    if (!isObject(p)) throw invalid(file, 'has "processes" that is not an object');
    checkKeys(file, 'processes.', p, ['uids', 'cgroups', 'executables']);
    if (p.uids !== undefined) {
      if (p.uids === 'any') policy.uids = 'any';
      else if (Array.isArray(p.uids) && p.uids.length > 0 && p.uids.every((u) => Number.isInteger(u) && (u as number) >= 0 && (u as number) <= 0xfffffffe)) {
        policy.uids = [...new Set(p.uids as number[])];
      } else {
        throw invalid(file, 'has processes.uids that is neither "any" nor a non-empty list of uids (integers 0-4294967294)');
      }
    }
    if (p.cgroups !== undefined) policy.cgroups = pathList(file, 'processes.cgroups', p.cgroups, 'cgroup paths').map(cgroupPrefix);
    if (p.executables !== undefined) policy.executables = [...new Set(pathList(file, 'processes.executables', p.executables, 'executable paths').map(executableEntry))];
  }
  if (value.imageRoots !== undefined) {
    policy.imageRoots = value.imageRoots === 'any' ? null : pathList(file, 'imageRoots', value.imageRoots, 'directories').map(resolveReal);
  }
  return new HostPolicy(policy);
}

/**
 * The host policy: read from `file` (the FERRY_HOST_POLICY setting) when given, else the default.
 * Throws ConfigError (naming FERRY_HOST_POLICY) when the file is missing, unreadable or invalid:
 * a host that meant to have a policy must never run without it.
 */
export function loadHostPolicy(file: string | undefined, defaults: PolicyDefaults): HostPolicy {
  if (file === undefined) return defaultHostPolicy(defaults);
  let text: string;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw invalid(file, 'is not a regular file');
    if (st.size > MAX_POLICY_BYTES) throw invalid(file, `is ${st.size} bytes, more than a policy can sensibly be (${MAX_POLICY_BYTES})`);
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw invalid(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseHostPolicy(text, file, defaults);
}

// ---- enforcement ----------------------------------------------------------------------------

/** One line on stderr per refusal: what, why, which policy. Paths are escaped; nothing secret is in it. */
export function logRefusal(err: PolicyRefused): void {
  const line =
    `ferry host-policy: refused ${err.step} of ${err.subject}: rule ${err.rule}: ${err.reason}; ` +
    `policy ${err.policySource ? shown(err.policySource) : 'default'}`;
  process.stderr.write(line.replace(/[\r\n]+/g, ' ') + '\n');
}

function refuse(policy: HostPolicyRules, step: PolicyStep, subject: string, rule: PolicyRule, reason: string, cause?: unknown): never {
  const err = new PolicyRefused(step, subject, rule, reason, policy.source, cause === undefined ? undefined : { cause });
  logRefusal(err);
  throw err;
}

export interface ProcessFacts {
  pid: number;
  comm: string;
  /** Real, effective, saved and filesystem uid. */
  uids: number[];
  /** The cgroup v2 unified path (or, on a v1-only host, the name=systemd one); null if unknown. */
  cgroup: string | null;
  /** /proc/<pid>/exe, as the kernel resolved it. */
  exe: string;
}

/** What the policy looks at for one process; null when it exited meanwhile or is a zombie. Throws on unreadable facts. */
export function readProcessFacts(pid: number): ProcessFacts | null {
  const stat = readProcStat(pid);
  // A zombie has no memory or executable left (its exe link is gone): nothing of it to protect.
  if (!stat || stat.state === 'Z' || stat.state === 'X') return null;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const uidLine = /^Uid:\s+(.*)$/m.exec(status)?.[1] ?? '';
    const uids = uidLine.trim().split(/\s+/).map(Number);
    if (uids.length !== 4 || !uids.every(Number.isInteger)) throw new Error(`unexpected Uid line in /proc/${pid}/status`);
    const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
    const unified = lines.find((l) => l.startsWith('0::'));
    const systemd = lines.find((l) => /^\d+:name=systemd:/.test(l));
    const cgLine = unified ?? systemd;
    const cgroup = cgLine ? cgLine.slice(cgLine.indexOf(':', cgLine.indexOf(':') + 1) + 1) : null;
    const exe = fs.readlinkSync(`/proc/${pid}/exe`);
    return { pid, comm: stat.comm, uids, cgroup, exe };
  } catch (err) {
    if (!readProcStat(pid)) return null;
    throw err;
  }
}

/** The first rule `facts` breaks, or null when the policy allows the process. */
export function processViolation(policy: HostPolicyRules, facts: ProcessFacts): { rule: PolicyRule; reason: string } | null {
  if (policy.uids !== 'any') {
    const allowed = policy.uids;
    const bad = [...new Set(facts.uids)].filter((u) => !allowed.includes(u));
    if (bad.length > 0) {
      return { rule: 'uid', reason: `it runs as uid ${bad.join(', ')} (real/effective/saved/fs ${facts.uids.join('/')}), not one of the allowed uids ${allowed.join(', ')}` };
    }
  }
  if (policy.cgroups !== null) {
    const cg = facts.cgroup;
    if (cg === null || !policy.cgroups.some((prefix) => isAtOrBelow(cg, prefix))) {
      return { rule: 'cgroup', reason: `its cgroup ${cg === null ? '(unknown)' : shown(cg)} is not under any allowed cgroup (${policy.cgroups.map((c) => shown(c)).join(', ')})` };
    }
  }
  if (policy.executables !== null) {
    const exe = facts.exe;
    const ok = policy.executables.some((e) => (e.endsWith('/') ? exe.startsWith(e) : exe === e));
    if (!ok) return { rule: 'executable', reason: `its executable ${shown(exe)} is not an allowed executable (${policy.executables.map((e) => shown(e)).join(', ')})` };
  }
  return null;
}

/**
 * Checks that a restore may bring back `processes` (what the final dump's images record): the
 * uid and executable rules, for each process (the images do not record the cgroup as a path). A
 * zombie (no executable) runs nothing and passes.
 */
export function checkRestoredProcessesAllowed(policy: HostPolicyRules, processes: readonly ImagedProcess[]): void {
  const root = processes[0];
  if (!root) return;
  const subject = `the checkpointed tree of pid ${root.pid} (${shown(root.comm)})`;
  for (const p of processes) {
    if (p.exe === null) continue;
    const who = p.pid === root.pid ? 'it' : `its pid ${p.pid} (${shown(p.comm)})`;
    if (policy.uids !== 'any') {
      const allowed = policy.uids;
      const bad = p.uids.filter((u) => !allowed.includes(u));
      if (bad.length > 0) refuse(policy, 'restore', subject, 'uid', `${who} would run as uid ${bad.join(', ')}, not one of the allowed uids ${allowed.join(', ')}`);
    }
    const exe = p.exe;
    if (policy.executables !== null && !policy.executables.some((e) => (e.endsWith('/') ? exe.startsWith(e) : exe === e))) {
      refuse(policy, 'restore', subject, 'executable', `${who} would run ${shown(exe)}, not an allowed executable (${policy.executables.map((e) => shown(e)).join(', ')})`);
    }
  }
}

/**
 * Checks that `pid` may be dumped on this host: first the built-in refusals (no such process,
 * pid 1, kernel threads, ferry's own tree, a recycled pid: criu/process.ts), then the policy's
 * rules for the process and every descendant CRIU would dump with it. Returns its identity.
 */
export function checkProcessAllowed(policy: HostPolicyRules, step: PolicyStep, pid: number, expected?: ProcessIdentity): ProcessIdentity {
  const identity = checkTarget(pid, expected);
  checkProcessRules(policy, step, identity);
  return identity;
}

/** The policy's rules for `identity` (past the built-in refusals) and every descendant CRIU would dump with it. */
function checkProcessRules(policy: HostPolicyRules, step: PolicyStep, identity: ProcessIdentity): void {
  const pid = identity.pid;
  for (const member of [pid, ...descendantsOf(pid)]) {
    let facts: ProcessFacts | null;
    try {
      facts = readProcessFacts(member);
    } catch (err) {
      const what = member === pid ? `pid ${pid}` : `pid ${member} (a descendant of pid ${pid})`;
      refuse(policy, step, `pid ${pid} (${identity.comm})`, 'process-unreadable', `ferry cannot read what it needs to check ${what} (${(err as Error).message})`, err);
    }
    if (!facts) continue; // a descendant exited meanwhile: CRIU will not see it either
    const violation = processViolation(policy, facts);
    if (violation) {
      const who = member === pid ? '' : `its descendant pid ${member} (${facts.comm}): `;
      refuse(policy, step, `pid ${pid} (${identity.comm})`, violation.rule, who + violation.reason);
    }
  }
}

/**
 * Checks that an images dir lies under an allowed root once `..` and symlinks are resolved.
 * Returns the real path the images would be written to.
 */
export function checkImagesDirAllowed(policy: HostPolicyRules, step: PolicyStep, dir: string, role = 'images dir'): string {
  if (policy.imageRoots === null) return path.resolve(dir);
  let real: string;
  try {
    real = resolveReal(dir);
  } catch (err) {
    refuse(policy, step, `${role} ${shown(dir)}`, 'image-root', `ferry cannot tell where it leads (${(err as Error).message})`, err);
  }
  if (!policy.imageRoots.some((root) => isAtOrBelow(real, root))) {
    const via = real === path.resolve(dir) ? '' : ` (it resolves to ${shown(real)})`;
    refuse(
      policy,
      step,
      `${role} ${shown(dir)}`,
      'image-root',
      `it is not under an allowed image root${via}; allowed: ${policy.imageRoots.map((r) => shown(r)).join(', ')}`,
    );
  }
  return real;
}
