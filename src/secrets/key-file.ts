// Secrets the gateway generates for itself (URL signing, webhook signing, the key that encrypts
// upstream API keys) live in small files beside the data, created 0600 by whichever process gets
// there first; the others read what it wrote.

import { readFile, writeFile } from 'node:fs/promises';

/** Reads the secret in `file`, creating it with `generate()` (mode 0600, never overwriting) when absent. */
export async function readOrCreateKeyFile(file: string, generate: () => string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    // `wx`: two processes starting together agree on the first file written.
    await writeFile(file, generate(), { mode: 0o600, flag: 'wx' }).catch(() => undefined);
    return (await readFile(file, 'utf8')).trim();
  }
}
