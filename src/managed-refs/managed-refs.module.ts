import { Global, Module } from '@nestjs/common';
import { ManagedRefsGuard } from './managed-refs.guard';
import { RefLoaders } from './ref-loaders';

/** The managed-reference pipeline (see ManagedRefsGuard); every feature module registers its kinds. */
@Global()
@Module({ providers: [RefLoaders, ManagedRefsGuard], exports: [RefLoaders, ManagedRefsGuard] })
export class ManagedRefsModule {}
