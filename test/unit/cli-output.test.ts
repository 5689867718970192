/** Text output for people: durations read as a person would say them (exact ms stay in --json). */
import { formatDuration } from '../../src/cli/output';

describe('formatDuration', () => {
  test.each([
    [0.25, '0.3 ms'],
    [9.94, '9.9 ms'],
    [12.4, '12 ms'],
    [999.4, '999 ms'],
    [999.6, '1.0 s'],
    [52400, '52.4 s'],
    [59949, '59.9 s'],
    [59950, '1 min 0 s'],
    [125_000, '2 min 5 s'],
    [3_600_000, '1 h 0 min'],
    [Number.NaN, '-'],
  ])('%p ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
