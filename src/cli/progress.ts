import { formatBytes } from '../text/format.ts';
/**
 * Progress of `hookah send` on stderr. On a terminal: one line redrawn in
 * place (file n of m, a bar, bytes and speed). Otherwise (logs, CI): plain
 * lines only at milestones, so output stays readable when captured.
 */

const BAR = 24;
const REDRAW_MS = 100;
/** Below this a single upload is too quick to be worth a progress display. */
const LARGE = 8 * 1024 * 1024;


export class Progress {
  readonly #out: NodeJS.WriteStream;
  readonly #tty: boolean;
  readonly #total: number;
  readonly #enabled: boolean;
  #index = 0;
  #label = '';
  #size = 0;
  #startedAt = 0;
  #drawnAt = 0;
  #milestone = 0;
  #drawn = false;

  constructor(totalItems: number, options: { quiet?: boolean; out?: NodeJS.WriteStream } = {}) {
    this.#out = options.out ?? process.stderr;
    this.#tty = !!this.#out.isTTY && !process.env.NO_PROGRESS;
    this.#total = totalItems;
    this.#enabled = !options.quiet;
  }

  start(index: number, label: string, size: number): void {
    this.#index = index;
    this.#label = label;
    this.#size = size;
    this.#startedAt = Date.now();
    this.#drawnAt = 0;
    this.#milestone = 0;
    if (!this.#enabled) return;
    if (this.#tty) this.#draw(0);
    else if (this.#total > 1 || size >= LARGE) this.#line(`${this.#prefix()}sending ${label} (${formatBytes(size)})`);
  }

  sent(bytes: number): void {
    if (!this.#enabled || this.#size === 0) return;
    if (this.#tty) {
      const now = Date.now();
      if (now - this.#drawnAt >= REDRAW_MS || bytes === this.#size) this.#draw(bytes);
      return;
    }
    if (this.#size < LARGE) return;
    const quarter = Math.floor((bytes / this.#size) * 4);
    if (quarter > this.#milestone && quarter < 4) {
      this.#milestone = quarter;
      this.#line(`${this.#prefix()}${this.#label}: ${quarter * 25}% (${formatBytes(bytes)} of ${formatBytes(this.#size)})`);
    }
  }

  /** The outcome of the current item, e.g. "202 msg_…" or "failed: …". */
  done(outcome: string): void {
    if (!this.#enabled) return;
    this.#clear();
    if (this.#total > 1 || this.#size >= LARGE) {
      const secs = (Date.now() - this.#startedAt) / 1000;
      this.#line(`${this.#prefix()}${this.#label}: ${outcome} (${formatBytes(this.#size)} in ${secs.toFixed(1)} s)`);
    }
  }

  summary(ok: number, failed: number): void {
    if (!this.#enabled || this.#total < 2) return;
    this.#line(failed === 0 ? `sent ${ok} of ${this.#total}` : `sent ${ok} of ${this.#total}; ${failed} failed`);
  }

  #prefix(): string {
    return this.#total > 1 ? `[${this.#index}/${this.#total}] ` : '';
  }

  #draw(bytes: number): void {
    this.#drawnAt = Date.now();
    const fraction = this.#size === 0 ? 1 : Math.min(1, bytes / this.#size);
    const filled = Math.round(fraction * BAR);
    const secs = Math.max(0.001, (Date.now() - this.#startedAt) / 1000);
    const speed = `${formatBytes(Math.round(bytes / secs))}/s`;
    const text = `${this.#prefix()}${this.#label} [${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] ${Math.floor(fraction * 100)}% ${formatBytes(bytes)}/${formatBytes(this.#size)} ${speed}`;
    const width = this.#out.columns ? this.#out.columns - 1 : 120;
    this.#out.write(`\r\x1b[K${text.slice(0, width)}`);
    this.#drawn = true;
  }

  #clear(): void {
    if (this.#drawn) this.#out.write('\r\x1b[K');
    this.#drawn = false;
  }

  #line(text: string): void {
    this.#out.write(`${text}\n`);
  }
}
