import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, TimeoutFailure } from '@temporalio/common';
import { asHostUnavailable, failureType, innermostMessage } from '../../src/workflows/failures';

describe('workflow failure helpers', () => {
  test('a schedule-to-start timeout of the first host step becomes HostUnavailable naming the queue', () => {
    const err = new ActivityFailure('timed out', 'checkHost', '1', 'TIMEOUT', 'w', new TimeoutFailure(undefined, undefined, 'SCHEDULE_TO_START'));
    const mapped = asHostUnavailable(err, 'ferry', 'node-b') as ApplicationFailure;
    expect(mapped.type).toBe('HostUnavailable');
    expect(mapped.nonRetryable).toBe(true);
    expect(mapped.message).toContain('ferry-host-node-b');
    expect(mapped.message).toContain('ferry worker --host node-b');
  });

  test('other failures pass through unchanged', () => {
    const err = new ActivityFailure('x', 'checkHost', '1', 'TIMEOUT', 'w', new TimeoutFailure(undefined, undefined, 'START_TO_CLOSE'));
    expect(asHostUnavailable(err, 'ferry', 'a')).toBe(err);
  });

  test('failureType finds the ApplicationFailure type through activity and child failures', () => {
    const app = ApplicationFailure.create({ type: 'NoSuchProcess', message: 'no process with pid 5' });
    const act = new ActivityFailure('a', 'identifyProcess', '2', 'NON_RETRYABLE_FAILURE', 'w', app);
    const child = new ChildWorkflowFailure('default', { workflowId: 'c' }, 'checkpoint', 'NON_RETRYABLE_FAILURE', act);
    expect(failureType(child)).toBe('NoSuchProcess');
    expect(innermostMessage(child)).toBe('no process with pid 5');
    expect(failureType(new Error('plain'))).toBeNull();
  });
});
