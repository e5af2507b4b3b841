import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { Agent } from 'undici';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { AzureAdapter } from './adapters/azure/azure.adapter';
import { createUpstreamPool } from './adapters/http-provider.adapter';
import { OpenAIAdapter } from './adapters/openai/openai.adapter';
import { DeploymentPicker } from './deployment-picker';
import { PROVIDER_CLIENTS, type ProviderClients } from './provider-client';
import { ProviderRouterService } from './provider-router.service';

const UPSTREAM_POOL = Symbol('UPSTREAM_POOL');

@Global()
@Module({
  providers: [
    {
      provide: UPSTREAM_POOL,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): Agent => createUpstreamPool(config.upstreamTimeoutMs),
    },
    {
      provide: PROVIDER_CLIENTS,
      inject: [APP_CONFIG, UPSTREAM_POOL],
      useFactory: (config: AppConfig, pool: Agent): ProviderClients => {
        const options = { timeoutMs: config.upstreamTimeoutMs, dispatcher: pool };
        return { openai: new OpenAIAdapter(options), azure: new AzureAdapter(options) };
      },
    },
    {
      provide: DeploymentPicker,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): DeploymentPicker =>
        new DeploymentPicker({ cooldownMs: config.deploymentCooldownMs }),
    },
    ProviderRouterService,
  ],
  exports: [ProviderRouterService],
})
export class ProviderRouterModule implements OnApplicationShutdown {
  constructor(@Inject(UPSTREAM_POOL) private readonly pool: Agent) {}

  async onApplicationShutdown(): Promise<void> {
    await this.pool.close();
  }
}
