/**
 * Progress line on stderr. On a TTY: one line redrawn in place, with a bar.
 * Otherwise (CI, a pipe, a file): a plain line every `everyMs`, so logs stay
 * readable and do not fill with carriage returns.
 */
export interface ProgressStream { isTTY?: boolean; columns?: number; write(s: string): boolean }

export class Progress {
  private lastPlain = -Infinity;
  private drawn = false;

  constructor(private readonly out: ProgressStream = process.stderr, private readonly everyMs = 10_000) {}

  /** `fraction` 0..1 of the whole run; `text` what is happening now. */
  update(fraction: number, text: string, now = Date.now()): void {
    const f = Math.min(1, Math.max(0, fraction));
    if (this.out.isTTY) {
      const cols = this.out.columns ?? 100;
      const barW = Math.max(10, Math.min(30, cols - text.length - 12));
      const full = Math.round(f * barW);
      const line = `[${'#'.repeat(full)}${'-'.repeat(barW - full)}] ${String(Math.round(f * 100)).padStart(3)}% ${text}`;
      this.out.write(`\r${line.slice(0, cols - 1)}\x1b[K`);
      this.drawn = true;
    } else if (now - this.lastPlain >= this.everyMs) {
      this.lastPlain = now;
      this.out.write(`[${String(Math.round(f * 100)).padStart(3)}%] ${text}\n`);
    }
  }

  /** A message on its own line (the bar is redrawn on the next update). */
  log(s: string): void {
    if (this.drawn) this.out.write('\r\x1b[K');
    this.out.write(s + '\n');
  }

  done(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
