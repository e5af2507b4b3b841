import request from 'supertest';
import { createTestApp, type TestApp } from '../utils/create-test-app';

const ALLOWED = 'https://app.example.com';

describe('CORS (gateway.cors_origins)', () => {
  let t: TestApp;
  let off: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ corsOrigins: [ALLOWED], redisUrl: null });
    off = await createTestApp({ redisUrl: null });
  });

  afterAll(async () => {
    await Promise.all([t?.close(), off?.close()]);
  });

  const preflight = (app: TestApp, origin: string) =>
    request(app.http)
      .options('/v1/files')
      .set('Origin', origin)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization,content-type');

  it('should answer a preflight from an allowed origin with the CORS headers', async () => {
    const res = await preflight(t, ALLOWED);
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(res.headers['access-control-allow-methods']).toContain('POST');
    expect(res.headers['access-control-allow-headers']).toBe('authorization,content-type');
    expect(res.headers['x-request-id']).toEqual(expect.any(String));
  });

  it('should give a preflight from another origin no CORS headers', async () => {
    const res = await preflight(t, 'https://evil.example.com');
    expect(Object.keys(res.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    // Not answered as a preflight: it reaches routing like any OPTIONS request, which no route has.
    expect(res.status).toBe(404);
    expect(Object.keys(res.body.error as object).sort()).toEqual([
      'code',
      'message',
      'param',
      'type',
    ]);
  });

  it('should let the allowed origin read the answer and its request id', async () => {
    const res = await request(t.http)
      .get('/v1/files')
      .set('Origin', ALLOWED)
      .set('Authorization', t.bearer('alice'));
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(res.headers['access-control-expose-headers']).toBe('x-request-id,retry-after');
  });

  it('should send no CORS headers when cors_origins is not set', async () => {
    const res = await preflight(off, ALLOWED);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const get = await request(off.http)
      .get('/v1/files')
      .set('Origin', ALLOWED)
      .set('Authorization', off.bearer('alice'));
    expect(get.status).toBe(200);
    expect(get.headers['access-control-allow-origin']).toBeUndefined();
  });
});
