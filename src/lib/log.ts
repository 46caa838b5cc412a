/**
 * Structured logging: one pino root, one child per component.
 * Logs go to stderr so CLI output on stdout stays machine-readable.
 */
import { pino, type Logger } from 'pino';

let root: Logger | undefined;

export function rootLogger(): Logger {
  root ??= pino(
    { level: process.env.WEFT_LOG_LEVEL ?? process.env.LOG_LEVEL ?? 'warn', base: { pid: process.pid } },
    pino.destination({ dest: 2, sync: true }),
  );
  return root;
}

export function setLogLevel(level: string): void {
  rootLogger().level = level;
}

export function componentLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}

export type { Logger };
