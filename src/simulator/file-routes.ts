import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { discardPath, type FileStore } from './file-store';
import { badRequest, notFound, SimHttpError } from './http-errors';
import { nowSeconds, parseAfter, parseLimit, sendJson } from './http-io';
import { newFileId } from './ids';
import { receiveMultipart } from './multipart';
import type { Dialect, StoredFile } from './types';

/** Upload purposes OpenAI accepts (reference §1); the simulator holds Azure to the same list. */
/** Upload purposes by dialect: Azure's dated API (2024-10-21) has none of OpenAI's newer ones. */
const PURPOSES: Readonly<Record<Dialect, ReadonlySet<string>>> = {
  openai: new Set(['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals']),
  azure: new Set(['assistants', 'batch', 'fine-tune']),
};
const MAX_EXPIRY_SECONDS = 2_592_000;
/** Azure requires an expiry of 14–30 days; OpenAI allows 1 hour–30 days (reference §1, §7). */
const MIN_EXPIRY_SECONDS: Readonly<Record<Dialect, number>> = { openai: 3600, azure: 1_209_600 };
/** OpenAI: "files with purpose=batch expire after 30 days" unless told otherwise. */
const DEFAULT_BATCH_EXPIRY_SECONDS = 2_592_000;

export interface FileRoutesDeps {
  dialect: Dialect;
  store: FileStore;
  discardContent: boolean;
  /** With discardContent: count the uploaded bytes without hashing them. */
  countOnly: boolean;
  /** Brings batches/jobs up to date so their output files show in listings. */
  refreshGenerated: () => Promise<void>;
}

/** The five Files routes of both dialects. */
export class FileRoutes {
  constructor(private readonly deps: FileRoutesDeps) {}

  async create(req: IncomingMessage, body: Readable, res: ServerResponse): Promise<void> {
    const { dialect, store, discardContent, countOnly } = this.deps;
    const id = newFileId(dialect);
    const contentPath = discardContent ? null : store.pathFor(id);
    const form = await receiveMultipart(body, req.headers, contentPath, !countOnly);
    let file: StoredFile;
    try {
      if (!form.file) throw badRequest("Missing required parameter: 'file'.", 'file');
      if (form.file.filename === '') throw badRequest('The file part has no filename.', 'file');
      const purpose = form.fields.get('purpose');
      if (purpose === undefined || purpose === '') {
        throw badRequest("Missing required parameter: 'purpose'.", 'purpose');
      }
      const purposes = PURPOSES[dialect];
      if (!purposes.has(purpose)) {
        throw badRequest(
          `Invalid value for 'purpose': '${purpose}'. Expected one of ${[...purposes].join(', ')}.`,
          'purpose',
        );
      }
      const createdAt = nowSeconds();
      const expirySeconds = this.expirySeconds(form.fields, purpose);
      file = {
        id,
        filename: form.file.filename,
        purpose,
        bytes: form.file.bytes,
        createdAt,
        expiresAt: expirySeconds === null ? null : createdAt + expirySeconds,
        sha256: form.file.sha256,
        contentPath,
      };
    } catch (error: unknown) {
      if (contentPath !== null) discardPath(contentPath);
      throw error;
    }
    store.add(file);
    if (dialect === 'azure') {
      // Azure's dated API answers 201 with a Location and a file still 'pending' (reference §7).
      const query = new URL(req.url ?? '/', 'http://sim').search;
      sendJson(res, 201, fileObject(file, 'pending'), {
        location: `/openai/files/${file.id}${query}`,
      });
      return;
    }
    sendJson(res, 200, fileObject(file, 'processed'));
  }

  async list(url: URL, res: ServerResponse): Promise<void> {
    const query = url.searchParams;
    const limit = parseLimit(query, 10_000, 10_000);
    const order = query.get('order') ?? 'desc';
    if (order !== 'asc' && order !== 'desc') {
      throw badRequest("Invalid 'order': expected 'asc' or 'desc'.", 'order');
    }
    const purpose = query.get('purpose');
    await this.deps.refreshGenerated();
    const page = this.deps.store.list({
      purpose: purpose === null || purpose === '' ? undefined : purpose,
      limit,
      order,
      after: parseAfter(query),
    });
    sendJson(res, 200, {
      object: 'list',
      data: page.data.map((file) => fileObject(file, 'processed')),
      first_id: page.data[0]?.id ?? null,
      last_id: page.data.at(-1)?.id ?? null,
      has_more: page.hasMore,
    });
  }

  retrieve(id: string, res: ServerResponse): void {
    sendJson(res, 200, fileObject(this.require(id), 'processed'));
  }

  /**
   * Streams the content. `partial` (a 'mid-body' fault) sends the headers with the full length,
   * then half the bytes, then drops the socket — what a download cut off mid-way looks like.
   */
  async content(id: string, res: ServerResponse, partial: boolean): Promise<void> {
    const file = this.require(id);
    if (file.contentPath === null) {
      throw new SimHttpError(404, `File ${id}: content not retained`, 'id', null, 'notFound');
    }
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(file.bytes),
      'content-disposition': `attachment; filename="${encodeURIComponent(file.filename)}"`,
    });
    if (!partial) {
      await pipeline(createReadStream(file.contentPath), res);
      return;
    }
    const half = Math.floor(file.bytes / 2);
    if (half > 0) {
      for await (const chunk of createReadStream(file.contentPath, { start: 0, end: half - 1 })) {
        await writeFlushed(res, chunk as Buffer);
      }
    } else {
      res.flushHeaders();
      await writeFlushed(res, Buffer.alloc(0));
    }
    res.socket?.destroy();
  }

  delete(id: string, res: ServerResponse): void {
    this.require(id);
    this.deps.store.delete(id);
    sendJson(res, 200, { id, object: 'file', deleted: true });
  }

  private require(id: string): StoredFile {
    const file = this.deps.store.get(id);
    if (!file) throw notFound('File', id);
    return file;
  }

  /**
   * The expiry in seconds from `expires_after[anchor|seconds]` (what the OpenAI SDK sends) or
   * `expires_after.anchor|seconds` (what Azure's docs send); null when the file never expires.
   */
  private expirySeconds(fields: Map<string, string>, purpose: string): number | null {
    const { dialect } = this.deps;
    const anchor = fields.get('expires_after[anchor]') ?? fields.get('expires_after.anchor');
    const secondsText = fields.get('expires_after[seconds]') ?? fields.get('expires_after.seconds');
    if (anchor === undefined && secondsText === undefined) {
      if (dialect === 'azure') {
        throw badRequest(
          "Missing required parameter: 'expires_after' (expires_after.anchor, expires_after.seconds).",
          'expires_after',
        );
      }
      return purpose === 'batch' ? DEFAULT_BATCH_EXPIRY_SECONDS : null;
    }
    if (anchor !== 'created_at') {
      throw badRequest("Invalid 'expires_after.anchor': expected 'created_at'.", 'expires_after');
    }
    const seconds = Number(secondsText);
    const min = MIN_EXPIRY_SECONDS[dialect];
    if (!Number.isInteger(seconds) || seconds < min || seconds > MAX_EXPIRY_SECONDS) {
      throw badRequest(
        `Invalid 'expires_after.seconds': expected an integer between ${String(min)} and ${String(MAX_EXPIRY_SECONDS)}.`,
        'expires_after',
      );
    }
    return seconds;
  }
}

/** The OpenAI file object (Azure's dated API returns the same fields). */
export function fileObject(file: StoredFile, status: string): Record<string, unknown> {
  return {
    id: file.id,
    object: 'file',
    bytes: file.bytes,
    created_at: file.createdAt,
    filename: file.filename,
    purpose: file.purpose,
    status,
    status_details: null,
    // The spec types expires_at as an optional integer, so it is left out rather than null.
    ...(file.expiresAt !== null ? { expires_at: file.expiresAt } : {}),
  };
}

function writeFlushed(res: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    res.write(chunk, (error) => {
      if (error) reject(error);
      else resolve();
    });
  });
}
