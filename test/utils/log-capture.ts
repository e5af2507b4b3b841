// The gateway's log lines as an operator reads them: JSON, one object per line.
import type { DestinationStream } from 'pino';

export type LogLine = Record<string, unknown> & { msg?: string; request_id?: string };

/** Every line the gateway logged, parsed (each must be one JSON object). */
export class LogCapture implements DestinationStream {
  readonly raw: string[] = [];

  write(line: string): void {
    this.raw.push(line);
  }

  lines(): LogLine[] {
    return this.raw.map((line) => JSON.parse(line) as LogLine);
  }

  /** The lines written while serving one request (they carry its id). */
  of(requestId: string): LogLine[] {
    return this.lines().filter((l) => l.request_id === requestId);
  }

  /** The access line of one request. */
  access(requestId: string): LogLine {
    const found = this.lines().filter(
      (l) => l.request_id === requestId && typeof l.route === 'string',
    );
    expect(found).toHaveLength(1);
    return found[0];
  }
}

/** The access line is written when the response ends, which can be after supertest resolves. */
export async function accessLine(logs: LogCapture, requestId: string): Promise<LogLine> {
  for (let i = 0; i < 50; i++) {
    if (logs.lines().some((l) => l.request_id === requestId && typeof l.route === 'string')) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return logs.access(requestId);
}
