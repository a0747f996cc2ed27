/**
 * The bundled guest's serial protocol (guest-image/README.md): every machine-readable line is
 * `@@UHCI {json}`; a blob's base64 payload follows `blob-begin` on plain lines until `blob-end`.
 * The parser never throws on what the guest prints: a line longer than {@link MAX_LINE_BYTES} is cut
 * (and counted), bytes that are not UTF-8 decode to U+FFFD, a protocol line that is not a JSON object
 * with a string `event` becomes a `malformed` event, and a blob larger than {@link MAX_BLOB_CHARS}
 * is dropped with a `malformed` event rather than exhausting memory.
 */
export interface GuestEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

export const EVENT_PREFIX = "@@UHCI ";

/** Bytes kept of one line; the rest of the line is dropped. Far above any line our guest prints. */
export const MAX_LINE_BYTES = 1 << 20;
/** Base64 characters kept of one blob (192 MiB of data): minutes of 48 kHz stereo capture fit. */
export const MAX_BLOB_CHARS = 256 * 1024 * 1024;
/** Console lines kept (the newest): enough for an error report, bounded for a long `uhci shell`. */
export const MAX_CONSOLE_LINES = 1000;

export class GuestSerialParser {
  readonly events: GuestEvent[] = [];
  readonly blobs = new Map<string, Uint8Array>();
  /** The newest console lines that are not protocol lines (kernel messages, shell output). */
  readonly consoleLines: string[] = [];
  /** Lines longer than {@link MAX_LINE_BYTES}, kept cut. */
  truncatedLines = 0;
  private line = new Uint8Array(256);
  private lineLength = 0;
  private lineCut = false;
  private readonly decoder = new TextDecoder("utf-8", { fatal: false });
  private blobName: string | null = null;
  private blobParts: string[] = [];
  private blobChars = 0;

  constructor(private readonly onEvent: (event: GuestEvent) => void = () => {}) {}

  /** Feeds one byte of serial output. */
  byte(value: number): void {
    if (value === 0x0a) {
      if (this.lineCut) this.truncatedLines++;
      const text = this.decoder.decode(this.line.subarray(0, this.lineLength));
      this.lineLength = 0;
      this.lineCut = false;
      this.endLine(text);
    } else if (value !== 0x0d) {
      if (this.lineLength === this.line.length) {
        if (this.line.length >= MAX_LINE_BYTES) {
          this.lineCut = true;
          return;
        }
        const grown = new Uint8Array(Math.min(this.line.length * 2, MAX_LINE_BYTES));
        grown.set(this.line);
        this.line = grown;
      }
      this.line[this.lineLength++] = value & 0xff;
    }
  }

  private endLine(text: string): void {
    if (!text.startsWith(EVENT_PREFIX)) {
      if (this.blobName !== null) this.blobLine(text.trim());
      else {
        if (this.consoleLines.length >= MAX_CONSOLE_LINES) this.consoleLines.shift();
        this.consoleLines.push(text);
      }
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text.slice(EVENT_PREFIX.length));
    } catch {
      parsed = undefined;
    }
    const event: GuestEvent =
      typeof parsed === "object" &&
      parsed !== null &&
      !Array.isArray(parsed) &&
      typeof (parsed as { event?: unknown }).event === "string"
        ? (parsed as GuestEvent)
        : { event: "malformed", line: text.slice(0, 200) };
    if (event.event === "blob-begin" && typeof event["name"] === "string") {
      this.blobName = event["name"];
      this.blobParts = [];
      this.blobChars = 0;
    } else if (event.event === "blob-end" && this.blobName !== null) {
      // Node's base64 decoder skips characters outside the alphabet instead of throwing.
      this.blobs.set(this.blobName, new Uint8Array(Buffer.from(this.blobParts.join(""), "base64")));
      this.blobName = null;
      this.blobParts = [];
    }
    this.emit(event);
  }

  private blobLine(text: string): void {
    this.blobChars += text.length;
    if (this.blobChars <= MAX_BLOB_CHARS) {
      this.blobParts.push(text);
      return;
    }
    const name = this.blobName;
    this.blobName = null;
    this.blobParts = [];
    this.emit({
      event: "malformed",
      line: `blob '${name}' longer than ${MAX_BLOB_CHARS} characters: dropped`,
    });
  }

  private emit(event: GuestEvent): void {
    this.events.push(event);
    this.onEvent(event);
  }
}
