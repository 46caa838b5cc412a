/**
 * RouteManager: makes the kernel's routes with Weft's protocol equal to the union of the
 * desired route sources ("model" from the calc graph; "bgp" for routes the BGP speaker learns).
 * Every apply lists the kernel (one `ip -json route` per family), so drift (a route deleted by
 * hand) is repaired on the next apply or periodic resync; routes of other protocols are never
 * touched because RouteTable lists and deletes by protocol only.
 */
import { canonicalCIDR } from '../../lib/ip.ts';
import type { Logger } from '../../lib/log.ts';
import { componentLogger } from '../../lib/log.ts';
import { routeFamily, routeKey, type KernelRoute, type RouteTable } from '../netlink/index.ts';
import type { DpRoute } from './model.ts';

export function kernelRouteFor(r: DpRoute): KernelRoute | undefined {
  const dst = canonicalCIDR(r.dst, { allowBare: true });
  if (dst === undefined) return undefined;
  switch (r.type) {
    case 'local-workload':
      return r.interfaceName === undefined ? undefined : { dst, type: 'unicast', dev: r.interfaceName, scope: 'link' };
    case 'local-block':
      // Blackhole for the local affine block: traffic to unallocated addresses dies here instead
      // of looping back to the fabric (calico route_mgr blackholeRoutes, calico-notes §2.6).
      return { dst, type: 'blackhole' };
    case 'remote-block':
    case 'remote-workload':
      return r.gateway === undefined ? undefined : { dst, type: 'unicast', gateway: r.gateway };
  }
}

export interface RouteApplyResult {
  replaced: number;
  deleted: number;
  failed: number;
}

/** Sources in precedence order: for the same destination, an earlier source wins. */
const SOURCE_ORDER = ['model', 'bgp'];

export class RouteManager {
  readonly #rt: RouteTable;
  readonly #log: Logger;
  readonly #sources = new Map<string, KernelRoute[]>();
  #dirty = true;
  /** Kernel routes as of the last apply (undefined = read the kernel next time). */
  #observed: Map<string, KernelRoute>[] | undefined;

  constructor(rt: RouteTable, logger?: Logger) {
    this.#rt = rt;
    this.#log = logger ?? componentLogger('routes');
  }

  get dirty(): boolean {
    return this.#dirty;
  }

  markForResync(): void {
    this.#observed = undefined;
    this.#dirty = true;
  }

  /** Replaces the routes of one source (e.g. 'model', 'bgp'). Cheap: applied later. */
  setSource(source: string, routes: readonly KernelRoute[]): void {
    this.#sources.set(source, routes.map((r) => ({ ...r })));
    this.#dirty = true;
  }

  desired(): Map<string, KernelRoute> {
    const out = new Map<string, KernelRoute>();
    const names = [...this.#sources.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    for (const n of names) for (const r of this.#sources.get(n) ?? []) if (!out.has(r.dst)) out.set(r.dst, r);
    return out;
  }

  async apply(): Promise<RouteApplyResult> {
    const want = this.desired();
    const res: RouteApplyResult = { replaced: 0, deleted: 0, failed: 0 };
    // Between resyncs the kernel is assumed to hold what the last apply left (no `ip route` dump per change).
    const observed = this.#observed ?? [];
    const fresh = this.#observed === undefined;
    for (const fam of [4, 6] as const) {
      let have = observed[fam];
      if (fresh || have === undefined) {
        have = new Map<string, KernelRoute>();
        for (const r of await this.#rt.list(fam)) have.set(r.dst, r);
        observed[fam] = have;
      }
      for (const [dst, r] of have) {
        if (want.has(dst)) continue;
        try {
          await this.#rt.del(r);
          have.delete(dst);
          res.deleted++;
        } catch (e) {
          res.failed++;
          this.#log.warn({ dst, err: (e as Error).message }, 'route delete failed; will retry');
        }
      }
      for (const [dst, r] of want) {
        if (routeFamily(dst) !== fam) continue;
        const cur = have.get(dst);
        if (cur !== undefined && routeKey(cur) === routeKey(r)) continue;
        try {
          await this.#rt.replace(r);
          have.set(dst, r);
          res.replaced++;
        } catch (e) {
          // Typically the workload's interface does not exist yet: retried on the next pass.
          res.failed++;
          this.#log.debug({ dst, err: (e as Error).message }, 'route replace failed; will retry');
        }
      }
    }
    this.#observed = observed;
    this.#dirty = res.failed > 0;
    return res;
  }
}

function rank(source: string): number {
  const i = SOURCE_ORDER.indexOf(source);
  return i === -1 ? SOURCE_ORDER.length : i;
}
