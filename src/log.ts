// The one pino root logger. Actors and modules take `logger.child({ actor, pod, ... })`
// and log a constant message with fields, so logs stay greppable and machine-readable.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createRootLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: opts.name ?? 'kubelet-ts',
    level: opts.level ?? process.env['KUBELET_TS_LOG_LEVEL'] ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** A logger that drops everything: the default for library code when the caller passes none. */
export const silentLogger: Logger = pino({ level: 'silent' });
