import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { badRequest, SimHttpError } from './http-errors';

/** JSON bodies (chat, batch create…) are small; anything bigger is a client bug, not a payload. */
const MAX_JSON_BYTES = 64 * 1024 * 1024;

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

/** Reads a JSON object body. Empty bodies count as `{}` because cancel POSTs send none. */
export async function readJsonObject(body: Readable): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buf.length;
    if (size > MAX_JSON_BYTES) {
      throw new SimHttpError(413, 'Request body too large', null, null, 'payloadTooLarge');
    }
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw badRequest('We could not parse the JSON body of your request.');
  }
  if (!isRecord(parsed)) throw badRequest('The request body must be a JSON object.');
  return parsed;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function optionalString(obj: Record<string, unknown>, key: string): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw badRequest(`'${key}' must be a string`, key);
  return value;
}

export function requiredString(obj: Record<string, unknown>, key: string): string {
  const value = optionalString(obj, key);
  if (value === undefined || value === '') {
    throw badRequest(`Missing required parameter: '${key}'.`, key);
  }
  return value;
}

export function nowSeconds(ms: number = Date.now()): number {
  return Math.floor(ms / 1000);
}

/** `limit` query parameter: an integer within 1..max, `fallback` when absent. */
export function parseLimit(query: URLSearchParams, fallback: number, max: number): number {
  const raw = query.get('limit');
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw badRequest(`Invalid 'limit': expected an integer between 1 and ${String(max)}.`, 'limit');
  }
  return value;
}

/** `after` query parameter (a cursor id), undefined when absent or empty. */
export function parseAfter(query: URLSearchParams): string | undefined {
  const raw = query.get('after');
  return raw === null || raw === '' ? undefined : raw;
}
