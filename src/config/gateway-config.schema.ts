import { Type } from 'class-transformer';
import {
  ArrayNotEmpty,
  IsArray,
  IsDefined,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsObject,
  IsOptional,
  IsPositive,
  IsString,
  Matches,
  Min,
  MinLength,
  ValidateIf,
  ValidateNested,
  registerDecorator,
  type ValidationOptions,
} from 'class-validator';

const REQUIRED = 'required';

/** An object whose every value is a non-empty string. */
function IsStringRecord(options: ValidationOptions): PropertyDecorator {
  return (target, propertyKey) => {
    registerDecorator({
      name: 'isStringRecord',
      target: target.constructor,
      propertyName: String(propertyKey),
      options,
      validator: {
        validate: (value: unknown) =>
          typeof value === 'object' &&
          value !== null &&
          Object.values(value).every((v) => typeof v === 'string' && v !== ''),
      },
    });
  };
}

/**
 * The YAML config file. `model_list` is LiteLLM's format unchanged so that existing LiteLLM
 * configs load as they are. These classes check the values of the keys the gateway reads; which
 * keys may appear at all (and which LiteLLM keys are ignored with a warning) is config-keys.ts.
 * Keep each key's type check as its top decorator (under IsDefined): when several fail, only
 * the top one is reported (see flattenValidationErrors in load-app-config.ts).
 */
export class LitellmParams {
  @IsDefined({ message: REQUIRED })
  @IsString()
  @Matches(/^[^/]+\/.+$/, { message: 'model must look like "<provider>/<upstream model>"' })
  model!: string;

  @IsOptional()
  @IsString()
  api_base?: string;

  @IsOptional()
  @IsString()
  api_key?: string;

  @IsOptional()
  @IsString()
  api_version?: string;

  @IsOptional()
  @IsNumber()
  @IsPositive()
  weight?: number;
}

export class ModelInfo {
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  id?: string;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  base_model?: string;

  @IsOptional()
  @IsObject()
  @IsStringRecord({
    message: 'must map fine-tuned model names to deployment names (strings)',
  })
  fine_tuned_deployments?: Record<string, string>;
}

export class ModelListEntry {
  @IsDefined({ message: REQUIRED })
  @IsString()
  @IsNotEmpty()
  model_name!: string;

  @IsDefined({ message: REQUIRED })
  @ValidateNested()
  @Type(() => LitellmParams)
  litellm_params!: LitellmParams;

  @IsOptional()
  @ValidateNested()
  @Type(() => ModelInfo)
  model_info?: ModelInfo;
}

export class ApiKeyConfig {
  @ValidateIf((o: ApiKeyConfig) => o.key_sha256 === undefined)
  @IsString({ message: 'each api_keys entry needs key or key_sha256' })
  @IsNotEmpty()
  key?: string;

  @IsOptional()
  @Matches(/^[0-9a-fA-F]{64}$/, { message: 'key_sha256 must be 64 hex characters' })
  key_sha256?: string;

  @IsDefined({ message: REQUIRED })
  @IsString()
  @IsNotEmpty()
  user_id!: string;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  team_id?: string;

  @IsOptional()
  @IsIn(['user', 'admin'])
  role?: 'user' | 'admin';
}

export class TrustedHeadersSettings {
  @IsDefined({ message: REQUIRED })
  @IsString()
  @Matches(/^[A-Za-z0-9-]+$/, { message: 'secret_header must be a header name' })
  secret_header!: string;

  @IsDefined({ message: REQUIRED })
  @IsString()
  @IsNotEmpty()
  secret!: string;
}

export class GatewaySettings {
  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => ApiKeyConfig)
  api_keys?: ApiKeyConfig[];

  @IsOptional()
  @ValidateNested()
  @Type(() => TrustedHeadersSettings)
  trusted_headers?: TrustedHeadersSettings;

  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  default_target_models?: string[];

  @IsOptional()
  @IsInt()
  @Min(1)
  max_upload_bytes?: number;

  @IsOptional()
  @IsInt()
  @Min(1024)
  max_json_body_bytes?: number;

  /** The bearer token /metrics asks for (`os.environ/METRICS_TOKEN` keeps it out of the file). */
  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'metrics_token must be at least 16 characters' })
  metrics_token?: string;

  /** Browser origins allowed to call the API (CORS); unset or empty: no CORS headers at all. */
  @IsOptional()
  @IsArray()
  @Matches(/^(\*|https?:\/\/[^/\s]+)$/, {
    each: true,
    message:
      'each cors_origins entry must be an origin (https://app.example.com[:port], no path) or *',
  })
  cors_origins?: string[];
}

export class GatewayConfigFile {
  @IsDefined({ message: 'required (the list of deployments)' })
  @IsArray()
  @ArrayNotEmpty({ message: 'model_list must name at least one deployment' })
  @ValidateNested({ each: true })
  @Type(() => ModelListEntry)
  model_list!: ModelListEntry[];

  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => GatewaySettings)
  gateway?: GatewaySettings;
}
