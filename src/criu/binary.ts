/**
 * The CRIU executable itself: where it is, which version it is, and whether `criu check` passes
 * on this kernel. The RPC driver resolves its binary through here; `ferry check`, the dev stack
 * demo and the integration tests use runCriuCheck.
 */
import { failureKind, type FerryErrorOptions } from '../core/ferry-error';
import { execFile } from 'node:child_process';
import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';

/** Oldest CRIU ferry works with (bookworm's 3.17 fails `criu check` on recent kernels). */
export const MIN_CRIU_VERSION = '4.1';

const DEFAULT_TIMEOUT_MS = 30_000;

export interface CriuBinary {
  /** Absolute path of the executable. */
  path: string;
  /** Dotted version as CRIU reports it, e.g. "4.1.1". */
  version: string;
}

export interface CriuCheckReport {
  binary: CriuBinary;
  /** True when `criu check` exited 0. */
  ok: boolean;
  exitCode: number | null;
  /** The verdict line CRIU printed ("Looks good." ...), or the last error line when it failed. */
  summary: string;
  /** Lines CRIU logged as warnings (features that are missing but not fatal). */
  warnings: string[];
  /** Lines CRIU logged as errors. */
  errors: string[];
  /** The feature asked about with `--feature`, if any. */
  feature?: string;
}

/** No CRIU executable where the configuration says. */
export class CriuNotFoundError extends failureKind('criu-not-found', { retryable: false }) {
  constructor(readonly binary: string, options?: FerryErrorOptions) {
    super(
      `CRIU binary ${JSON.stringify(binary)} not found or not executable; ` +
        'install CRIU >= 4.1 (bash infra/install.sh) or point FERRY_CRIU at it',
      options,
    );
  }
}


/** The binary ran but its version could not be read or is older than ferry supports. */
export class CriuVersionError extends failureKind('criu-version-unsupported', { retryable: false }) {
  constructor(readonly binary: string, readonly version: string | null, options?: FerryErrorOptions) {
    super(
      version === null
        ? `could not read the version of ${binary} (\`${binary} --version\` failed or printed no "Version:" line); ` +
            'check that it is CRIU, or reinstall it with bash infra/install.sh'
        : `${binary} is CRIU ${version}, ferry needs >= ${MIN_CRIU_VERSION}; install a newer one with bash infra/install.sh`,
      options,
    );
  }
}


/** `criu check` could not be run at all (it timed out or could not be spawned). */
export class CriuCheckError extends failureKind('criu-check-failed', { retryable: false }) {
  constructor(readonly binary: string, readonly reason: string, options?: FerryErrorOptions) {
    super(`could not run \`${binary} check\`: ${reason}; run it by hand as root to see why`, options);
  }
}


/** Compares dotted numeric versions: negative, zero or positive like a sort comparator. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split('.').map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The version out of `criu --version` output ("Version: 4.1.1", maybe a GitID line), or null. */
export function parseCriuVersion(output: string): string | null {
  const m = /^Version:\s*(\d+(?:\.\d+)*)/m.exec(output);
  return m ? m[1] : null;
}

/**
 * Splits `criu check` output into a verdict. CRIU prints "Looks good." (possibly "Looks good but
 * some kernel features are missing ...") on success, and logs problems as "Error (file:line): ..."
 * and "Warn  (file:line): ..." lines; with --feature it prints "<feature> is (not) supported".
 */
export function parseCriuCheckOutput(
  exitCode: number | null,
  output: string,
): Pick<CriuCheckReport, 'ok' | 'summary' | 'warnings' | 'errors'> {
  const lines = output
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '');
  const errors = lines.filter((l) => /^Error\b/.test(l.trim()));
  const warnings = lines.filter((l) => /^Warn\b/.test(l.trim()));
  const verdict =
    lines.find((l) => /^Looks good/.test(l.trim())) ??
    lines.find((l) => /\bis (not )?supported\b/.test(l)) ??
    errors[errors.length - 1] ??
    lines[lines.length - 1] ??
    (exitCode === 0 ? 'criu check passed' : 'criu check failed with no output');
  return { ok: exitCode === 0, summary: verdict.trim(), warnings, errors };
}

/**
 * The environment every CRIU that ferry starts runs with. CRIU stops the code it injects into a
 * target on a hardware breakpoint; some hypervisors (Firecracker on AMD EPYC, where ferry's CI
 * runs) never deliver that trap to the guest, and CRIU then waits forever with the target
 * seized. CRIU_FAULT=130 is CRIU's own switch (FI_NO_BREAKPOINTS, one of its non-fatal "behaviour"
 * codes) for stopping on the injected code's sigreturn syscall instead, which works on every
 * machine at the cost of a few syscall stops. A CRIU_FAULT the user set wins.
 *
 * Nothing else of the worker's environment goes along: it holds S3 credentials and the encryption
 * key, which CRIU does not need and whose copies in its /proc/<pid>/environ and in any tool it
 * runs (action scripts, iptables) would only widen who can read them. CRIU gets the search path,
 * the locale and temporary directory settings, and its own CRIU_* variables.
 */
export function criuEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const kept: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && (CRIU_ENV_KEPT.has(name) || name.startsWith('CRIU_') || name.startsWith('LC_'))) kept[name] = value;
  }
  kept.CRIU_FAULT ??= String(CRIU_NO_BREAKPOINTS);
  return kept;
}

const CRIU_ENV_KEPT = new Set(['PATH', 'LANG', 'TMPDIR', 'HOME']);

const CRIU_NO_BREAKPOINTS = 130;

interface RunResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  error?: NodeJS.ErrnoException & { killed?: boolean };
}

function run(file: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, encoding: 'utf8', env: criuEnvironment() }, (error, stdout, stderr) => {
      const err = error as (NodeJS.ErrnoException & { killed?: boolean; code?: unknown }) | null;
      const exitCode = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ exitCode, stdout, stderr, ...(err ? { error: err } : {}) });
    });
  });
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) return false;
    await fs.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves a binary name or path the way a shell would: a value with a slash is a path,
 * anything else is looked up on PATH. Throws CriuNotFoundError.
 */
export async function locateCriu(binary: string, env: Record<string, string | undefined> = process.env): Promise<string> {
  if (binary.includes('/')) {
    const abs = path.resolve(binary);
    if (await isExecutableFile(abs)) return abs;
    throw new CriuNotFoundError(binary);
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, binary);
    if (await isExecutableFile(candidate)) return candidate;
  }
  throw new CriuNotFoundError(binary);
}

/** Reads the version of the CRIU at an absolute path. Throws CriuVersionError. */
export async function readCriuVersion(binaryPath: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
  const res = await run(binaryPath, ['--version'], timeoutMs);
  const version = res.exitCode === 0 ? parseCriuVersion(res.stdout + '\n' + res.stderr) : null;
  if (version === null) throw new CriuVersionError(binaryPath, null, { cause: res.error });
  return version;
}

/** Locates CRIU and checks that it is recent enough. Throws CriuNotFoundError / CriuVersionError. */
export async function resolveCriu(
  binary: string,
  env: Record<string, string | undefined> = process.env,
): Promise<CriuBinary> {
  const binaryPath = await locateCriu(binary, env);
  const version = await readCriuVersion(binaryPath);
  if (compareVersions(version, MIN_CRIU_VERSION) < 0) throw new CriuVersionError(binaryPath, version);
  return { path: binaryPath, version };
}

/**
 * Runs `criu check` (or `criu check --feature <name>`) and reports its verdict. A failing check
 * is a result (ok: false), not an exception: callers decide whether it is fatal. Throws only when
 * the binary is missing or too old, or the check cannot be run at all.
 */
export async function runCriuCheck(
  binary: string,
  options: { feature?: string; timeoutMs?: number; env?: Record<string, string | undefined> } = {},
): Promise<CriuCheckReport> {
  if (options.feature !== undefined && !/^[a-z0-9_]+$/.test(options.feature)) {
    throw new CriuCheckError(binary, `feature name ${JSON.stringify(options.feature)} is not a CRIU feature name`);
  }
  const resolved = await resolveCriu(binary, options.env);
  const args = options.feature === undefined ? ['check'] : ['check', '--feature', options.feature];
  const res = await run(resolved.path, args, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  if (res.exitCode === null) {
    const reason = res.error?.killed
      ? `it did not finish within ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`
      : (res.error?.message ?? 'it was killed by a signal');
    throw new CriuCheckError(resolved.path, reason, { cause: res.error });
  }
  // CRIU writes its log (verdict included) to stderr and feature answers to stdout.
  const parsed = parseCriuCheckOutput(res.exitCode, `${res.stdout}\n${res.stderr}`);
  return { binary: resolved, exitCode: res.exitCode, ...parsed, ...(options.feature ? { feature: options.feature } : {}) };
}
