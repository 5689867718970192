/**
 * /proc parsing and the error kinds of src/criu/process.ts. Identity and target checks on real
 * processes are in test/integration/criu-process.test.ts.
 */
import { criuErrorKind, isNoSuchProcessError, NoSuchProcessError, PERMANENT_CRIU_ERROR_KINDS } from '../../src/criu/errors';
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
    expect(criuErrorKind(err)).toBe('no-such-process');
    expect(criuErrorKind(JSON.parse(JSON.stringify({ name: err.name, message: err.message })))).toBe('no-such-process');
    expect(isNoSuchProcessError({ name: 'NoSuchProcessError' })).toBe(true);
    expect(criuErrorKind(new Error('x'))).toBeNull();
    expect(criuErrorKind('NoSuchProcessError')).toBeNull();
    expect(PERMANENT_CRIU_ERROR_KINDS.has('refused-target')).toBe(true);
    expect(PERMANENT_CRIU_ERROR_KINDS.has('criu-failed')).toBe(false);
  });
});
