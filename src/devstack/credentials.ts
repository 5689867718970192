/**
 * The dev MinIO's root credentials: generated randomly on the first `ferry dev up`, kept in a
 * 0600 file under the dev dir, handed to MinIO through its environment only, and published to
 * S3 clients as an AWS shared-credentials file (profile ferry-dev), so that ferry and any other
 * tool get them through the AWS provider chain. They are never printed or logged.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DevStackStateError } from './errors';
import { parseStateJson } from './state';

export interface DevCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export function generateCredentials(): DevCredentials {
  return {
    // MinIO wants >= 3 characters for the user and >= 8 for the password.
    accessKeyId: `ferry${randomBytes(6).toString('hex')}`,
    secretAccessKey: randomBytes(24).toString('base64url'),
  };
}

/** Writes a file readable by its owner only, atomically (a reader never sees half of it). */
export async function writePrivateFile(file: string, content: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, content, { mode: 0o600 });
  await fs.chmod(tmp, 0o600);
  await fs.rename(tmp, file);
}

/** Loads the stack's root credentials, creating them on first use. */
export async function loadOrCreateCredentials(file: string): Promise<{ credentials: DevCredentials; created: boolean }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const credentials = generateCredentials();
    await writePrivateFile(file, JSON.stringify(credentials) + '\n');
    return { credentials, created: true };
  }
  const c = parseStateJson<DevCredentials>(file, text);
  if (typeof c.accessKeyId !== 'string' || typeof c.secretAccessKey !== 'string' || c.accessKeyId.length < 3 || c.secretAccessKey.length < 8) {
    throw new DevStackStateError(file, 'does not hold accessKeyId/secretAccessKey');
  }
  // Tighten permissions in case something loosened them.
  await fs.chmod(file, 0o600);
  return { credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey }, created: false };
}

/** The AWS shared-credentials file content for one profile. */
export function formatSharedCredentials(profile: string, credentials: DevCredentials): string {
  return `[${profile}]\naws_access_key_id = ${credentials.accessKeyId}\naws_secret_access_key = ${credentials.secretAccessKey}\n`;
}

export async function writeSharedCredentialsFile(file: string, profile: string, credentials: DevCredentials): Promise<void> {
  await writePrivateFile(file, formatSharedCredentials(profile, credentials));
}

/** Replaces every occurrence of the secrets in text (used on log excerpts before showing them). */
export function redactSecrets(text: string, credentials: DevCredentials | null): string {
  if (!credentials) return text;
  return text.split(credentials.secretAccessKey).join('<redacted>').split(credentials.accessKeyId).join('<redacted>');
}
