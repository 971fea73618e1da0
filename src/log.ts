import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout (pino), one logger per process with a child per module. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino({ level, base: { app: 'hookah' }, timestamp: pino.stdTimeFunctions.isoTime }, destination ?? process.stdout);
}
