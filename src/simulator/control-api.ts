import type { IncomingMessage, ServerResponse } from 'node:http';
import { validateFaultRule } from './faults';
import { SimHttpError } from './http-errors';
import { readJsonObject, sendJson } from './http-io';
import type { CallRecord, FaultRule, StoredFile } from './types';

/** Prefix of the control API; requests under it are neither authenticated nor recorded. */
export const CONTROL_PREFIX = '/__sim/';

export interface ControlTarget {
  addFault(rule: FaultRule): void;
  clearFaults(): void;
  reset(): void;
  /** Files (after batches/jobs caught up) and calls, for GET /__sim/state. */
  snapshot(): Promise<{ files: StoredFile[]; calls: readonly CallRecord[] }>;
}

/**
 * The HTTP face of `SimulatedUpstream` for users in another process (benchmarks drive a
 * simulator started with main.ts through it).
 */
export async function handleControl(
  target: ControlTarget,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
): Promise<void> {
  const action = `${req.method ?? 'GET'} ${pathname.slice(CONTROL_PREFIX.length).replace(/\/$/, '')}`;
  switch (action) {
    case 'POST faults': {
      let rule: FaultRule;
      try {
        rule = validateFaultRule(await readJsonObject(req));
      } catch (error: unknown) {
        if (error instanceof SimHttpError) throw error;
        throw new SimHttpError(400, error instanceof Error ? error.message : String(error));
      }
      target.addFault(rule);
      sendJson(res, 201, { ok: true, rule });
      return;
    }
    case 'DELETE faults':
      req.resume();
      target.clearFaults();
      sendJson(res, 200, { ok: true });
      return;
    case 'POST reset':
      req.resume();
      target.reset();
      sendJson(res, 200, { ok: true });
      return;
    case 'GET state':
      sendJson(res, 200, await target.snapshot());
      return;
    case 'GET stats':
      sendJson(res, 200, { memory: process.memoryUsage(), uptimeSec: process.uptime() });
      return;
    default:
      req.resume();
      throw new SimHttpError(404, `Unknown control route: ${action}`);
  }
}
