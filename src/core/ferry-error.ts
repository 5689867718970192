/**
 * The failure model shared by every layer, workflows included: one base class whose subclasses
 * declare, once, their stable kind and whether a retry can help. Everything else (the failure
 * `type` Temporal carries, the non-retryable lists, the CLI's wording) is derived from that.
 *
 * Kinds are kebab-case (`no-such-process`); the failure type callers branch on is the same in
 * PascalCase (`NoSuchProcess`). Both are public API: they live in workflow histories and scripts.
 */

export interface FerryErrorOptions {
  cause?: unknown;
}

/** What a subclass declares about itself (statics, so tables can be derived without an instance). */
export interface FerryErrorClass {
  readonly name: string;
  readonly kind: string;
  readonly retryable: boolean;
  readonly prototype: FerryError;
}

export abstract class FerryError extends Error {
  /** Stable kebab-case kind; every concrete subclass sets it. */
  static readonly kind: string;
  /** Whether retrying the same request can succeed without a person changing something. */
  static readonly retryable: boolean = false;

  constructor(message: string, options?: FerryErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    // The class name is the error's name: declared once, and it survives serialisation
    // (Temporal failures and JSON keep `name`), which is what the guards fall back on.
    this.name = new.target.name;
  }

  get kind(): string {
    return (this.constructor as typeof FerryError).kind;
  }

  get retryable(): boolean {
    return (this.constructor as typeof FerryError).retryable;
  }
}

/**
 * The base a concrete error class extends, declaring its kind and whether a retry can help in its
 * first line: `class NoSuchProcessError extends failureKind('no-such-process', { retryable: false })`.
 */
export function failureKind<K extends string>(kind: K, declared: { retryable: boolean }) {
  abstract class Kind extends FerryError {
    static override readonly kind: K = kind;
    static override readonly retryable: boolean = declared.retryable;
  }
  return Kind;
}

/** The ApplicationFailure `type` of a kind: `no-such-process` -> `NoSuchProcess`. */
export function failureTypeOf(kind: string): string {
  return kind
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

function nameOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { name?: unknown }).name : undefined;
}

/**
 * The one guard. `isError(err, NoSuchProcessError)` is true for an instance, and for an error of
 * that name from another module registry (Jest) or after serialisation, where instanceof fails.
 * `isError(err)` is true for any FerryError.
 */
export function isError<C extends FerryErrorClass>(err: unknown, cls: C): err is C['prototype'];
export function isError(err: unknown): err is FerryError;
export function isError(err: unknown, cls?: FerryErrorClass): boolean {
  if (cls === undefined) {
    return (
      err instanceof FerryError ||
      (typeof nameOf(err) === 'string' &&
        typeof (err as { kind?: unknown }).kind === 'string' &&
        typeof (err as { retryable?: unknown }).retryable === 'boolean')
    );
  }
  return err instanceof (cls as unknown as abstract new (...args: never[]) => FerryError) || nameOf(err) === cls.name;
}

/** An error followed by its causes, outermost first (bounded: causes can form a cycle). */
export function causeChain(err: unknown, maxDepth = 8): unknown[] {
  const chain: unknown[] = [];
  let cur: unknown = err;
  while (cur !== undefined && cur !== null && chain.length < maxDepth && !chain.includes(cur)) {
    chain.push(cur);
    cur = typeof cur === 'object' ? (cur as { cause?: unknown }).cause : undefined;
  }
  return chain;
}

/** The message of the innermost cause that has one: what actually went wrong. */
export function innermostMessage(err: unknown): string {
  let msg = err instanceof Error ? err.message : String(err);
  for (const e of causeChain(err)) {
    if (!(e instanceof Error)) break;
    if (e.message) msg = e.message;
  }
  return msg;
}
