import { EventEmitter } from 'node:events';

/**
 * Records every `'error'` event emitted with no listener. Node turns each one into an uncaught
 * exception — a crashed gateway in production — while under jest it only surfaces at the end
 * as "Test suite failed to run", blamed on no request. Watching emit lets a test name the
 * request that caused it. Observation only: the event is still emitted as before.
 */
export interface UnheardErrors {
  /** What was recorded since the last call. */
  take(): string[];
  restore(): void;
}

export function watchUnheardErrors(): UnheardErrors {
  const seen: string[] = [];
  const original = EventEmitter.prototype.emit;
  EventEmitter.prototype.emit = function emit(
    this: EventEmitter,
    name: string | symbol,
    ...args: unknown[]
  ): boolean {
    if (name === 'error' && this.listenerCount('error') === 0) {
      const error = args[0];
      const message = error instanceof Error ? error.message : String(error);
      seen.push(`${this.constructor.name} emitted 'error' (${message}) with no listener`);
    }
    return original.call(this, name, ...args);
  };
  return {
    take: () => seen.splice(0, seen.length),
    restore: () => {
      EventEmitter.prototype.emit = original;
    },
  };
}
