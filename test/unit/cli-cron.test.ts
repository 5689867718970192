/** `ferry schedule create --cron` is checked before Temporal sees it: a typo is a usage error naming the field. */
import { validateCron } from '../../src/cli/schedule-commands';
import { quoted } from '../../src/cli/output';

describe('validateCron', () => {
  test.each(['0 2 * * *', '*/15 0-6 1,15 JAN-MAR MON-FRI', '30 4 ? * SUN', '0 0 0 1 1 ? 2030', '@daily', '@HOURLY', '@every 12h', '5 4 L * *'])('accepts %s', (cron) => {
    expect(validateCron(cron)).toBe(cron.trim());
  });

  test.each([
    ['99 99 * * *', /minute "99" is out of range \(0-59\)/],
    ['0 24 * * *', /hour "24" is out of range \(0-23\)/],
    ['0 2 0 * *', /day of month "0" is out of range \(1-31\)/],
    ['0 2 * 13 *', /month "13" is out of range \(1-12\)/],
    ['0 2 * * FOO', /weekday "FOO" is out of range/],
    ['0 2 * * 8', /weekday "8" is out of range \(0-7\)/],
    ['*/0 2 * * *', /step "0" of the minute is invalid/],
    ['0 5-2 * * *', /hour range "5-2" is invalid \(it runs backwards\)/],
    ['@nonsense', /is not a known macro/],
    ['@every soon', /is not a known macro/],
    ['every night', /--cron must be a cron expression/],
    ['', /--cron must be a cron expression/],
    ['1 2 3 4', /--cron must be a cron expression/],
    ['CRON_TZ=Europe/Paris 0 2 * * *', /give the time zone with --time-zone Europe\/Paris instead of CRON_TZ= in the expression/],
    ['TZ=UTC 0 2 * * *', /--time-zone UTC instead of TZ=/],
  ])('refuses %j', (cron, message) => {
    expect(() => validateCron(cron)).toThrow(message);
  });

  test('a huge expression is quoted by its start and length, not echoed whole', () => {
    const huge = '1 '.repeat(60000);
    let message = '';
    try {
      validateCron(huge);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/\(120000 characters\)/);
    expect(message.length).toBeLessThan(400);
  });

  test('quoted keeps short values whole', () => {
    expect(quoted('abc')).toBe('"abc"');
    expect(quoted('x'.repeat(50))).toBe(`"${'x'.repeat(40)}"... (50 characters)`);
  });
});
