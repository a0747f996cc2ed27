/**
 * A byte stream to a USB/IP server. The client needs only this, so it runs wherever a stream exists:
 * TCP in Node (`uhci/node`, `connectUsbipTcp`), a WebSocket through a relay in a browser, a socket
 * pair in tests (`usbip/testing/`).
 */
export interface UsbipTransport {
  /** Sends bytes in order. The transport may keep `bytes` until written: the caller never reuses it. */
  send(bytes: Uint8Array): void;
  /** Bytes from the server, in order, in chunks of any size. Set by the client. */
  onData: ((chunk: Uint8Array) => void) | null;
  /** The stream ended (the server closed it, or it failed: `error`). Called at most once. Set by the client. */
  onClose: ((error: Error | null) => void) | null;
  /** Ends the stream from this side; `onClose` is not called for it. Idempotent. */
  close(): void;
}

/** Opens a fresh stream to the server (one per list, one per imported device, one per reconnect). */
export type UsbipConnect = () => Promise<UsbipTransport>;
