import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * ID_SIGNING_SECRET when set; otherwise (embedded default only) a secret generated once and
 * kept in DATA_DIR, so ids stay valid across restarts without any setup.
 */
export function resolveSigningSecret(configured: string | null, dataDir: string): string {
  if (configured) {
    return configured;
  }
  const path = join(dataDir, 'id-signing-secret');
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw error;
    }
  }
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return secret;
}
