/**
 * BgpFramer: turns an arbitrary chunking of the TCP byte stream into whole messages. The header is
 * validated as soon as its 19 bytes are in (RFC 4271 §6.1), so a garbage length never stalls it.
 */
import { BGP_HEADER_LEN } from './constants.ts';
import { checkHeader } from './messages.ts';

export class BgpFramer {
  private buf: Uint8Array = new Uint8Array(8192);
  private start = 0;
  private end = 0;

  /**
   * Appends a chunk and returns every complete message now available (each a copy-free view that
   * stays valid until the next `push`). Throws BgpMessageError on a bad header; the stream is then
   * unusable (the session must be reset).
   */
  push(chunk: Uint8Array): Uint8Array[] {
    this.append(chunk);
    const out: Uint8Array[] = [];
    for (;;) {
      const avail = this.end - this.start;
      if (avail < BGP_HEADER_LEN) break;
      const { length } = checkHeader(this.buf, this.start);
      if (avail < length) break;
      out.push(this.buf.subarray(this.start, this.start + length));
      this.start += length;
    }
    return out;
  }

  /** Bytes received but not yet part of a whole message. */
  get pending(): number {
    return this.end - this.start;
  }

  private append(chunk: Uint8Array): void {
    if (this.end + chunk.length > this.buf.length) {
      const live = this.end - this.start;
      // Messages handed out by the previous push may still reference `buf`: always move into a new one.
      let size = this.buf.length;
      while (size < live + chunk.length) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(this.start, this.end));
      this.buf = next;
      this.start = 0;
      this.end = live;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }
}
