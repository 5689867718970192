/**
 * /proc parsing and the error kinds of src/criu/process.ts. Identity and target checks on real
 * processes are in test/integration/criu-process.test.ts.
 */
import { CriuFailedError, NoSuchProcessError, PERMANENT_FAILURE_TYPES, RefusedTargetError, errorKind, isError } from '../../src/core';
import { parseProcStat } from '../../src/criu/process';

describe('/proc parsing', () => {
  it('parses a stat line whose command holds spaces and parentheses', () => {
    const line = '4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10';
    expect(parseProcStat(line)).toEqual({ pid: 4242, comm: 'my (odd) prog', state: 'S', ppid: 1, flags: 4194560, startTime: 98765 });
  });

  it('rejects a malformed line', () => {
    expect(() => parseProcStat('garbage')).toThrow(/unexpected \/proc stat format/);
  });
});

describe('error kinds', () => {
  it('maps errors to stable kinds, also after serialisation', () => {
    const err = new NoSuchProcessError(12);
    expect(errorKind(err)).toBe('no-such-process');
    expect(errorKind(JSON.parse(JSON.stringify({ name: err.name, message: err.message })))).toBe('no-such-process');
    expect(isError({ name: 'NoSuchProcessError' }, NoSuchProcessError)).toBe(true);
    expect(errorKind(new Error('x'))).toBeNull();
    expect(errorKind('NoSuchProcessError')).toBeNull();
    expect(RefusedTargetError.retryable).toBe(false);
    expect(CriuFailedError.retryable).toBe(true);
    expect(PERMANENT_FAILURE_TYPES).toContain('RefusedTarget');
    expect(PERMANENT_FAILURE_TYPES).not.toContain('CriuFailed');
  });
});
