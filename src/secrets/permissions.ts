// The data dir holds the database (API key hashes, upstream keys, balances), stored images and the
// gateway's own secrets: it is made 0700 and the database files 0600, whatever the umask, so
// another account on the machine can read none of it.

import { chmod, mkdir, open } from 'node:fs/promises';

/** Creates the data dir (0700) or narrows an existing one to 0700. */
export async function secureDataDir(directory: string): Promise<void> {
  await mkdir(directory, { recursive: true, mode: 0o700 });
  await chmod(directory, 0o700);
}

/**
 * Creates the SQLite file 0600 before SQLite opens it — SQLite gives its -wal and -shm files the
 * main file's mode — and narrows files left by an older version to 0600.
 */
export async function secureDatabaseFiles(file: string): Promise<void> {
  const handle = await open(file, 'a', 0o600);
  await handle.close();
  for (const path of [file, `${file}-wal`, `${file}-shm`]) {
    await chmod(path, 0o600).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
}
