/**
 * Event sequencer: buffers the graph's outputs, coalescing to at most one pending entry per
 * object (IP-set member deltas cancel out), and flushes them in dependency order — the dataplane
 * contract of calico-notes §2.3:
 *
 *   config, host addresses
 *   → IP-set adds/updates → policy updates → profile updates → endpoint updates (workload, host)
 *   → endpoint removes → profile removes → policy removes → IP-set removes
 *   → route removes, route updates, pool removes, pool updates → in-sync
 *
 * so a consumer never sees a reference to an object it has not been given, nor loses an object
 * that something still references. Removes of objects the consumer never saw are dropped.
 */
import type {
  HostConfigModel, HostEndpointModel, IPPoolModel, IPSetModel, PolicyModel, ProfileModel,
  RouteModel, WorkloadEndpointModel,
} from '../../policy/index.ts';

export type CalcEvent =
  | { type: 'config'; config: HostConfigModel }
  | { type: 'host-addrs'; addrs: string[] }
  | { type: 'ipset-update'; id: string; ipSet: IPSetModel }
  | { type: 'ipset-delta'; id: string; added: string[]; removed: string[] }
  | { type: 'ipset-remove'; id: string }
  | { type: 'policy-update'; id: string; policy: PolicyModel }
  | { type: 'policy-remove'; id: string }
  | { type: 'profile-update'; id: string; profile: ProfileModel }
  | { type: 'profile-remove'; id: string }
  | { type: 'endpoint-update'; id: string; endpoint: WorkloadEndpointModel }
  | { type: 'endpoint-remove'; id: string }
  | { type: 'host-endpoint-update'; id: string; endpoint: HostEndpointModel }
  | { type: 'host-endpoint-remove'; id: string }
  | { type: 'route-update'; route: RouteModel }
  | { type: 'route-remove'; dst: string }
  | { type: 'pool-update'; name: string; pool: IPPoolModel }
  | { type: 'pool-remove'; name: string }
  | { type: 'in-sync' };

type PendingSet =
  /** `members` undefined: read from the `fullMembers` source at flush instead of being tracked. */
  | { kind: 'full'; type: IPSetModel['type']; description: string; members: Set<string> | undefined }
  | { kind: 'delta'; added: Set<string>; removed: Set<string> }
  | { kind: 'remove' };

/** Pending value per key: the object, or null for "remove". */
class Pending<V> {
  readonly map = new Map<string, V | null>();
  readonly known = new Set<string>();

  update(id: string, v: V): void {
    this.map.set(id, v);
  }

  remove(id: string): void {
    if (this.known.has(id)) this.map.set(id, null);
    else this.map.delete(id);
  }

  /** Splits into updates and removes, recording what the consumer now knows. */
  take(): { updates: [string, V][]; removes: string[] } {
    const updates: [string, V][] = [];
    const removes: string[] = [];
    for (const [id, v] of this.map) {
      if (v === null) { removes.push(id); this.known.delete(id); }
      else { updates.push([id, v]); this.known.add(id); }
    }
    this.map.clear();
    return { updates, removes };
  }
}

export class EventSequencer {
  /**
   * Current members of an active set, when the producer keeps them (the IP-set calculator does).
   * Then a set added in this flush window is sent from that source at flush rather than mirrored
   * here member by member — during the initial sync that is every member of every set.
   */
  readonly #fullMembers: ((id: string) => Iterable<string>) | undefined;
  #config: HostConfigModel | undefined;
  #hostAddrs: string[] | undefined;
  #inSync = false;
  readonly #sets = new Map<string, PendingSet>();
  readonly #knownSets = new Set<string>();
  readonly #policies = new Pending<PolicyModel>();
  readonly #profiles = new Pending<ProfileModel>();
  readonly #endpoints = new Pending<WorkloadEndpointModel>();
  readonly #hostEndpoints = new Pending<HostEndpointModel>();
  readonly #routes = new Pending<RouteModel>();
  readonly #pools = new Pending<IPPoolModel>();

  constructor(opts: { fullMembers?: (id: string) => Iterable<string> } = {}) {
    this.#fullMembers = opts.fullMembers;
  }

  get pendingCount(): number {
    return this.#sets.size + this.#policies.map.size + this.#profiles.map.size + this.#endpoints.map.size +
      this.#hostEndpoints.map.size + this.#routes.map.size + this.#pools.map.size +
      (this.#config ? 1 : 0) + (this.#hostAddrs ? 1 : 0) + (this.#inSync ? 1 : 0);
  }

  onConfig(c: HostConfigModel): void { this.#config = c; }
  onHostAddrs(a: string[]): void { this.#hostAddrs = a; }
  onInSync(): void { this.#inSync = true; }

  onIPSetAdded(id: string, type: IPSetModel['type'], description: string): void {
    this.#sets.set(id, { kind: 'full', type, description, members: this.#fullMembers ? undefined : new Set() });
  }

  onIPSetRemoved(id: string): void {
    if (this.#knownSets.has(id)) this.#sets.set(id, { kind: 'remove' });
    else this.#sets.delete(id);
  }

  onMemberAdded(id: string, m: string): void {
    const p = this.#sets.get(id);
    if (p?.kind === 'full') { p.members?.add(m); return; }
    if (p?.kind === 'delta') {
      if (p.removed.has(m)) p.removed.delete(m);
      else p.added.add(m);
      return;
    }
    this.#sets.set(id, { kind: 'delta', added: new Set([m]), removed: new Set() });
  }

  onMemberRemoved(id: string, m: string): void {
    const p = this.#sets.get(id);
    if (p?.kind === 'full') { p.members?.delete(m); return; }
    if (p?.kind === 'delta') {
      if (p.added.has(m)) p.added.delete(m);
      else p.removed.add(m);
      return;
    }
    this.#sets.set(id, { kind: 'delta', added: new Set(), removed: new Set([m]) });
  }

  onPolicyUpdate(id: string, p: PolicyModel): void { this.#policies.update(id, p); }
  onPolicyRemove(id: string): void { this.#policies.remove(id); }
  onProfileUpdate(id: string, p: ProfileModel): void { this.#profiles.update(id, p); }
  onProfileRemove(id: string): void { this.#profiles.remove(id); }
  onEndpointUpdate(id: string, e: WorkloadEndpointModel): void { this.#endpoints.update(id, e); }
  onEndpointRemove(id: string): void { this.#endpoints.remove(id); }
  onHostEndpointUpdate(id: string, e: HostEndpointModel): void { this.#hostEndpoints.update(id, e); }
  onHostEndpointRemove(id: string): void { this.#hostEndpoints.remove(id); }
  onRouteUpdate(r: RouteModel): void { this.#routes.update(r.dst, r); }
  onRouteRemove(dst: string): void { this.#routes.remove(dst); }
  onPoolUpdate(name: string, p: IPPoolModel): void { this.#pools.update(name, p); }
  onPoolRemove(name: string): void { this.#pools.remove(name); }

  /** Emits everything pending, in dependency order. */
  flush(): CalcEvent[] {
    const out: CalcEvent[] = [];
    if (this.#config) { out.push({ type: 'config', config: this.#config }); this.#config = undefined; }
    if (this.#hostAddrs) { out.push({ type: 'host-addrs', addrs: this.#hostAddrs }); this.#hostAddrs = undefined; }
    const setRemoves: string[] = [];
    for (const [id, p] of this.#sets) {
      if (p.kind === 'full') {
        // Member order is unspecified (the model snapshot sorts); sorting here would be wasted work.
        const members = p.members ?? (this.#fullMembers as (id: string) => Iterable<string>)(id);
        out.push({ type: 'ipset-update', id, ipSet: { type: p.type, description: p.description, members: [...members] } });
        this.#knownSets.add(id);
      } else if (p.kind === 'delta') {
        if (p.added.size > 0 || p.removed.size > 0) {
          out.push({ type: 'ipset-delta', id, added: [...p.added], removed: [...p.removed] });
        }
      } else {
        setRemoves.push(id);
        this.#knownSets.delete(id);
      }
    }
    this.#sets.clear();
    const pol = this.#policies.take();
    const prof = this.#profiles.take();
    const ep = this.#endpoints.take();
    const hep = this.#hostEndpoints.take();
    const rt = this.#routes.take();
    const pools = this.#pools.take();
    for (const [id, policy] of pol.updates) out.push({ type: 'policy-update', id, policy });
    for (const [id, profile] of prof.updates) out.push({ type: 'profile-update', id, profile });
    for (const [id, endpoint] of ep.updates) out.push({ type: 'endpoint-update', id, endpoint });
    for (const [id, endpoint] of hep.updates) out.push({ type: 'host-endpoint-update', id, endpoint });
    for (const id of ep.removes) out.push({ type: 'endpoint-remove', id });
    for (const id of hep.removes) out.push({ type: 'host-endpoint-remove', id });
    for (const id of prof.removes) out.push({ type: 'profile-remove', id });
    for (const id of pol.removes) out.push({ type: 'policy-remove', id });
    for (const id of setRemoves) out.push({ type: 'ipset-remove', id });
    for (const dst of rt.removes) out.push({ type: 'route-remove', dst });
    for (const [, route] of rt.updates) out.push({ type: 'route-update', route });
    for (const name of pools.removes) out.push({ type: 'pool-remove', name });
    for (const [name, pool] of pools.updates) out.push({ type: 'pool-update', name, pool });
    if (this.#inSync) { out.push({ type: 'in-sync' }); this.#inSync = false; }
    return out;
  }
}
