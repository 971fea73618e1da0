import { catchErrors, HttpError } from '../../http/errors.ts';
import type { Logger } from '../../log.ts';

/**
 * The webhook queue's own error shape, `{"message": …, "refresh": bool}`,
 * as its clients expect; `error` carries the same text for clients written
 * against the rest of Hookah's API.
 */
export class QueueError extends HttpError {
  constructor(
    status: number,
    message: string,
    readonly refresh = false,
  ) {
    super(status, message);
  }
}

export function queueErrors(log: Logger) {
  return catchErrors(log, (message, err) => ({ message, refresh: err instanceof QueueError ? err.refresh : false, error: message }));
}
