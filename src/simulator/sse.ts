import type { ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { SseEvent } from './echo';

/**
 * Writes a `text/event-stream` answer one event at a time, `gapMs` apart, ending with `trailer`
 * (chat's `[DONE]`) when given. Each event is its own write, so a client sees the first event
 * while the later ones are still to come; `signal` (client gone, simulator closing) stops it.
 */
export async function sendEvents(
  res: ServerResponse,
  events: readonly SseEvent[],
  options: { gapMs: number; trailer?: string; signal: AbortSignal },
): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const frames = events.map(
    ({ event, data }) =>
      `${event === undefined ? '' : `event: ${event}\n`}data: ${JSON.stringify(data)}\n\n`,
  );
  if (options.trailer !== undefined) frames.push(`data: ${options.trailer}\n\n`);
  for (const [index, frame] of frames.entries()) {
    if (index > 0 && options.gapMs > 0) {
      await delay(options.gapMs, undefined, { signal: options.signal });
    }
    if (res.destroyed) return;
    res.write(frame);
  }
  res.end();
}
