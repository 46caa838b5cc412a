/**
 * Endpoint status reporting (felix `statusrep`, calico-notes §2.8): when FelixConfiguration
 * `endpointReportingEnabled` is true, every workload and host endpoint of this host gets a key
 *
 *   /calico/felix/v2/no-region/host/<host>/workload/<orch>/<workload>/endpoint/<endpoint>
 *   /calico/felix/v2/no-region/host/<host>/endpoint/<endpoint>
 *
 * with `{"status":"up"|"down"|"error"}`. The Neutron driver maps these to port status
 * ACTIVE/DOWN/ERROR.
 *
 * Invariants:
 * - `up` only after the dataplane has applied everything requested so far (the endpoint's rules and
 *   routes are in the kernel) AND its interface is administratively and operationally up;
 *   `down` when the interface is missing or not up; `error` while dataplane applies are failing.
 * - Writes are rate limited: at most one pass per `endpointReportingDelay` (felix: 1 s), and a pass
 *   writes only keys whose status changed; a removed endpoint's key is deleted.
 * - A resync (on enable, then periodically) lists the stored keys of this host and repairs them:
 *   stale keys (endpoints gone while the agent was down) are deleted, altered ones rewritten.
 * - Disabling reporting deletes this host's endpoint status keys, so nothing stale says "up".
 * - Datastore failures are logged and retried on the next pass, never fatal.
 */
import type { Logger } from '../../lib/log.ts';
import {
  felixHostPrefix, hostEndpointStatusKey, parseEndpointStatusKey, parseResourceKey, workloadEndpointStatusKey,
  type Backend, type SyncUpdate,
} from '../../datastore/index.ts';
import type { LinkInfo } from '../netlink/index.ts';

export type EndpointStatus = 'up' | 'down' | 'error';

/** What the dataplane says about everything requested so far. */
export type DataplaneState = 'ok' | 'error';

export interface EndpointStatusDeps {
  backend: Backend;
  host: string;
  listLinks(): Promise<LinkInfo[]>;
  /** Waits (bounded) for the dataplane to apply what was requested; `error` while applies fail. */
  dataplaneState(): Promise<DataplaneState>;
  logger: Logger;
}

export interface EndpointReportingConfig {
  enabled: boolean;
  /** Minimum time between two passes (FelixConfiguration endpointReportingDelay; default 1 s). */
  delayMs: number;
  /** Interface state is polled this often while enabled (felix gets netlink events instead). */
  pollMs?: number;
  /** Full resync against the store this often (felix resyncs periodically, jittered). */
  resyncMs?: number;
}

interface Tracked {
  /** The endpoint's status key. */
  key: string;
  /** Interface to check; undefined = none to check (host endpoint by expectedIPs, or `*`). */
  iface: string | undefined;
}

/** Status of one endpoint from its interface and the dataplane state. */
export function endpointStatus(iface: string | undefined, links: ReadonlyMap<string, LinkInfo>, dp: DataplaneState): EndpointStatus {
  if (dp === 'error') return 'error';
  if (iface === undefined) return 'up';
  const l = links.get(iface);
  if (l === undefined || !l.up) return 'down';
  // Operationally up; tun/tap and some virtual devices report UNKNOWN while working (felix treats
  // IFF_UP + running as up).
  return l.oper === undefined || l.oper === 'UP' || l.oper === 'UNKNOWN' ? 'up' : 'down';
}

export class EndpointStatusReporter {
  readonly #d: EndpointStatusDeps;
  /** `"<host>"` as it appears in a stored endpoint's `spec.node`. */
  readonly #nodeNeedle: string;
  readonly #tracked = new Map<string, Tracked>();
  /** What we believe is stored: key → status. */
  readonly #written = new Map<string, EndpointStatus>();
  #cfg: Required<EndpointReportingConfig> = { enabled: false, delayMs: 1000, pollMs: 5000, resyncMs: 60_000 };
  #timer: NodeJS.Timeout | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #needResync = true;
  #lastPass = 0;
  #lastResync = 0;
  #stopped = false;
  /** Passes completed (for tests and metrics). */
  passes = 0;

  constructor(deps: EndpointStatusDeps) {
    this.#d = deps;
    this.#nodeNeedle = JSON.stringify(deps.host);
  }

  get enabled(): boolean {
    return this.#cfg.enabled;
  }

  configure(cfg: EndpointReportingConfig): void {
    const next = { pollMs: 5000, resyncMs: 60_000, ...cfg };
    const was = this.#cfg.enabled;
    this.#cfg = next;
    if (this.#pollTimer !== undefined) clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
    if (next.enabled) {
      if (!was) this.#needResync = true;
      this.#pollTimer = setInterval(() => this.kick(), next.pollMs);
      this.#pollTimer.unref();
      this.kick();
    } else if (was) {
      this.#needResync = true;
      this.#run(() => this.#clearAll());
    }
  }

  /** Datastore updates: tracks this host's WorkloadEndpoints and HostEndpoints. */
  onUpdates(updates: readonly SyncUpdate[]): void {
    let changed = false;
    for (const u of updates) {
      const rk = parseResourceKey(u.key);
      if (rk === undefined || (rk.kind !== 'WorkloadEndpoint' && rk.kind !== 'HostEndpoint')) continue;
      const id = u.key;
      const before = this.#tracked.get(id);
      const next = u.value === undefined ? undefined : this.#track(rk.kind, rk.name, u.value);
      if (next === undefined) {
        if (before !== undefined) { this.#tracked.delete(id); changed = true; }
      } else if (before === undefined || before.key !== next.key || before.iface !== next.iface) {
        this.#tracked.set(id, next);
        changed = true;
      }
    }
    if (changed) this.kick();
  }

  /** Something may have changed (dataplane applied, interface event): schedule a pass. */
  kick(): void {
    if (this.#stopped || !this.#cfg.enabled) return;
    if (this.#timer !== undefined) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    const wait = Math.max(0, this.#lastPass + this.#cfg.delayMs - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#run(() => this.#pass());
    }, wait);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#pollTimer !== undefined) clearInterval(this.#pollTimer);
    await this.#running;
  }

  /** Waits until no pass is running or scheduled (tests). */
  async idle(): Promise<void> {
    while (this.#running !== undefined || this.#timer !== undefined) {
      await (this.#running ?? new Promise((r) => setTimeout(r, 5)));
    }
  }

  #track(kind: 'WorkloadEndpoint' | 'HostEndpoint', name: string, value: string): Tracked | undefined {
    // Most endpoints belong to other hosts: a substring test spares the initial sync a second
    // JSON.parse of every endpoint in the cluster (the calc graph already parses them once).
    if (!value.includes(this.#nodeNeedle)) return undefined;
    let obj: { spec?: Record<string, unknown> };
    try {
      obj = JSON.parse(value) as typeof obj;
    } catch {
      return undefined;
    }
    const spec = obj.spec ?? {};
    if (spec.node !== this.#d.host) return undefined;
    const iface = typeof spec.interfaceName === 'string' && spec.interfaceName !== '' && spec.interfaceName !== '*' ? spec.interfaceName : undefined;
    if (kind === 'HostEndpoint') return { key: hostEndpointStatusKey(this.#d.host, name), iface };
    const str = (v: unknown, dflt: string): string => (typeof v === 'string' && v !== '' ? v : dflt);
    // v3 WorkloadEndpoint ids (libcalico-go): orchestrator, workload and endpoint from the spec.
    const key = workloadEndpointStatusKey(this.#d.host, str(spec.orchestrator, 'unknown'), str(spec.workload, name), str(spec.endpoint, 'eth0'));
    return { key, iface };
  }

  #run(fn: () => Promise<void>): void {
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = (async () => {
      try {
        await fn();
      } catch (e) {
        // Retried on the next kick/poll; the resync re-reads the store first.
        this.#needResync = true;
        this.#d.logger.warn({ err: (e as Error).message }, 'endpoint status report failed');
      } finally {
        this.#running = undefined;
        this.#lastPass = Date.now();
      }
      if (this.#again && !this.#stopped) {
        this.#again = false;
        if (this.#cfg.enabled) this.kick();
      }
    })();
  }

  async #pass(): Promise<void> {
    if (!this.#cfg.enabled) return;
    const dp = await this.#d.dataplaneState();
    const links = new Map((await this.#d.listLinks()).map((l) => [l.name, l]));
    const want = new Map<string, EndpointStatus>();
    for (const t of this.#tracked.values()) want.set(t.key, endpointStatus(t.iface, links, dp));
    if (this.#needResync || Date.now() - this.#lastResync > this.#cfg.resyncMs) await this.#loadStored();
    for (const [key, status] of want) {
      if (this.#written.get(key) === status) continue;
      await this.#d.backend.put(key, JSON.stringify({ status }));
      this.#written.set(key, status);
    }
    for (const key of [...this.#written.keys()]) {
      if (want.has(key)) continue;
      await this.#delete(key);
    }
    this.passes++;
  }

  /** Resync: what is really stored for this host replaces our belief. */
  async #loadStored(): Promise<void> {
    this.#written.clear();
    const res = await this.#d.backend.list(felixHostPrefix(this.#d.host));
    for (const kv of res.items) {
      if (parseEndpointStatusKey(kv.key) === undefined) continue;
      let status: EndpointStatus | undefined;
      try {
        const s = (JSON.parse(kv.value) as { status?: unknown }).status;
        if (s === 'up' || s === 'down' || s === 'error') status = s;
      } catch { /* rewritten below */ }
      // An unreadable value is recorded as something no pass wants, so it gets rewritten or deleted.
      this.#written.set(kv.key, status ?? ('invalid' as EndpointStatus));
    }
    this.#needResync = false;
    this.#lastResync = Date.now();
  }

  async #delete(key: string): Promise<void> {
    try {
      await this.#d.backend.delete(key);
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'ERR_NOT_FOUND') throw e;
    }
    this.#written.delete(key);
  }

  async #clearAll(): Promise<void> {
    await this.#loadStored();
    for (const key of [...this.#written.keys()]) await this.#delete(key);
    this.passes++;
  }
}
