/**
 * Dataplane driver: the apply loop between the calculation graph and the kernel.
 *
 * Contract (felix, calico-notes §2.4):
 * - `update(model)` is cheap: it renders nothing and touches no kernel, it only records the
 *   latest model and schedules an apply. Bursts coalesce: one apply covers every update that
 *   arrived while the previous one ran.
 * - Nothing is written to the kernel before `setInSync()` (the first datastore in-sync), so a
 *   restarted agent never programs a partial view over a complete one.
 * - Apply order: interface sysctls → nftables (sets, chains, maps in one transaction) → routes.
 * - Failures are logged, retried with backoff, never fatal; every `refreshIntervalMs` a resync
 *   re-reads the kernel and repairs drift.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import type { Logger } from '../../lib/log.ts';
import { componentLogger } from '../../lib/log.ts';
import type { KernelRoute, LinkOps, NftRunner, RouteTable } from '../netlink/index.ts';
import { emptyModel, type DataplaneModel } from './model.ts';
import { NftablesManager, type NftApplyResult } from './nftables.ts';
import { RenderCache, renderTable } from './render.ts';
import { RouteManager, kernelRouteFor, type RouteApplyResult } from './routes.ts';

export interface DataplaneOptions {
  nft: NftRunner;
  routes: RouteTable;
  /** For per-interface sysctls of workload veths; omitted = not managed here. */
  links?: LinkOps;
  /** Periodic drift repair (felix IptablesRefreshInterval/RouteRefreshInterval). Default 90 s; 0 disables. */
  refreshIntervalMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  registry?: Registry;
  logger?: Logger;
  onScript?: (script: string) => void;
}

export interface ApplyReport {
  nft: NftApplyResult;
  routes: RouteApplyResult;
  ms: number;
}

export class Dataplane {
  readonly #nftMgr: NftablesManager;
  readonly #routeMgr: RouteManager;
  readonly #links: LinkOps | undefined;
  readonly #log: Logger;
  readonly #refreshMs: number;
  readonly #retryMin: number;
  readonly #retryMax: number;
  readonly #applyHist: Histogram;
  readonly #failCount: Counter;
  #model: DataplaneModel = emptyModel();
  #modelDirty = false;
  #inSync = false;
  #running: Promise<void> | undefined;
  #again = false;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #refreshTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #sysctlDone = new Set<string>();
  /**
   * Interfaces that may carry a workload's route: admin up and operationally UP (or UNKNOWN, as
   * tun/tap devices report). felix's route table programs routes only for interfaces in that state:
   * a veth whose workload side is not up yet has no configured address behind it, and a route there
   * makes the host ARP into the void (a failed neighbour entry then costs a second per retry).
   * undefined = not known (no LinkOps, or the listing failed): routes are not held back.
   */
  #usableIfaces: Set<string> | undefined;
  #linksStale = true;
  /** Interfaces of the model already re-listed for since they appeared (one listing each). */
  #ifacesChecked = new Set<string>();
  /** The model's kernel routes, before holding back those of unusable interfaces. */
  #modelRoutes: KernelRoute[] = [];
  #heldRoutes = 0;
  #heldRetries = 0;
  readonly #renderCache = new RenderCache();
  #waiters: (() => void)[] = [];
  #lastReport: ApplyReport | undefined;
  #applies = 0;

  constructor(opts: DataplaneOptions) {
    this.#log = opts.logger ?? componentLogger('dataplane');
    this.#nftMgr = new NftablesManager({ nft: opts.nft, logger: this.#log, onScript: opts.onScript });
    this.#routeMgr = new RouteManager(opts.routes, this.#log);
    this.#links = opts.links;
    this.#refreshMs = opts.refreshIntervalMs ?? 90_000;
    this.#retryMin = opts.retryMinMs ?? 100;
    this.#retryMax = opts.retryMaxMs ?? 10_000;
    const registry = opts.registry ?? new Registry();
    this.#applyHist = new Histogram({
      name: 'weft_dataplane_apply_seconds', help: 'Time to apply one dataplane update (nftables + routes)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry],
    });
    this.#failCount = new Counter({ name: 'weft_dataplane_apply_failures_total', help: 'Failed dataplane applies', registers: [registry] });
  }

  get inSync(): boolean {
    return this.#inSync;
  }

  get lastReport(): ApplyReport | undefined {
    return this.#lastReport;
  }

  /** True while the latest apply failed and is being retried (endpoint status `error`). */
  get failing(): boolean {
    return this.#failures > 0;
  }

  /** Number of successful applies (kernel programming passes). */
  get applies(): number {
    return this.#applies;
  }

  /** Latest model from the calc graph. Cheap; programming happens asynchronously. */
  update(model: DataplaneModel): void {
    this.#model = model;
    this.#modelDirty = true;
    this.#heldRetries = 0;
    this.#schedule();
  }

  /** Routes owned by another component (the BGP speaker's learned routes). */
  setRoutes(source: string, routes: readonly KernelRoute[]): void {
    this.#routeMgr.setSource(source, routes);
    this.#schedule();
  }

  /** The first datastore in-sync: from now on the kernel may be programmed. */
  setInSync(): void {
    if (this.#inSync) return;
    this.#inSync = true;
    this.#log.info('in sync: programming the dataplane');
    if (this.#refreshMs > 0 && this.#refreshTimer === undefined) {
      this.#refreshTimer = setInterval(() => this.resync(), this.#refreshMs);
      this.#refreshTimer.unref();
    }
    this.#schedule();
  }

  /**
   * An interface appeared or changed (the link monitor's netlink events, as felix's ifacemonitor
   * feeds its route and sysctl managers). Work waiting for a missing interface (a workload's /32
   * route, its sysctls) is retried now rather than at the next timed retry, which matters when the
   * endpoint is stored before its veth exists (Docker's CreateEndpoint comes before Join).
   * A failure back-off is left alone.
   */
  linksChanged(): void {
    this.#linksStale = true;
    this.#heldRetries = 0;
    if (this.#stopped || !this.#inSync || this.#failures > 0) return;
    // Re-evaluated even when nothing waits: an interface that went down loses its route.
    if (!this.#routeMgr.dirty && !this.#sysctlsPending() && this.#links === undefined) return;
    if (this.#retryTimer !== undefined) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
    }
    this.#schedule();
  }

  /**
   * Re-lists links when a link event (or a resync) made the known state stale, or when the model
   * names an interface not known to be usable that has not been looked for yet. True = re-listed.
   */
  async #refreshLinks(): Promise<boolean> {
    if (this.#links === undefined) return false;
    let need = this.#linksStale;
    const devs = new Set<string>();
    for (const r of this.#modelRoutes) if (r.dev !== undefined) devs.add(r.dev);
    for (const d of this.#ifacesChecked) if (!devs.has(d)) this.#ifacesChecked.delete(d);
    if (!need && this.#usableIfaces !== undefined) {
      for (const d of devs) if (!this.#usableIfaces.has(d) && !this.#ifacesChecked.has(d)) { need = true; break; }
    }
    if (!need) return false;
    this.#linksStale = false;
    for (const d of devs) this.#ifacesChecked.add(d);
    try {
      const links = await this.#links.listLinks();
      this.#usableIfaces = new Set(links.filter((l) => l.up && (l.oper === undefined || l.oper === 'UP' || l.oper === 'UNKNOWN')).map((l) => l.name));
    } catch (e) {
      this.#log.warn({ err: (e as Error).message }, 'cannot list links; workload routes are programmed without checking interface state');
      this.#usableIfaces = undefined;
    }
    return true;
  }

  #sysctlsPending(): boolean {
    if (this.#links === undefined) return false;
    for (const ep of this.#model.endpoints.values()) if (!this.#sysctlDone.has(ep.interfaceName)) return true;
    return false;
  }

  /** Re-read the kernel and repair drift on the next apply. */
  resync(): void {
    this.#nftMgr.markForResync();
    this.#routeMgr.markForResync();
    this.#linksStale = true;
    this.#sysctlDone.clear();
    this.#schedule();
  }

  /** Resolves when everything requested so far has been applied successfully (or on stop). */
  flush(): Promise<void> {
    if (!this.#inSync || this.#stopped || (!this.#pending() && this.#running === undefined)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    if (this.#refreshTimer !== undefined) clearInterval(this.#refreshTimer);
    await this.#running;
    for (const w of this.#waiters.splice(0)) w();
  }

  #pending(): boolean {
    return this.#modelDirty || this.#nftMgr.dirty || this.#routeMgr.dirty;
  }

  #schedule(): void {
    if (!this.#inSync || this.#stopped) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    if (this.#retryTimer !== undefined) return;
    this.#running = this.#loop();
  }

  async #loop(): Promise<void> {
    try {
      await this.#loopBody();
    } finally {
      // Cleared before waiters run, so an update() they make starts a fresh loop (no lost wake-up).
      this.#running = undefined;
    }
    if (this.#failures === 0) for (const w of this.#waiters.splice(0)) w();
  }

  async #loopBody(): Promise<void> {
    do {
      this.#again = false;
      try {
        await this.#applyOnce();
        this.#failures = 0;
      } catch (e) {
        this.#failures++;
        this.#failCount.inc();
        const delay = Math.min(this.#retryMax, this.#retryMin * 2 ** Math.min(this.#failures - 1, 16));
        this.#log.warn({ err: (e as Error).message, retryInMs: delay, failures: this.#failures }, 'dataplane apply failed; retrying');
        if (!this.#stopped) {
          this.#retryTimer = setTimeout(() => {
            this.#retryTimer = undefined;
            this.#schedule();
          }, delay);
        }
        return;
      }
    } while (this.#again && !this.#stopped);
    // Everything requested so far has been attempted successfully (routes to interfaces that do not
    // exist yet may still be pending; they are retried shortly, without holding up waiters).
    if (!this.#stopped && this.#routeMgr.dirty && this.#retryTimer === undefined) {
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.#schedule();
      }, this.#retryMin * 5);
      this.#retryTimer.unref();
    } else if (!this.#stopped && this.#heldRoutes > 0 && this.#retryTimer === undefined) {
      // Routes held for interfaces that are not up: link events normally bring them in; this
      // backed-off re-check covers a missing or dead link monitor.
      const delay = Math.min(30_000, this.#retryMin * 5 * 2 ** Math.min(this.#heldRetries++, 6));
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.#linksStale = true;
        this.#schedule();
      }, delay);
      this.#retryTimer.unref();
    }
  }

  async #applyOnce(): Promise<void> {
    const started = performance.now();
    let routesChanged = false;
    if (this.#modelDirty) {
      this.#modelDirty = false;
      this.#nftMgr.setDesired(renderTable(this.#model, this.#renderCache));
      const modelRoutes: KernelRoute[] = [];
      for (const r of this.#model.routes) {
        const k = kernelRouteFor(r);
        if (k !== undefined) modelRoutes.push(k);
      }
      this.#modelRoutes = modelRoutes;
      routesChanged = true;
    }
    if (await this.#refreshLinks()) routesChanged = true;
    if (routesChanged) {
      const usable = this.#usableIfaces;
      const routes = usable === undefined ? this.#modelRoutes : this.#modelRoutes.filter((r) => r.dev === undefined || usable.has(r.dev));
      this.#heldRoutes = this.#modelRoutes.length - routes.length;
      this.#routeMgr.setSource('model', routes);
    }
    // nftables and routes in parallel (felix applies routes and iptables concurrently): a route that
    // lands before its endpoint's rules is harmless because unknown workload interfaces fail closed.
    // Sysctls last: plumbing normally set them already, so they must not delay a first packet.
    const [nftRes, routesRes] = await Promise.allSettled([this.#nftMgr.apply(), this.#routeMgr.apply()]);
    if (nftRes.status === 'rejected') throw nftRes.reason;
    if (routesRes.status === 'rejected') throw routesRes.reason;
    const nft = nftRes.value;
    const routes = routesRes.value;
    await this.#ensureSysctls();
    const ms = performance.now() - started;
    this.#applyHist.observe(ms / 1000);
    this.#applies++;
    this.#lastReport = { nft, routes, ms };
    if (nft.changed || routes.replaced + routes.deleted > 0) {
      this.#log.debug({ ms: Math.round(ms), nft: nft.stats, routes }, 'dataplane applied');
    }
  }

  async #ensureSysctls(): Promise<void> {
    if (this.#links === undefined) return;
    for (const ep of this.#model.endpoints.values()) {
      const i = ep.interfaceName;
      if (this.#sysctlDone.has(i)) continue;
      // felix configureProcSysForInterface (calico-notes §2.7); missing interface = retry later.
      if ((await this.#links.readSysctl(`net/ipv4/conf/${i}/proxy_arp`)) === undefined) continue;
      await applyWorkloadSysctls(this.#links, i, ep.ipv6Nets.length > 0);
      this.#sysctlDone.add(i);
    }
  }
}

/** Host-side sysctls of a workload interface (same set as felix and the CNI plugin). */
export async function applyWorkloadSysctls(links: LinkOps, iface: string, ipv6: boolean): Promise<void> {
  const entries: [string, string][] = [
    [`net/ipv4/conf/${iface}/route_localnet`, '1'],
    [`net/ipv4/neigh/${iface}/proxy_delay`, '0'],
    [`net/ipv4/conf/${iface}/proxy_arp`, '1'],
    [`net/ipv4/conf/${iface}/forwarding`, '1'],
  ];
  if (ipv6) {
    entries.push([`net/ipv6/conf/${iface}/accept_ra`, '0'], [`net/ipv6/conf/${iface}/proxy_ndp`, '1'], [`net/ipv6/conf/${iface}/forwarding`, '1']);
  } else if ((await links.readSysctl(`net/ipv6/conf/${iface}/accept_ra`)) !== undefined) {
    entries.push([`net/ipv6/conf/${iface}/accept_ra`, '0']);
  }
  await links.sysctls(entries);
}
