import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { ServiceUnavailableError } from '../common/errors/api-error';
import { writeErrorEnvelope } from '../common/errors/openai-exception.filter';
import { APP_CONFIG, type AppConfig } from '../config/app-config';

/** After the drain limit, how long abandoned requests get to remove their upstream copies. */
const ABANDON_GRACE_MS = 5_000;
/** Probes keep answering while draining, so the orchestrator sees "not ready", not a dead port. */
const ALWAYS_SERVED = /^\/health\//;

/**
 * Graceful shutdown. On SIGTERM (Nest calls beforeApplicationShutdown before it closes the
 * HTTP server) new requests get 503 in the envelope and `/health/ready` turns 503, while those
 * in flight may finish for up to `drainTimeoutMs`. Past that, `abandonSignal` fires: uploads
 * still running stop and remove their copies (what they cannot remove, the sweeper finds).
 */
@Injectable()
export class DrainService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Shutdown');
  private readonly abandon = new AbortController();
  private draining = false;
  private inFlight = 0;
  private onIdle: (() => void) | null = null;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  get isDraining(): boolean {
    return this.draining;
  }

  /** Aborted when the drain limit passes: long-running work should give up cleanly. */
  get abandonSignal(): AbortSignal {
    return this.abandon.signal;
  }

  /** Express middleware, installed first: counts requests in flight and refuses new ones while draining. */
  readonly middleware = (req: Request, res: Response, next: NextFunction): void => {
    if (this.draining && !ALWAYS_SERVED.test(req.path)) {
      res.setHeader('connection', 'close');
      writeErrorEnvelope(
        res,
        new ServiceUnavailableError('The gateway is shutting down; retry on another instance.', {
          code: 'shutting_down',
          retryAfterSeconds: 1,
        }),
      );
      return;
    }
    this.inFlight++;
    res.once('close', () => {
      this.inFlight--;
      if (this.inFlight === 0) this.onIdle?.();
    });
    next();
  };

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    this.draining = true;
    const started = Date.now();
    const limit = this.config.drainTimeoutMs;
    this.logger.log(
      `${signal ?? 'shutdown'}: draining ${this.inFlight} request(s) in flight, up to ${limit} ms; new requests get 503`,
    );
    if (!(await this.idleWithin(limit))) {
      const left = this.inFlight;
      this.logger.warn(`drain limit reached: abandoning ${left} request(s) still in flight`);
      this.abandon.abort(
        new ServiceUnavailableError('The gateway shut down before this request finished.', {
          code: 'shutting_down',
          retryAfterSeconds: 1,
        }),
      );
      await this.idleWithin(ABANDON_GRACE_MS);
    }
    this.logger.log(
      `drained in ${Date.now() - started} ms (${this.inFlight} request(s) left); closing`,
    );
  }

  private idleWithin(ms: number): Promise<boolean> {
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.onIdle = null;
        resolve(false);
      }, ms);
      this.onIdle = () => {
        clearTimeout(timer);
        this.onIdle = null;
        resolve(true);
      };
    });
  }
}
