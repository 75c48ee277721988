import { type Logger, pino } from "pino";

/** JSON logs to stdout; level from LOG_LEVEL (default info). */
export function createLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    name: component,
    level: process.env.LOG_LEVEL ?? "info",
    base: { component, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

export type { Logger };
