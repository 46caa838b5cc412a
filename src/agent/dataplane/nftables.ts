/**
 * NftablesManager: keeps Weft's table equal to the rendered TableDef.
 *
 * - `apply()`: diff desired against the cached observed state; one atomic transaction.
 * - `resync()`: re-read the kernel (`nft -j list`) first — repairs drift and sweeps objects Weft
 *   no longer renders. The first apply after start is always a resync, so a restarted agent
 *   reconverges against what is there instead of flushing it (felix restart doctrine).
 * - Failures: the next attempt re-reads the kernel; after `rebuildAfterFailures` consecutive
 *   failures the whole table is replaced in one transaction (felix nftables rebuild).
 */
import type { Logger } from '../../lib/log.ts';
import { componentLogger } from '../../lib/log.ts';
import type { NftRunner } from '../netlink/index.ts';
import { diffTable, observedFromDesired, observedFromJson, rebuildScript, type DiffStats, type ObservedTable } from './nftdiff.ts';
import { TABLE_FAMILY, TABLE_NAME, emptyTable, type TableDef } from './nftmodel.ts';

export interface NftApplyResult {
  changed: boolean;
  stats?: DiffStats;
  rebuilt?: boolean;
}

export interface NftablesManagerOptions {
  nft: NftRunner;
  logger?: Logger;
  rebuildAfterFailures?: number;
  /** Called with each script before it is applied (tests, debug dumps). */
  onScript?: (script: string) => void;
}

export class NftablesManager {
  readonly #nft: NftRunner;
  readonly #log: Logger;
  readonly #rebuildAfter: number;
  readonly #onScript: ((s: string) => void) | undefined;
  #desired: TableDef = emptyTable();
  #observed: ObservedTable | undefined;
  #failures = 0;
  #dirty = true;

  constructor(opts: NftablesManagerOptions) {
    this.#nft = opts.nft;
    this.#log = opts.logger ?? componentLogger('nftables');
    this.#rebuildAfter = opts.rebuildAfterFailures ?? 3;
    this.#onScript = opts.onScript;
  }

  setDesired(t: TableDef): void {
    this.#desired = t;
    this.#dirty = true;
  }

  get desired(): TableDef {
    return this.#desired;
  }

  /** True when a change is pending (or the last attempt failed). */
  get dirty(): boolean {
    return this.#dirty;
  }

  /** Forget the cache: the next apply reads the kernel first. */
  markForResync(): void {
    this.#observed = undefined;
    this.#dirty = true;
  }

  async resync(): Promise<NftApplyResult> {
    this.markForResync();
    return this.apply();
  }

  async apply(): Promise<NftApplyResult> {
    if (!this.#dirty && this.#observed !== undefined) return { changed: false };
    try {
      if (this.#failures >= this.#rebuildAfter) {
        const listing = await this.#nft.listTable(TABLE_FAMILY, TABLE_NAME);
        const script = rebuildScript(this.#desired, listing !== undefined);
        this.#onScript?.(script);
        await this.#nft.apply(script);
        this.#log.warn({ failures: this.#failures }, 'rebuilt nftables table after repeated failures');
        this.#done();
        return { changed: true, rebuilt: true };
      }
      if (this.#observed === undefined) {
        this.#observed = observedFromJson(await this.#nft.listTable(TABLE_FAMILY, TABLE_NAME), TABLE_FAMILY, TABLE_NAME);
      }
      const { script, stats } = diffTable(this.#desired, this.#observed);
      if (script === '') {
        this.#done();
        return { changed: false, stats };
      }
      this.#onScript?.(script);
      await this.#nft.apply(script);
      this.#done();
      return { changed: true, stats };
    } catch (e) {
      this.#failures++;
      this.#observed = undefined;
      this.#dirty = true;
      throw e;
    }
  }

  #done(): void {
    this.#observed = observedFromDesired(this.#desired);
    this.#failures = 0;
    this.#dirty = false;
  }
}
