import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders } from 'node:http';
import type { SimulatedUpstream } from '../../src/simulator/simulator';
import { AZURE_API_VERSION } from './create-test-app';

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Deterministic-looking but unique JSONL content of about `bytes` bytes. */
export function jsonlContent(bytes = 200, label = 'x'): Buffer {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = `${JSON.stringify({
      custom_id: `${label}-${i}-${randomBytes(4).toString('hex')}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `hello ${i}` }] },
    })}\n`;
    lines.push(line);
    size += Buffer.byteLength(line);
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

/**
 * A valid batch input file: `lines` chat requests for `model`, whole lines only (an upload with
 * purpose `batch` is validated line by line and rewritten for each deployment).
 */
export function batchJsonl(lines = 3, model = 'gpt-4o-mini', label = 'b'): Buffer {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    out.push(
      JSON.stringify({
        custom_id: `${label}-${i}-${randomBytes(4).toString('hex')}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model, messages: [{ role: 'user', content: `hello ${i}` }] },
      }),
    );
  }
  return Buffer.from(`${out.join('\n')}\n`);
}

/** Random bytes: content that no other test shares. */
export function binaryContent(bytes: number): Buffer {
  return randomBytes(bytes);
}

export type FormPart =
  | { readonly name: string; readonly value: string }
  | {
      readonly name: string;
      readonly filename: string;
      readonly contentType?: string;
      readonly data: Buffer;
    };

export interface MultipartBody {
  readonly contentType: string;
  /** The body split where the file's bytes begin and end, so callers can pace it. */
  readonly head: Buffer;
  readonly fileData: Buffer;
  readonly tail: Buffer;
  readonly whole: Buffer;
}

/**
 * A multipart/form-data body built by hand, in exactly the order given. Only one file part is
 * supported (the gateway accepts only one); `head`/`fileData`/`tail` let a test send the file
 * bytes at its own pace.
 */
export function multipart(parts: readonly FormPart[]): MultipartBody {
  const boundary = `----e2e-${randomBytes(12).toString('hex')}`;
  const before: Buffer[] = [];
  const after: Buffer[] = [];
  let fileData: Buffer | null = null;
  for (const part of parts) {
    const target = fileData === null ? before : after;
    if ('value' in part) {
      target.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}\r\n`,
        ),
      );
    } else {
      if (fileData !== null) throw new Error('multipart(): one file part only');
      before.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\n` +
            `Content-Type: ${part.contentType ?? 'application/octet-stream'}\r\n\r\n`,
        ),
      );
      fileData = part.data;
      after.push(Buffer.from('\r\n'));
    }
  }
  after.push(Buffer.from(`--${boundary}--\r\n`));
  const head = Buffer.concat(before);
  const tail = Buffer.concat(after);
  const data = fileData ?? Buffer.alloc(0);
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    head,
    fileData: data,
    tail,
    whole: Buffer.concat([head, data, tail]),
  };
}

export interface OpenRequest {
  readonly request: ClientRequest;
  /** Resolves with the whole answer (or rejects when the connection fails without one). */
  readonly response: Promise<RawResponse>;
  write(chunk: Buffer): Promise<void>;
  end(chunk?: Buffer): void;
}

/**
 * A request whose body the test writes piece by piece. Without a content-length header the body
 * goes chunked. Nothing is written until the caller writes.
 */
export function openRequest(
  url: string,
  method: string,
  headers: Record<string, string>,
): OpenRequest {
  const request = httpRequest(url, { method, headers, agent: false });
  const response = new Promise<RawResponse>((resolve, reject) => {
    request.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    request.on('error', reject);
  });
  // Writes after the server answered and closed may fail; the answer is what tests look at.
  response.catch(() => undefined);
  return {
    request,
    response,
    write: (chunk) =>
      new Promise<void>((resolve, reject) => {
        request.write(chunk, (error) => (error ? reject(error) : resolve()));
      }),
    end: (chunk) => {
      request.end(chunk);
    },
  };
}

/** One request, body sent whole (with content-length unless `chunked`). */
export async function rawRequest(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: Buffer,
  chunked = false,
): Promise<RawResponse> {
  const allHeaders = { ...headers };
  if (body && !chunked) allHeaders['content-length'] = String(body.length);
  const open = openRequest(url, method, allHeaders);
  if (body && chunked) {
    // Several writes so the body really travels as chunks.
    const step = 16 * 1024;
    for (let offset = 0; offset < body.length; offset += step) {
      await open.write(body.subarray(offset, offset + step));
    }
    open.end();
  } else {
    open.end(body);
  }
  return open.response;
}

export function parseJson(response: RawResponse): unknown {
  return JSON.parse(response.body.toString('utf8')) as unknown;
}

/** Uploads straight to a simulator over HTTP (bypassing the gateway); returns the upstream id. */
export async function uploadToSimulator(
  sim: SimulatedUpstream,
  apiKey: string,
  filename: string,
  data: Buffer,
  purpose = 'batch',
): Promise<string> {
  const azure = sim.dialect === 'azure';
  const fields: FormPart[] = [{ name: 'purpose', value: purpose }];
  if (azure) {
    fields.push({ name: 'expires_after.anchor', value: 'created_at' });
    fields.push({ name: 'expires_after.seconds', value: '1209600' });
  }
  const body = multipart([...fields, { name: 'file', filename, data }]);
  const url = azure
    ? `${sim.apiBase}/openai/files?api-version=${AZURE_API_VERSION}`
    : `${sim.apiBase}/files`;
  const auth: Record<string, string> = azure
    ? { 'api-key': apiKey }
    : { authorization: `Bearer ${apiKey}` };
  const response = await rawRequest(
    url,
    'POST',
    { ...auth, 'content-type': body.contentType },
    body.whole,
  );
  if (response.status >= 300) {
    throw new Error(`direct upload failed: ${response.status} ${response.body.toString()}`);
  }
  const parsed = parseJson(response) as { id: string };
  return parsed.id;
}

/** Polls until `condition` holds; fails with `what` after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Polls until `condition` holds or `timeoutMs` passes; says which. */
export async function becomes(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<boolean> {
  return waitFor(condition, 'condition', timeoutMs).then(
    () => true,
    () => false,
  );
}
