import {
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { map, type Observable } from 'rxjs';
import { IdCodecService } from './id-codec.service';
import { InternalRef } from './internal-ref';

/** Replaces every InternalRef in a handler's result with its unified id. */
@Injectable()
export class EncodeIdsInterceptor implements NestInterceptor {
  constructor(private readonly ids: IdCodecService) {}

  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(map((value: unknown) => this.encode(value)));
  }

  private encode(value: unknown): unknown {
    if (value instanceof InternalRef) {
      return this.ids.encode(value.payload);
    }
    if (Array.isArray(value)) {
      return value.map((item) => this.encode(item));
    }
    if (
      value !== null &&
      typeof value === 'object' &&
      Object.getPrototypeOf(value) === Object.prototype
    ) {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        out[key] = this.encode(item);
      }
      return out;
    }
    return value;
  }
}
