import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Injectable, Logger } from '@nestjs/common';
import type { Response } from 'express';
import type { Caller } from '../common/auth/caller';
import { UpstreamError } from '../common/errors/api-error';
import { ModelCatalogService, type ModelRoute } from '../models/model-catalog.service';
import { toCallerError } from '../provider-router/caller-error';
import { clientGone } from '../common/http/client-gone';
import type { Deployment } from '../config/deployment';
import { deploymentsHoldingEvery, providerFileIdOn } from '../files/file-placement';
import type { FileRecord } from '../files/file-record';
import type { ResolvedRefs } from '../managed-refs/resolved-refs';
import type { ProviderCall, ProviderReply } from '../provider-router/provider-client';
import {
  ProviderRouterService,
  type ModelCallResult,
} from '../provider-router/provider-router.service';

/**
 * How a reply's text changes on the way to the caller (provider ids become ids that route).
 * Applied to a JSON body once, to a stream event by event.
 */
export type ReplyRewrite = (text: string) => string;

/**
 * What chat completions and the Responses API share: which deployments may serve a call (those
 * of the model that hold a copy of every referenced file), the call itself with one failover,
 * relaying the answer (JSON, or server-sent events as they arrive), and upstream errors kept in
 * meaning but never quoting a provider file id.
 */
@Injectable()
export class ModelCallsService {
  private readonly logger = new Logger(ModelCallsService.name);

  constructor(
    private readonly router: ProviderRouterService,
    private readonly catalog: ModelCatalogService,
  ) {}

  /** The model named in a call body, as the caller may use it (see ModelCatalogService.resolve). */
  deploymentsOfModel(body: unknown, caller: Caller): Promise<ModelRoute> {
    return this.catalog.resolve(isObject(body) ? body.model : undefined, caller);
  }

  /**
   * The deployments of `model` that hold a copy of every referenced file. 400 when there is
   * none, naming the file, the model, and the models the file was uploaded for.
   */
  eligible(model: string, deployments: readonly Deployment[], refs: ResolvedRefs): Deployment[] {
    return deploymentsHoldingEvery(
      refs.inBody('file'),
      deployments,
      model,
      (id) => this.router.deployment(id)?.modelName,
    );
  }

  /**
   * Calls one of `candidates` (one failover), the body's file references rewritten to the
   * chosen deployment's own ids and `model` to its upstream model. The call is aborted when the
   * client goes away.
   */
  async call(
    candidates: readonly Deployment[],
    refs: ResolvedRefs,
    build: (deployment: Deployment) => ProviderCall,
    response: Response,
  ): Promise<ModelCallResult> {
    const signal = clientGone(response);
    try {
      return await this.router.callOne(
        candidates,
        (deployment) => {
          refs.rewrite('file', (ref) => providerFileIdOn(ref.record as FileRecord, deployment));
          return build(deployment);
        },
        signal,
      );
    } catch (error) {
      throw this.toApiError(error, refs);
    }
  }

  /**
   * Writes the upstream's answer: JSON as one body, a stream chunk by chunk as it arrives. The
   * rewrite (provider ids the caller must not see) applies to the body, or to each event.
   */
  async relay(
    result: ModelCallResult,
    response: Response,
    rewriteFor: (reply: ProviderReply) => ReplyRewrite | null = () => null,
  ): Promise<void> {
    const { reply, deployment } = result;
    if (reply.headers.requestId)
      response.setHeader('x-upstream-request-id', reply.headers.requestId);
    if (reply.headers.processingMs)
      response.setHeader('openai-processing-ms', reply.headers.processingMs);
    response.status(reply.status);
    const rewrite = rewriteFor(reply);
    if (reply.kind === 'json') {
      response.setHeader('content-type', 'application/json');
      // Unchanged, the upstream's bytes go out as they came. A rewrite reads compact JSON (the
      // spelling of ids it looks for), so it gets the body serialised by us.
      response.end(rewrite ? rewrite(JSON.stringify(reply.body)) : reply.text);
      return;
    }
    response.setHeader('content-type', reply.contentType);
    response.setHeader('cache-control', 'no-cache');
    // Proxies in front (nginx) must not hold events back.
    response.setHeader('x-accel-buffering', 'no');
    response.flushHeaders();
    try {
      await pipeline(rewrite ? reply.body.pipe(eventRewriter(rewrite)) : reply.body, response);
    } catch (error) {
      // Headers are out: a broken stream can only end the connection. A client that left (the
      // response is destroyed already) is no fault of the deployment's.
      if (!response.destroyed) this.router.reportFailure(deployment, error);
      response.destroy();
    }
  }

  /** A failed call as the caller should see it (toCallerError), no provider file ids in it. */
  toApiError(error: unknown, refs: ResolvedRefs): unknown {
    const scrub = new Map<string, string>();
    for (const ref of refs.inBody('file')) {
      for (const copy of (ref.record as FileRecord).copies) {
        if (copy.providerFileId) scrub.set(copy.providerFileId, ref.id);
      }
    }
    const mapped = toCallerError(error, scrub);
    if (mapped instanceof UpstreamError) {
      this.logger.warn(`model call failed: ${mapped.message}`);
    }
    return mapped;
  }
}

/**
 * Rewrites ids inside server-sent events without holding the stream back: whole events pass
 * as soon as their blank line arrives, so an id is never split across two chunks.
 */
function eventRewriter(rewrite: ReplyRewrite): Transform {
  let pending = '';
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      pending += chunk.toString('utf8');
      const end = pending.lastIndexOf('\n\n');
      if (end === -1) {
        done();
        return;
      }
      const complete = pending.slice(0, end + 2);
      pending = pending.slice(end + 2);
      done(null, rewrite(complete));
    },
    flush(done) {
      done(null, pending === '' ? undefined : rewrite(pending));
    },
  });
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
