import { Module } from '@nestjs/common';
import { JobsService } from './jobs.service';

/**
 * Background work on pg-boss in the application's PostgreSQL. Import it where work is
 * registered; JobsService is the one mechanism for periodic and per-item jobs alike.
 */
@Module({ providers: [JobsService], exports: [JobsService] })
export class JobsModule {}
