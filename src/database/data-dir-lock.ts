import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * PGlite does not lock its data directory: a second process opens it without error and its
 * writes are silently lost. So we hold a lock file with our pid, and refuse to start while
 * another live process holds it. A lock left by a dead process is taken over.
 */
export class DataDirLock {
  private constructor(private readonly path: string) {}

  static acquire(dataDir: string): DataDirLock {
    mkdirSync(dataDir, { recursive: true });
    const path = join(dataDir, 'gateway.lock');
    for (let attempt = 0; attempt < 2; attempt++) {
      if (tryCreate(path)) {
        return new DataDirLock(path);
      }
      const holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
        throw new Error(
          `Another gateway process (pid ${holder}) is using the embedded database in ${dataDir}. ` +
            'Stop it, or give this one its own DATA_DIR, or set DATABASE_URL to share a PostgreSQL server.',
        );
      }
      // Left by a process that is gone: take it over.
      rmSync(path, { force: true });
    }
    throw new Error(`Could not lock ${path}`);
  }

  release(): void {
    rmSync(this.path, { force: true });
  }
}

/** Creates the lock file with our pid; false when it already exists. */
function tryCreate(path: string): boolean {
  try {
    const fd = openSync(path, 'wx', 0o600);
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      return false;
    }
    throw new Error(`Could not create the lock file ${path}`, { cause: error });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else — still alive.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
