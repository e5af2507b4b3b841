import { Readable } from 'node:stream';
import { DropMeter, FaultBook, midBodyThreshold, validateFaultRule } from './faults';

describe(FaultBook.name, () => {
  it('should fire a nth rule only on that matching call', () => {
    const book = new FaultBook();
    book.add({ route: 'files.create', nth: 2, status: 500 });
    const fired = ['files.list', 'files.create', 'files.create', 'files.create'].map(
      (route) => book.take(route as 'files.list' | 'files.create')?.status,
    );
    expect(fired).toEqual([undefined, undefined, 500, undefined]);
  });

  it('should stop firing after `times` and match every route with *', () => {
    const book = new FaultBook();
    book.add({ route: '*', latencyMs: 5, times: 2 });
    const fired = ['files.list', 'unknown', 'responses'].map(
      (route) => book.take(route as 'files.list' | 'unknown' | 'responses')?.latencyMs,
    );
    expect(fired).toEqual([5, 5, undefined]);
  });

  it('should count a call against every matching rule even when an earlier rule fires', () => {
    const book = new FaultBook();
    book.add({ route: '*', status: 503, times: 1 });
    book.add({ route: 'files.list', nth: 2, status: 429 });
    expect(book.take('files.list')?.status).toBe(503);
    expect(book.take('files.list')?.status).toBe(429);
  });
});

describe(validateFaultRule.name, () => {
  it('should reject unknown routes and out-of-range values', () => {
    expect(() => validateFaultRule({ route: 'files.upload' })).toThrow(TypeError);
    expect(() => validateFaultRule({ route: '*', nth: 0 })).toThrow(TypeError);
    expect(() => validateFaultRule({ route: '*', status: 200 })).toThrow(TypeError);
    expect(() => validateFaultRule({ route: '*', dropConnection: 'later' })).toThrow(TypeError);
    expect(() => validateFaultRule({ route: '*', chunkDelayMs: -1 })).toThrow(TypeError);
    expect(() => validateFaultRule({ route: '*', retryAfterSeconds: 1.5 })).toThrow(TypeError);
    expect(
      validateFaultRule({ route: 'responses.cancel', status: 429, retryAfterSeconds: 0 }),
    ).toEqual({ route: 'responses.cancel', status: 429, retryAfterSeconds: 0 });
    expect(validateFaultRule({ route: 'chat.completions', chunkDelayMs: 50 })).toEqual({
      route: 'chat.completions',
      chunkDelayMs: 50,
    });
    expect(validateFaultRule({ route: 'responses', status: 429, extra: 1 })).toEqual({
      route: 'responses',
      status: 429,
    });
  });
});

describe(DropMeter.name, () => {
  it('should pass exactly the threshold, then trip and fail the stream', async () => {
    let tripped = 0;
    const meter = new DropMeter(100, () => {
      tripped += 1;
    });
    const received: Buffer[] = [];
    meter.on('data', (chunk: Buffer) => received.push(chunk));
    const done = new Promise<Error>((resolve) => meter.on('error', resolve));
    Readable.from([Buffer.alloc(60), Buffer.alloc(60), Buffer.alloc(60)]).pipe(meter);

    expect((await done).message).toContain('mid-body');
    expect(Buffer.concat(received).length).toBe(100);
    expect(tripped).toBe(1);
  });

  it('should cut at 64 KiB or half a smaller known body', () => {
    expect(midBodyThreshold(undefined)).toBe(64 * 1024);
    expect(midBodyThreshold(10_000_000)).toBe(64 * 1024);
    expect(midBodyThreshold(1000)).toBe(500);
  });
});
