import { packagesLoaded } from '../common/testing/packages-loaded';
import { tracesRequested } from './tracing';

/** The @opentelemetry packages that loading start-tracing.ts (main.ts's first import) loads. */
function openTelemetryLoaded(env: Record<string, string>): string[] {
  return packagesLoaded("require('./src/observability/start-tracing');", env).filter((name) =>
    name.startsWith('@opentelemetry/'),
  );
}

describe('tracesRequested', () => {
  it('should stay off when no OTEL variable asks for traces', () => {
    expect(tracesRequested({})).toBe(false);
    expect(tracesRequested({ OTEL_SERVICE_NAME: 'gw', OTEL_EXPORTER_OTLP_ENDPOINT: ' ' })).toBe(
      false,
    );
  });

  it('should turn on for an OTLP endpoint, for all signals or for traces alone', () => {
    expect(tracesRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(
      tracesRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }),
    ).toBe(true);
  });

  it('should turn on for an exporter named in OTEL_TRACES_EXPORTER', () => {
    expect(tracesRequested({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true);
    expect(tracesRequested({ OTEL_TRACES_EXPORTER: 'otlp' })).toBe(true);
  });

  it('should stay off when OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none says so, endpoint or not', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    expect(tracesRequested({ ...endpoint, OTEL_SDK_DISABLED: 'true' })).toBe(false);
    expect(tracesRequested({ ...endpoint, OTEL_SDK_DISABLED: 'TRUE' })).toBe(false);
    expect(tracesRequested({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' })).toBe(false);
    expect(tracesRequested({ ...endpoint, OTEL_SDK_DISABLED: 'false' })).toBe(true);
  });
});

describe('start-tracing', () => {
  it('should load no OpenTelemetry package at all when tracing is off', () => {
    expect(openTelemetryLoaded({})).toEqual([]);
  }, 30_000);

  it('should load the SDK and the instrumentations when an endpoint is set', () => {
    expect(
      openTelemetryLoaded({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
        OTEL_SDK_DISABLED: 'false',
      }),
    ).toEqual(
      expect.arrayContaining([
        '@opentelemetry/sdk-node',
        '@opentelemetry/instrumentation-http',
        '@opentelemetry/instrumentation-undici',
        '@opentelemetry/instrumentation-pg',
        '@opentelemetry/instrumentation-express',
      ]),
    );
  }, 30_000);
});
