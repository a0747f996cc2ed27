/**
 * Progress on stderr: one line rewritten in place on a terminal, plain lines elsewhere (CI logs; a
 * message repeated there is written once), and nothing at all when quiet. Reports go to stdout, so `--json` output stays clean.
 */
export class Progress {
  private readonly tty: boolean;
  private lastLength = 0;
  private lastMessage = "";
  private readonly started = performance.now();

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {
    this.tty = stream.isTTY === true;
  }

  /** Seconds since this progress display was made. */
  get elapsed(): number {
    return (performance.now() - this.started) / 1000;
  }

  /** Shows a status line (replacing the last one on a terminal). */
  update(message: string): void {
    if (this.quiet) return;
    // In a log, a status said again (the boot wait repeats "booting Linux…" each second, 60 lines
    // under load) adds nothing; on a terminal the repeat moves the clock on in place.
    if (!this.tty && message === this.lastMessage) return;
    this.lastMessage = message;
    const line = `[${this.elapsed.toFixed(1).padStart(5)} s] ${message}`;
    if (this.tty) {
      this.stream.write(`\r${line.padEnd(this.lastLength)}`);
      this.lastLength = line.length;
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  /** Ends the status line so the next output starts on a fresh line. */
  done(): void {
    if (this.quiet || !this.tty || this.lastLength === 0) return;
    this.stream.write("\n");
    this.lastLength = 0;
  }
}
