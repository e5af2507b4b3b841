import { Controller, Get, HttpCode, Res } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '../api-docs/decorators';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { CacheService } from '../cache/cache.service';
import { Public } from '../common/auth/public.decorator';
import type { QueueCounts } from '../jobs/job';
import { JobsService } from '../jobs/jobs.service';
import { DrainService } from '../lifecycle/drain.service';

type Check = { status: 'up' | 'down' | 'disabled' };
type JobsCheck = Check & { queues?: Readonly<Record<string, QueueCounts>> };

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly cache: CacheService,
    private readonly drain: DrainService,
    private readonly jobs: JobsService,
  ) {}

  @Get('live')
  @HttpCode(200)
  @ApiOperation({ summary: 'The process is up' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /**
   * Ready when the database answers. The cache is reported but does not make the service
   * unready: every request falls through to the database when it is down, and pulling all
   * replicas out of rotation during a Redis outage would turn a slowdown into an outage.
   * The job engine likewise: background work waits in its queue, requests are still served.
   * Draining (SIGTERM received) is unready at once, so the load balancer stops sending traffic.
   */
  @Get('ready')
  @ApiOperation({ summary: 'The database answers (cache and job engine reported, not required)' })
  @ApiOkResponse({ description: 'Ready' })
  @ApiServiceUnavailableResponse({ description: 'The database does not answer' })
  async ready(@Res({ passthrough: true }) response: Response): Promise<{
    status: 'ready' | 'unavailable' | 'draining';
    checks: { database: Check; cache: Check; jobs: JobsCheck };
  }> {
    const [database, cache, jobs] = await Promise.all([
      this.dataSource
        .query('SELECT 1')
        .then((): Check => ({ status: 'up' }))
        .catch((): Check => ({ status: 'down' })),
      this.cache.kind === 'none'
        ? Promise.resolve<Check>({ status: 'disabled' })
        : this.cache.ping().then((ok): Check => ({ status: ok ? 'up' : 'down' })),
      // Up: its workers run and its tables answer. The counts by queue and state are what an
      // operator looks at first when background work lags (a growing `retry` or `failed`).
      this.jobs.isRunning
        ? this.jobs
            .counts()
            .then((queues): JobsCheck => ({ status: 'up', queues }))
            .catch((): JobsCheck => ({ status: 'down' }))
        : Promise.resolve<JobsCheck>({ status: 'down' }),
    ]);
    const draining = this.drain.isDraining;
    const ready = database.status === 'up' && !draining;
    response.status(ready ? 200 : 503);
    const status = draining ? 'draining' : ready ? 'ready' : 'unavailable';
    return { status, checks: { database, cache, jobs } };
  }
}
