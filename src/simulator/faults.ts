import { Transform, type TransformCallback } from 'node:stream';
import { SIM_ROUTES, type FaultRule, type SimRoute } from './types';

/** How much of a request body 'mid-body' lets through before dropping the connection. */
export const MID_BODY_DROP_BYTES = 64 * 1024;

interface ArmedRule {
  rule: FaultRule;
  /** Matching calls seen since the rule was added (drives `nth`). */
  seen: number;
  fired: number;
}

/** The active fault rules and their counters. */
export class FaultBook {
  private rules: ArmedRule[] = [];

  add(rule: FaultRule): void {
    this.rules.push({ rule: validateFaultRule(rule), seen: 0, fired: 0 });
  }

  clear(): void {
    this.rules = [];
  }

  /**
   * Counts this call against every matching rule and returns the first rule that fires. Every
   * matching rule counts the call, so `nth` always refers to the n-th call on that route even
   * when an earlier rule fired for it.
   */
  take(route: SimRoute | 'unknown'): FaultRule | undefined {
    let firing: ArmedRule | undefined;
    for (const armed of this.rules) {
      if (armed.rule.route !== '*' && armed.rule.route !== route) continue;
      armed.seen += 1;
      if (firing) continue;
      const { nth, times } = armed.rule;
      if (nth !== undefined && armed.seen !== nth) continue;
      if (times !== undefined && armed.fired >= times) continue;
      firing = armed;
    }
    if (firing) firing.fired += 1;
    return firing?.rule;
  }
}

/** Checks a rule that may come from JSON (control API) and returns a clean copy. */
export function validateFaultRule(input: unknown): FaultRule {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new TypeError('fault rule must be an object');
  }
  const raw = input as Record<string, unknown>;
  const route = raw.route;
  if (route !== '*' && !SIM_ROUTES.some((r) => r === route)) {
    throw new TypeError(`fault rule route must be '*' or one of ${SIM_ROUTES.join(', ')}`);
  }
  const rule: FaultRule = { route: route as SimRoute | '*' };
  const positiveInt = (
    key: 'nth' | 'times' | 'latencyMs' | 'retryAfterSeconds' | 'chunkDelayMs',
    min: number,
  ): number | undefined => {
    const value = raw[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      throw new TypeError(`fault rule ${key} must be an integer >= ${String(min)}`);
    }
    return value;
  };
  const nth = positiveInt('nth', 1);
  const times = positiveInt('times', 1);
  const latencyMs = positiveInt('latencyMs', 0);
  if (nth !== undefined) rule.nth = nth;
  if (times !== undefined) rule.times = times;
  if (latencyMs !== undefined) rule.latencyMs = latencyMs;
  const retryAfterSeconds = positiveInt('retryAfterSeconds', 0);
  if (retryAfterSeconds !== undefined) rule.retryAfterSeconds = retryAfterSeconds;
  const chunkDelayMs = positiveInt('chunkDelayMs', 0);
  if (chunkDelayMs !== undefined) rule.chunkDelayMs = chunkDelayMs;
  if (raw.status !== undefined && raw.status !== null) {
    const status = raw.status;
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 599) {
      throw new TypeError('fault rule status must be an integer 400..599');
    }
    rule.status = status;
  }
  if (raw.dropConnection !== undefined && raw.dropConnection !== null) {
    if (raw.dropConnection !== 'before-response' && raw.dropConnection !== 'mid-body') {
      throw new TypeError("fault rule dropConnection must be 'before-response' or 'mid-body'");
    }
    rule.dropConnection = raw.dropConnection;
  }
  return rule;
}

/** The 'mid-body' cut-off: ~64 KiB, or half the body when it is smaller and its size is known. */
export function midBodyThreshold(contentLength: number | undefined): number {
  if (contentLength === undefined) return MID_BODY_DROP_BYTES;
  return Math.max(1, Math.min(MID_BODY_DROP_BYTES, Math.floor(contentLength / 2)));
}

/**
 * Passes request body bytes through until `threshold` bytes were read, then calls `trip` (which
 * destroys the socket) and fails the stream so the handler stops. A body that ends before the
 * threshold (chunked, unknown size) trips at its end, so the client never gets an answer.
 */
export class DropMeter extends Transform {
  private seen = 0;
  private tripped = false;

  constructor(
    private readonly threshold: number,
    private readonly trip: () => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.tripped) {
      callback();
      return;
    }
    const room = this.threshold - this.seen;
    this.seen += chunk.length;
    if (chunk.length < room) {
      callback(null, chunk);
      return;
    }
    this.push(chunk.subarray(0, room));
    this.fire();
    callback(new Error('simulated connection drop (mid-body)'));
  }

  override _flush(callback: TransformCallback): void {
    if (!this.tripped) this.fire();
    callback(new Error('simulated connection drop (mid-body)'));
  }

  private fire(): void {
    this.tripped = true;
    this.trip();
  }
}
