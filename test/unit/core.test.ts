/**
 * src/core: one rule per concept, and the failure model every table is derived from.
 */
import { parseCheckpointId } from '../../src/cli/id-args';
import {
  CHECKPOINT_ID_RULE,
  CheckpointNotFound,
  ChecksumMismatch,
  CriuFailedError,
  FAILURE_CATALOGUE,
  FAILURE_TYPES,
  InvalidInput,
  NoSuchProcessError,
  PERMANENT_FAILURE_TYPES,
  StorageUnreachable,
  catalogued,
  causeChain,
  checkCheckpointId,
  errorKind,
  failureTypeOf,
  innermostMessage,
  isError,
  isValidCheckpointId,
  newCheckpointId,
} from '../../src/core';
import { KeyLayout, isValidCheckpointId as storeAccepts } from '../../src/storage/keys';

describe('checkpoint ids', () => {
  test.each(['Web1', 'web-1', 'nightly-2026.11.26', 'A'])('%s is accepted by the CLI, the workflows and the layer store alike', (id) => {
    expect(isValidCheckpointId(id)).toBe(true);
    expect(checkCheckpointId(id)).toBeNull();
    expect(parseCheckpointId(id)).toBe(id);
    expect(storeAccepts(id)).toBe(true);
    const keys = new KeyLayout('ferry');
    expect(keys.checkpointIdOf(keys.manifest(id))).toBe(id);
  });

  test.each(['', 'bad id!', '../x', '.hidden', 'a/b', 'x'.repeat(129)])('%j is refused everywhere with the same rule', (id) => {
    expect(isValidCheckpointId(id)).toBe(false);
    expect(checkCheckpointId(id)).toContain(CHECKPOINT_ID_RULE);
    expect(() => parseCheckpointId(id)).toThrow(CHECKPOINT_ID_RULE);
    expect(storeAccepts(id)).toBe(false);
  });

  test('a generated id is valid and carries the host slug and the pid', () => {
    const id = newCheckpointId('Node_A.example', 4242, '0f1e2d3c-aaaa-bbbb-cccc-000000000000');
    expect(id).toBe('node-a.example-4242-0f1e2d3c');
    expect(isValidCheckpointId(id)).toBe(true);
  });
});

describe('the failure model', () => {
  test('each class declares its kind and retryability; the failure type is the kind in PascalCase', () => {
    const err = new NoSuchProcessError(1234);
    expect(err.name).toBe('NoSuchProcessError');
    expect(err.kind).toBe('no-such-process');
    expect(err.retryable).toBe(false);
    expect(failureTypeOf(err.kind)).toBe('NoSuchProcess');
    expect(new StorageUnreachable('http://x', 'ECONNREFUSED').retryable).toBe(true);
  });

  test('one guard: by class, by name after serialisation, and for any ferry error', () => {
    const err = new CheckpointNotFound('c1', 'ferry/checkpoints/c1/manifest.json');
    const copied = JSON.parse(JSON.stringify({ name: err.name, message: err.message }));
    expect(isError(err, CheckpointNotFound)).toBe(true);
    expect(isError(copied, CheckpointNotFound)).toBe(true);
    expect(isError(err, ChecksumMismatch)).toBe(false);
    expect(isError(err)).toBe(true);
    expect(isError(new Error('plain'))).toBe(false);
    expect(isError(null, CheckpointNotFound)).toBe(false);
  });

  test('the catalogue has one class per name and per kind, and every table follows from it', () => {
    const names = FAILURE_CATALOGUE.map((c) => c.name);
    const kinds = FAILURE_CATALOGUE.map((c) => c.kind);
    expect(new Set(names).size).toBe(names.length);
    expect(new Set(kinds).size).toBe(kinds.length);
    for (const cls of FAILURE_CATALOGUE) {
      expect(PERMANENT_FAILURE_TYPES.includes(failureTypeOf(cls.kind))).toBe(!cls.retryable);
    }
    expect(FAILURE_TYPES.noSuchProcess).toBe('NoSuchProcess');
    expect(FAILURE_TYPES.invalidInput).toBe('InvalidInput');
    expect(catalogued({ name: 'CriuFailedError' })).toBe(CriuFailedError);
    expect(errorKind(new InvalidInput('x'))).toBe('invalid-input');
    expect(errorKind(new Error('x'))).toBeNull();
  });

  test('one cause walker: outermost first, bounded on cycles', () => {
    const inner = new Error('disk full');
    const outer = new Error('upload failed', { cause: inner });
    expect(causeChain(outer)).toEqual([outer, inner]);
    expect(innermostMessage(outer)).toBe('disk full');
    const a: { cause?: unknown } = {};
    const b = { cause: a };
    a.cause = b;
    expect(causeChain(a)).toHaveLength(2);
  });
});
