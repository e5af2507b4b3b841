import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nowSeconds } from './http-io';
import type { StoredFile } from './types';

export interface ListQuery {
  purpose?: string;
  limit: number;
  order: 'asc' | 'desc';
  after?: string;
}

export interface ListPage<T> {
  data: T[];
  hasMore: boolean;
}

/**
 * The simulator's file objects and where their bytes live: one temp directory per simulator,
 * removed on close, so parallel simulators (e2e runs) never see each other's content.
 */
export class FileStore {
  /** Map iteration order is insertion order, which is creation order: listing relies on it. */
  readonly files = new Map<string, StoredFile>();

  private constructor(
    readonly dir: string,
    /** A kept directory (the demo's): the file index is saved there and loaded at start. */
    private readonly persistent: boolean,
  ) {}

  static async create(persistDir?: string): Promise<FileStore> {
    if (persistDir) {
      await mkdir(persistDir, { recursive: true });
      const store = new FileStore(persistDir, true);
      store.load();
      return store;
    }
    const dir = await mkdtemp(join(tmpdir(), 'mfg-sim-'));
    trackDir(dir);
    return new FileStore(dir, false);
  }

  private get indexPath(): string {
    return join(this.dir, 'index.json');
  }

  private load(): void {
    try {
      const saved = JSON.parse(readFileSync(this.indexPath, 'utf8')) as StoredFile[];
      for (const file of saved) this.files.set(file.id, file);
    } catch {
      // No index yet (first start), or an unreadable one: start empty.
    }
  }

  /** Small and demo-only, so written whole and synchronously on every change. */
  private save(): void {
    if (this.persistent) writeFileSync(this.indexPath, JSON.stringify([...this.files.values()]));
  }

  /** Where an upload with this id writes its content (the id is safe as a file name). */
  pathFor(id: string): string {
    return join(this.dir, id);
  }

  add(file: StoredFile): void {
    this.files.set(file.id, file);
    this.save();
  }

  get(id: string): StoredFile | undefined {
    return this.files.get(id);
  }

  delete(id: string): StoredFile | undefined {
    const file = this.files.get(id);
    if (!file) return undefined;
    this.files.delete(id);
    this.save();
    if (file.contentPath) discardPath(file.contentPath);
    return file;
  }

  /** Stores content the simulator produced itself (batch output, fine-tuning results). */
  async addGenerated(
    id: string,
    filename: string,
    purpose: string,
    content: string,
  ): Promise<StoredFile> {
    const data = Buffer.from(content, 'utf8');
    const contentPath = this.pathFor(id);
    await writeFile(contentPath, data);
    const file: StoredFile = {
      id,
      filename,
      purpose,
      bytes: data.length,
      createdAt: nowSeconds(),
      expiresAt: null,
      sha256: createHash('sha256').update(data).digest('hex'),
      contentPath,
    };
    this.add(file);
    return file;
  }

  /** Cursor pagination as OpenAI does it: `after` is the id of the last item already seen. */
  list(query: ListQuery): ListPage<StoredFile> {
    let items = [...this.files.values()];
    if (query.purpose !== undefined) items = items.filter((f) => f.purpose === query.purpose);
    if (query.order === 'desc') items.reverse();
    if (query.after !== undefined) {
      const index = items.findIndex((f) => f.id === query.after);
      items = index >= 0 ? items.slice(index + 1) : [];
    }
    return { data: items.slice(0, query.limit), hasMore: items.length > query.limit };
  }

  clear(): void {
    for (const id of [...this.files.keys()]) this.delete(id);
  }

  async close(): Promise<void> {
    this.files.clear();
    if (this.persistent) return;
    // Retries cover uploads whose write streams are still closing when the sockets were cut.
    await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
    openDirs.delete(this.dir);
  }
}

/** Best-effort removal: the file may already be gone (reset racing a delete) and that is fine. */
export function discardPath(path: string): void {
  unlink(path).catch(() => undefined);
}

/**
 * Temp directories of simulators not closed yet. A process that exits without closing them (a
 * demo stopped by process.exit, a test that forgot close) still removes them on the way out;
 * one shared listener, so many simulators do not trip the max-listeners warning.
 */
const openDirs = new Set<string>();
let exitHookInstalled = false;

function trackDir(dir: string): void {
  if (!exitHookInstalled) {
    process.once('exit', removeOpenDirs);
    exitHookInstalled = true;
  }
  openDirs.add(dir);
}

function removeOpenDirs(): void {
  for (const dir of openDirs) rmSync(dir, { recursive: true, force: true });
  openDirs.clear();
}
