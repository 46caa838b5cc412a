/**
 * The byte stream under one BGP connection. The server adapts node:net sockets to it; tests use
 * `memoryPair()`. Keeping the FSM on this interface means no test needs a real socket.
 */
export interface TransportHandlers {
  data(chunk: Uint8Array): void;
  close(error?: Error): void;
  drain?(): void;
}

export interface Transport {
  /** Queues bytes; returns false when the caller should wait for `drain` before writing more. */
  send(bytes: Uint8Array): boolean;
  /** Flushes queued bytes, then closes. Idempotent. */
  close(): void;
  setHandlers(h: TransportHandlers): void;
  readonly localAddress: string;
  readonly remoteAddress: string;
}

/** Two connected in-memory transports; delivery is asynchronous (microtask), like a socket. */
export function memoryPair(aAddr = '198.18.0.1', bAddr = '198.18.0.2'): [MemoryTransport, MemoryTransport] {
  const a = new MemoryTransport(aAddr, bAddr);
  const b = new MemoryTransport(bAddr, aAddr);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

export class MemoryTransport implements Transport {
  peer: MemoryTransport | undefined;
  closed = false;
  readonly localAddress: string;
  readonly remoteAddress: string;
  /** Everything written, for assertions. */
  readonly sent: Uint8Array[] = [];
  private handlers: TransportHandlers | undefined;
  private inbox: Uint8Array[] = [];

  constructor(local: string, remote: string) {
    this.localAddress = local;
    this.remoteAddress = remote;
  }

  setHandlers(h: TransportHandlers): void {
    this.handlers = h;
    const q = this.inbox;
    this.inbox = [];
    for (const c of q) h.data(c);
  }

  send(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    this.sent.push(bytes);
    const p = this.peer;
    queueMicrotask(() => p?.deliver(bytes));
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const p = this.peer;
    queueMicrotask(() => {
      p?.remoteClosed();
      this.handlers?.close();
    });
  }

  private deliver(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.handlers) this.handlers.data(bytes);
    else this.inbox.push(bytes);
  }

  private remoteClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers?.close();
  }
}
