import { ApiError, UpstreamError } from '../common/errors/api-error';
import { ProviderError } from './provider-client';

/**
 * A failed upstream call as the caller should see it. A 4xx is the caller's own mistake or limit
 * and keeps its status and the upstream's words (a 429 its `retry-after`), as OpenAI sends them;
 * anything else is a 502/504 naming the deployment. `scrub` replaces provider ids the caller
 * must not see (a copy's file id) with the ids the caller knows. Other errors pass unchanged.
 */
export function toCallerError(
  error: unknown,
  scrub: ReadonlyMap<string, string> = new Map(),
): unknown {
  if (!(error instanceof ProviderError)) return error;
  let message = error.message;
  for (const [from, to] of scrub) message = message.split(from).join(to);
  const headers: Record<string, string> = error.retryAfter
    ? { 'retry-after': error.retryAfter }
    : {};
  if (error.status !== null && error.status >= 400 && error.status < 500) {
    return new ApiError(error.status, error.type ?? 'invalid_request_error', message, {
      param: error.param,
      code: error.code,
      headers,
    });
  }
  const where = error.deploymentId ? `deployment '${error.deploymentId}'` : 'the deployment';
  return new UpstreamError(
    error.status === null
      ? `No answer from ${where}${error.timedOut ? ' in time' : ''}.`
      : `${where} answered with HTTP ${error.status}: ${message}`,
    { timeout: error.timedOut, headers },
  );
}
