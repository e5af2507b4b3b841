import { timingSafeEqual } from 'node:crypto';
import { Controller, Get, Headers, Inject, Res } from '@nestjs/common';
import { ApiExcludeController } from '../api-docs/decorators';
import type { Response } from 'express';
import { sha256 } from '../common/auth/digest';
import { Public } from '../common/auth/public.decorator';
import { AuthenticationError } from '../common/errors/api-error';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { MetricsService } from './metrics.service';

/**
 * Prometheus's scrape target. Not behind the API keys (a scraper is no gateway user); when
 * `gateway.metrics_token` is set it asks for that bearer token instead. Left out of the API
 * document: it is for operators, not for OpenAI clients.
 */
@ApiExcludeController()
@Public()
@Controller('metrics')
export class MetricsController {
  private readonly tokenSha256: Buffer | null;

  constructor(
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.tokenSha256 = config.metricsToken === null ? null : sha256(config.metricsToken);
  }

  @Get()
  async scrape(
    @Headers('authorization') authorization: string | undefined,
    @Res() response: Response,
  ): Promise<void> {
    if (this.tokenSha256 && !this.authorized(authorization, this.tokenSha256)) {
      throw new AuthenticationError(
        'Invalid or missing metrics token. Send gateway.metrics_token as `Authorization: Bearer <token>`.',
      );
    }
    const { contentType, body } = await this.metrics.scrape();
    response.setHeader('content-type', contentType);
    response.end(body);
  }

  /** Compares digests, so the time taken says nothing about the token. */
  private authorized(header: string | undefined, expected: Buffer): boolean {
    const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
    return match !== null && timingSafeEqual(sha256(match[1].trim()), expected);
  }
}
