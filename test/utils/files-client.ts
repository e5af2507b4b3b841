import request, { type Response, type Test } from 'supertest';
import type { TestApp, UserName } from './create-test-app';
import type { ErrorBody, FileListBody, FileObjectBody } from './factories';
import { jsonlContent } from './http';

export const BOTH_MODELS = 'gpt-4o-mini,gpt-4o';

export interface UploadOptions {
  readonly user?: UserName;
  readonly data?: Buffer;
  readonly filename?: string;
  readonly contentType?: string;
  /** null leaves the field out. */
  readonly purpose?: string | null;
  /** A string is sent as one field, an array as repeated `target_model_names[]`; null: none. */
  readonly targets?: string | readonly string[] | null;
  /** Text fields before the file part (default) or after it (the Node SDK's order). */
  readonly fieldsFirst?: boolean;
  readonly extraFields?: ReadonlyArray<readonly [string, string]>;
  readonly omitFile?: boolean;
}

/** `POST /v1/files` through supertest (which sends a Content-Length). */
export function uploadRequest(t: TestApp, options: UploadOptions = {}): Test {
  const fields: Array<readonly [string, string]> = [];
  const purpose = options.purpose === undefined ? 'user_data' : options.purpose;
  if (purpose !== null) fields.push(['purpose', purpose]);
  const targets = options.targets === undefined ? BOTH_MODELS : options.targets;
  if (typeof targets === 'string') {
    fields.push(['target_model_names', targets]);
  } else if (targets !== null) {
    for (const name of targets) fields.push(['target_model_names[]', name]);
  }
  fields.push(...(options.extraFields ?? []));

  let req = request(t.http)
    .post('/v1/files')
    .set('authorization', t.bearer(options.user ?? 'alice'));
  const addFields = (): void => {
    for (const [name, value] of fields) req = req.field(name, value);
  };
  const addFile = (): void => {
    if (options.omitFile) return;
    req = req.attach('file', options.data ?? jsonlContent(), {
      filename: options.filename ?? 'input.jsonl',
      contentType: options.contentType ?? 'application/jsonl',
    });
  };
  if (options.fieldsFirst === false) {
    addFile();
    addFields();
  } else {
    addFields();
    addFile();
  }
  return req;
}

/** Uploads and insists on a 200; returns the file object. */
export async function uploadOk(t: TestApp, options: UploadOptions = {}): Promise<FileObjectBody> {
  const res = await uploadRequest(t, options);
  if (res.status !== 200) {
    throw new Error(`upload failed: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body as FileObjectBody;
}

export function get(t: TestApp, path: string, user: UserName = 'alice'): Test {
  return request(t.http).get(path).set('authorization', t.bearer(user));
}

export function del(t: TestApp, path: string, user: UserName = 'alice'): Test {
  return request(t.http).delete(path).set('authorization', t.bearer(user));
}

export async function listAs(
  t: TestApp,
  user: UserName,
  query: Record<string, string> = {},
): Promise<FileListBody> {
  const res = await get(t, '/v1/files', user).query(query);
  expect(res.status).toBe(200);
  return res.body as FileListBody;
}

/** Supertest buffers binary bodies only when told how. */
export function binaryBody(req: Test): Test {
  return req.buffer(true).parse((res, callback) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => callback(null, Buffer.concat(chunks)));
  });
}

/**
 * The OpenAI error envelope, exactly: `{error:{message,type,param,code}}` and nothing else.
 * Returns the inner error for further checks.
 */
export function expectEnvelope(res: Response, status: number): ErrorBody['error'] {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = res.body as ErrorBody;
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(typeof body.error.type).toBe('string');
  expect(body.error.param === null || typeof body.error.param === 'string').toBe(true);
  expect(body.error.code === null || typeof body.error.code === 'string').toBe(true);
  return body.error;
}
