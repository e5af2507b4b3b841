import { Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { stopTracing } from './tracing';

/**
 * Exports the spans still queued when the app closes (SIGTERM included): Nest runs this after
 * the drain and after the HTTP server closed, so the requests served while draining are in it.
 * Import it last in AppModule: among modules at the same depth, the last runs its shutdown hook
 * last.
 */
@Module({})
export class TracingModule implements OnApplicationShutdown {
  private readonly logger = new Logger('Tracing');

  async onApplicationShutdown(): Promise<void> {
    try {
      await stopTracing();
    } catch (error) {
      // Losing the last spans is no reason to fail a shutdown.
      this.logger.warn(`could not export the last spans: ${String(error)}`);
    }
  }
}
