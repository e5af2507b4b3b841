import { Global, Module } from '@nestjs/common';
import { DrainService } from './drain.service';

/** The process's life as callers see it: draining on shutdown. */
@Global()
@Module({ providers: [DrainService], exports: [DrainService] })
export class LifecycleModule {}
