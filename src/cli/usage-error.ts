/** A command-line mistake: reported with the command's usage hint, exit code 2, nothing attempted. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function isUsageError(err: unknown): err is UsageError {
  return err instanceof UsageError || (err as { name?: unknown })?.name === 'UsageError';
}
