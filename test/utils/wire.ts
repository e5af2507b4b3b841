import { connect, type Socket } from 'node:net';

/**
 * HTTP/1.1 over a bare TCP socket, with every byte under the test's control: the request line,
 * header order and spelling, and the body framing (including bodies that are cut short or never
 * finished). node:http would fix up or refuse exactly the framing a fuzz test needs to send.
 */

/** How the body travels. */
export type WireFraming =
  /** No body and no body headers (GET / DELETE). */
  | { readonly kind: 'none' }
  /** `Content-Length: <body length>`, body sent whole. */
  | { readonly kind: 'length' }
  /** `Transfer-Encoding: chunked`, cut into chunks of these sizes (the rest in one last chunk). */
  | { readonly kind: 'chunked'; readonly chunkSizes: readonly number[] }
  /**
   * `Content-Length: <body length>`, but only the first `afterBytes` bytes are sent before the
   * client goes away: 'destroy' resets the socket, 'half-close' sends FIN and keeps reading.
   */
  | { readonly kind: 'abort'; readonly afterBytes: number; readonly how: 'destroy' | 'half-close' };

export interface WireRequest {
  readonly method: string;
  /** The request-target exactly as sent (path and query, already encoded as the test wants). */
  readonly target: string;
  /** Header lines in this order, written as latin1 bytes (framing headers are added). */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
  readonly framing: WireFraming;
}

export interface WireResponse {
  readonly status: number;
  /** Lower-cased names; every value of a repeated header. */
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly body: Buffer;
}

export type WireOutcome =
  | { readonly kind: 'response'; readonly response: WireResponse }
  /** The connection ended without a complete response. */
  | { readonly kind: 'no-response'; readonly reason: string; readonly received: Buffer };

export interface WireTarget {
  readonly host: string;
  readonly port: number;
}

export function wireTarget(baseUrl: string): WireTarget {
  const url = new URL(baseUrl);
  return { host: url.hostname, port: Number(url.port) };
}

/**
 * Sends one request on a fresh connection and reads one response. Resolves (never rejects):
 * a connection that ends or stalls without a whole response is an outcome the caller judges.
 */
export function sendWire(
  target: WireTarget,
  request: WireRequest,
  timeoutMs = 15_000,
): Promise<WireOutcome> {
  return new Promise<WireOutcome>((resolve) => {
    const socket = connect(target.port, target.host);
    const received: Buffer[] = [];
    let settled = false;
    let lastError = '';
    const finish = (outcome: WireOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      finish({
        kind: 'no-response',
        reason: `no complete response within ${timeoutMs} ms`,
        received: Buffer.concat(received),
      });
    }, timeoutMs);
    const tryParse = (atEnd: boolean): void => {
      const parsed = parseResponse(Buffer.concat(received), atEnd);
      if (parsed) finish({ kind: 'response', response: parsed });
    };
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      tryParse(false);
    });
    // Write errors (EPIPE / ECONNRESET after an early answer) are normal here: the answer, if
    // one came, is what counts.
    socket.on('error', (error: Error) => {
      lastError = error.message;
    });
    socket.on('close', () => {
      tryParse(true);
      finish({
        kind: 'no-response',
        reason: `connection closed without a complete response${lastError ? ` (${lastError})` : ''}`,
        received: Buffer.concat(received),
      });
    });
    socket.on('connect', () => {
      void writeRequest(socket, request).catch((error: unknown) => {
        lastError = error instanceof Error ? error.message : String(error);
      });
    });
  });
}

async function writeRequest(socket: Socket, request: WireRequest): Promise<void> {
  const { framing, body } = request;
  const headers: Array<readonly [string, string]> = [...request.headers];
  if (framing.kind === 'length' || framing.kind === 'abort') {
    headers.push(['Content-Length', String(body.length)]);
  } else if (framing.kind === 'chunked') {
    headers.push(['Transfer-Encoding', 'chunked']);
  }
  const head = Buffer.from(
    `${request.method} ${request.target} HTTP/1.1\r\n` +
      headers.map(([name, value]) => `${name}: ${value}\r\n`).join('') +
      '\r\n',
    'latin1',
  );
  switch (framing.kind) {
    case 'none':
      await write(socket, head);
      return;
    case 'length':
      await write(socket, Buffer.concat([head, body]));
      return;
    case 'chunked': {
      await write(socket, head);
      let offset = 0;
      for (const size of framing.chunkSizes) {
        if (offset >= body.length) break;
        const chunk = body.subarray(offset, offset + Math.max(1, size));
        offset += chunk.length;
        await write(socket, chunkFrame(chunk));
      }
      if (offset < body.length) await write(socket, chunkFrame(body.subarray(offset)));
      await write(socket, Buffer.from('0\r\n\r\n'));
      return;
    }
    case 'abort': {
      await write(socket, Buffer.concat([head, body.subarray(0, framing.afterBytes)]));
      // Let the server read what was sent (and start work on it) before the client goes away.
      await new Promise((resolve) => setTimeout(resolve, 15));
      if (framing.how === 'destroy') {
        socket.resetAndDestroy();
      } else {
        socket.end();
      }
      return;
    }
  }
}

function chunkFrame(chunk: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`${chunk.length.toString(16)}\r\n`),
    chunk,
    Buffer.from('\r\n'),
  ]);
}

function write(socket: Socket, data: Buffer): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (socket.destroyed || !socket.writable) {
      reject(new Error('socket no longer writable'));
      return;
    }
    socket.write(data, (error) => (error ? reject(error) : resolve()));
  });
}

/**
 * One HTTP/1.1 response from the bytes so far, or null while it is incomplete. Interim 1xx
 * responses (100 Continue) are skipped. A body without framing runs to the end of the connection.
 */
export function parseResponse(bytes: Buffer, atEnd: boolean): WireResponse | null {
  let data = bytes;
  for (;;) {
    const headEnd = data.indexOf('\r\n\r\n');
    if (headEnd < 0) return null;
    const lines = data.subarray(0, headEnd).toString('latin1').split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!match) return null;
    const status = Number(match[1]);
    const headers: Record<string, string[]> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      (headers[name] ??= []).push(line.slice(colon + 1).trim());
    }
    const rest = data.subarray(headEnd + 4);
    if (status >= 100 && status < 200) {
      data = rest;
      continue;
    }
    const body = responseBody(rest, headers, atEnd);
    return body === null ? null : { status, headers, body };
  }
}

function responseBody(
  rest: Buffer,
  headers: Readonly<Record<string, readonly string[]>>,
  atEnd: boolean,
): Buffer | null {
  const encoding = (headers['transfer-encoding'] ?? []).join(',').toLowerCase();
  if (encoding.includes('chunked')) return dechunk(rest);
  const length = headers['content-length']?.[0];
  if (length !== undefined) {
    const n = Number(length);
    return rest.length >= n ? rest.subarray(0, n) : null;
  }
  return atEnd ? rest : null;
}

function dechunk(data: Buffer): Buffer | null {
  const chunks: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', offset);
    if (lineEnd < 0) return null;
    const size = parseInt(data.subarray(offset, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return null;
    const start = lineEnd + 2;
    if (size === 0) return Buffer.concat(chunks);
    if (data.length < start + size + 2) return null;
    chunks.push(data.subarray(start, start + size));
    offset = start + size + 2;
  }
}

/** The first value of a response header, if any. */
export function headerOf(response: WireResponse, name: string): string | undefined {
  return response.headers[name.toLowerCase()]?.[0];
}

/** A printable, bounded account of a request: what a failure report needs to replay it. */
export function describeWireRequest(request: WireRequest, bodyPreview = 240): string {
  const framing =
    request.framing.kind === 'abort'
      ? `abort(${request.framing.how} after ${request.framing.afterBytes} of ${request.body.length} bytes)`
      : request.framing.kind === 'chunked'
        ? `chunked(${request.framing.chunkSizes.slice(0, 6).join(',')}${request.framing.chunkSizes.length > 6 ? ',…' : ''})`
        : request.framing.kind;
  return [
    `${request.method} ${clip(request.target, 300)}`,
    ...request.headers.map(([name, value]) => `  ${name}: ${clip(JSON.stringify(value), 300)}`),
    `  framing: ${framing}; body ${request.body.length} bytes, first ${Math.min(bodyPreview, request.body.length)}:`,
    `  ${JSON.stringify(request.body.subarray(0, bodyPreview).toString('latin1'))}`,
    // Where a body ends matters as much as how it starts (truncation, missing delimiters).
    ...(request.body.length > bodyPreview
      ? [
          `  …last ${Math.min(bodyPreview, request.body.length - bodyPreview)}: ${JSON.stringify(request.body.subarray(Math.max(bodyPreview, request.body.length - bodyPreview)).toString('latin1'))}`,
        ]
      : []),
  ].join('\n');
}

export function describeWireOutcome(outcome: WireOutcome): string {
  if (outcome.kind === 'no-response') {
    return `no response: ${outcome.reason}; received ${outcome.received.length} bytes ${JSON.stringify(outcome.received.subarray(0, 200).toString('latin1'))}`;
  }
  const { response } = outcome;
  const shown = ['content-type', 'x-request-id', 'connection', 'content-length']
    .map((name) => `${name}=${JSON.stringify(response.headers[name] ?? null)}`)
    .join(' ');
  return `HTTP ${response.status} ${shown}\n  body: ${clip(JSON.stringify(response.body.toString('utf8')), 600)}`;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text;
}
