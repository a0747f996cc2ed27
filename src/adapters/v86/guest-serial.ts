/**
 * The bundled guest's serial protocol (guest-image/README.md): every machine-readable line is
 * `@@UHCI {json}`; a blob's base64 payload follows `blob-begin` on plain lines until `blob-end`.
 * The parser never throws on what the guest prints.
 */
export interface GuestEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

export const EVENT_PREFIX = "@@UHCI ";

export class GuestSerialParser {
  readonly events: GuestEvent[] = [];
  readonly blobs = new Map<string, Uint8Array>();
  /** Console lines that are not protocol lines (kernel messages, shell output). */
  readonly consoleLines: string[] = [];
  private line: number[] = [];
  private blobName: string | null = null;
  private blobParts: string[] = [];

  constructor(private readonly onEvent: (event: GuestEvent) => void = () => {}) {}

  /** Feeds one byte of serial output. */
  byte(value: number): void {
    if (value === 0x0a) {
      this.endLine(String.fromCharCode(...this.line));
      this.line = [];
    } else if (value !== 0x0d && this.line.length < 1 << 20) {
      this.line.push(value & 0xff);
    }
  }

  private endLine(text: string): void {
    if (!text.startsWith(EVENT_PREFIX)) {
      if (this.blobName !== null) this.blobParts.push(text.trim());
      else this.consoleLines.push(text);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text.slice(EVENT_PREFIX.length));
    } catch {
      parsed = { event: "malformed", line: text };
    }
    const event: GuestEvent =
      typeof parsed === "object" &&
      parsed !== null &&
      typeof (parsed as { event?: unknown }).event === "string"
        ? (parsed as GuestEvent)
        : { event: "malformed", line: text };
    if (event.event === "blob-begin" && typeof event["name"] === "string") {
      this.blobName = event["name"];
      this.blobParts = [];
    } else if (event.event === "blob-end" && this.blobName !== null) {
      this.blobs.set(this.blobName, new Uint8Array(Buffer.from(this.blobParts.join(""), "base64")));
      this.blobName = null;
      this.blobParts = [];
    }
    this.events.push(event);
    this.onEvent(event);
  }
}
