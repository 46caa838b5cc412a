/** node:net adapter for the FSM's Transport interface. */
import net from 'node:net';
import type { Transport, TransportHandlers } from '../fsm/index.ts';

/** `::ffff:198.18.0.1` → `198.18.0.1` (dual-stack listeners report IPv4 peers this way). */
export function plainAddress(a: string | undefined): string {
  if (!a) return '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

export class SocketTransport implements Transport {
  readonly socket: net.Socket;
  readonly localAddress: string;
  readonly remoteAddress: string;
  private handlers: TransportHandlers | undefined;
  private closed = false;
  private early: Uint8Array[] = [];

  constructor(socket: net.Socket) {
    this.socket = socket;
    this.localAddress = plainAddress(socket.localAddress);
    this.remoteAddress = plainAddress(socket.remoteAddress);
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      if (this.handlers) this.handlers.data(d);
      else this.early.push(Uint8Array.from(d));
    });
    socket.on('drain', () => this.handlers?.drain?.());
    socket.on('error', () => undefined); // 'close' follows; the FSM reports it
    socket.on('close', (hadError) => {
      this.closed = true;
      this.handlers?.close(hadError ? new Error('socket error') : undefined);
    });
  }

  setHandlers(h: TransportHandlers): void {
    this.handlers = h;
    const q = this.early;
    this.early = [];
    for (const c of q) h.data(c);
  }

  send(bytes: Uint8Array): boolean {
    if (this.closed || this.socket.destroyed) return false;
    return this.socket.write(bytes);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Let a queued NOTIFICATION go out, but never wait on a stuck peer for long.
    this.socket.end();
    const t = setTimeout(() => this.socket.destroy(), 2000);
    t.unref();
  }
}

export function dial(host: string, port: number, localAddress?: string, timeoutMs = 5000): Promise<Transport> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('connect timeout'));
    }, timeoutMs);
    timer.unref();
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(new SocketTransport(s));
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      s.destroy();
      reject(e);
    });
  });
}
