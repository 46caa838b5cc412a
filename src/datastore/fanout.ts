/**
 * Watch fan-out shared by the backends that produce a single ordered stream of store events
 * (memory, SQLite): per-watcher prefix filter, "next expected revision" de-duplication, and
 * asynchronous in-order delivery (a handler never runs inside the call that produced the event).
 */
import type { WatchEvent, WatchHandlers } from './types.ts';

export interface FanoutWatcher {
  readonly prefix: string;
  readonly handlers: WatchHandlers;
  /** Next revision to deliver; anything below has been delivered (or skipped) already. */
  next: number;
  dead: boolean;
  queue: WatchEvent[][];
  scheduled: boolean;
  onDead?: () => void;
}

export class Fanout {
  readonly watchers = new Set<FanoutWatcher>();

  add(prefix: string, handlers: WatchHandlers, next: number): FanoutWatcher {
    const w: FanoutWatcher = { prefix, handlers, next, dead: false, queue: [], scheduled: false };
    this.watchers.add(w);
    return w;
  }

  remove(w: FanoutWatcher): void {
    w.dead = true;
    this.watchers.delete(w);
  }

  get size(): number {
    return this.watchers.size;
  }

  /** Offers one store transaction's events (all with the same revision, or ascending) to every watcher. */
  offerAll(events: WatchEvent[]): void {
    for (const w of this.watchers) this.offer(w, events);
  }

  offer(w: FanoutWatcher, events: WatchEvent[]): void {
    if (w.dead) return;
    const mine = events.filter((ev) => ev.revision >= w.next && ev.key.startsWith(w.prefix));
    if (mine.length === 0) return;
    w.next = mine[mine.length - 1].revision + 1;
    w.queue.push(mine);
    this.#schedule(w);
  }

  /** Ends a watcher with onError (asynchronously, after already-queued events). */
  fail(w: FanoutWatcher, reason: 'compacted' | 'error', err: Error): void {
    if (w.dead) return;
    this.remove(w);
    queueMicrotask(() => {
      // Deliver what was already queued first: those events precede the failure.
      while (w.queue.length > 0) Fanout.#call(w, w.queue.shift()!);
      try {
        w.handlers.onError(reason, err);
      } catch {
        // handler errors must not break the store
      }
    });
  }

  failAll(reason: 'compacted' | 'error', err: Error): void {
    for (const w of [...this.watchers]) this.fail(w, reason, err);
  }

  #schedule(w: FanoutWatcher): void {
    if (w.scheduled) return;
    w.scheduled = true;
    queueMicrotask(() => {
      w.scheduled = false;
      while (!w.dead && w.queue.length > 0) Fanout.#call(w, w.queue.shift()!);
    });
  }

  static #call(w: FanoutWatcher, batch: WatchEvent[]): void {
    try {
      w.handlers.onEvents(batch);
    } catch {
      // A throwing handler must not break the store or other watchers.
    }
  }
}
