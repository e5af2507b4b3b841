import { Global, Module } from '@nestjs/common';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

/**
 * Metrics for every module (global: the cache, the router and the jobs record into it) and
 * the /metrics endpoint. Logging is set up before the module graph exists (create-app.ts),
 * since Nest logs while it builds it.
 */
@Global()
@Module({
  controllers: [MetricsController],
  providers: [MetricsService],
  exports: [MetricsService],
})
export class ObservabilityModule {}
