import type { ServerResponse } from 'node:http';

/**
 * Aborted when the client goes away before its answer is complete, so the upstream call made
 * for it stops too (a closed stream, a cancelled download, an abandoned retrieve).
 */
export function clientGone(response: ServerResponse): AbortSignal {
  const abort = new AbortController();
  response.once('close', () => {
    if (!response.writableFinished) abort.abort();
  });
  return abort.signal;
}
