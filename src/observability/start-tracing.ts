import { startTracing } from './tracing';

// main.ts imports this module first, before anything it would instrument is loaded. The OTEL_*
// variables belong to the OpenTelemetry SDK, which reads them itself; they are not the app's
// config, and they are needed before the config is loaded.
// eslint-disable-next-line no-restricted-syntax
startTracing(process.env);
