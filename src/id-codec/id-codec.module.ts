import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { IdCodec } from './id-codec';
import { IdCodecService } from './id-codec.service';
import { resolveSigningSecret } from './signing-secret';

@Global()
@Module({
  providers: [
    {
      provide: IdCodec,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        new IdCodec(resolveSigningSecret(config.idSigningSecret, config.dataDir)),
    },
    IdCodecService,
  ],
  exports: [IdCodecService],
})
export class IdCodecModule {}
