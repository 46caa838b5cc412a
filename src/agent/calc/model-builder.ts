/**
 * Applies the sequencer's events to a host model: the reference consumer of the event stream.
 * IP-set members are held as Sets internally (deltas are O(change)); `snapshot()` produces the
 * plain, sorted `HostModel`.
 */
import { defaultHostConfig } from '../../policy/index.ts';
import type {
  HostConfigModel, HostEndpointModel, HostModel, IPPoolModel, PolicyModel, ProfileModel, RouteModel,
  WorkloadEndpointModel,
} from '../../policy/index.ts';
import type { CalcEvent } from './sequencer.ts';

interface LiveSet { type: 'net' | 'named-port'; description: string; members: Set<string> }

export class ModelBuilder {
  readonly host: string;
  hostAddrs: string[] = [];
  config: HostConfigModel = defaultHostConfig();
  inSync = false;
  readonly ipSets = new Map<string, LiveSet>();
  readonly policies = new Map<string, PolicyModel>();
  readonly profiles = new Map<string, ProfileModel>();
  readonly endpoints = new Map<string, WorkloadEndpointModel>();
  readonly hostEndpoints = new Map<string, HostEndpointModel>();
  readonly routes = new Map<string, RouteModel>();
  readonly pools = new Map<string, IPPoolModel>();

  constructor(host: string) {
    this.host = host;
  }

  apply(events: readonly CalcEvent[]): void {
    for (const ev of events) this.applyOne(ev);
  }

  applyOne(ev: CalcEvent): void {
    switch (ev.type) {
      case 'config': this.config = ev.config; break;
      case 'host-addrs': this.hostAddrs = ev.addrs; break;
      case 'ipset-update': this.ipSets.set(ev.id, { type: ev.ipSet.type, description: ev.ipSet.description, members: new Set(ev.ipSet.members) }); break;
      case 'ipset-delta': {
        const s = this.ipSets.get(ev.id);
        if (!s) throw new Error(`sequencing violation: delta for unknown IP set ${ev.id}`);
        for (const m of ev.removed) s.members.delete(m);
        for (const m of ev.added) s.members.add(m);
        break;
      }
      case 'ipset-remove': this.ipSets.delete(ev.id); break;
      case 'policy-update': this.policies.set(ev.id, ev.policy); break;
      case 'policy-remove': this.policies.delete(ev.id); break;
      case 'profile-update': this.profiles.set(ev.id, ev.profile); break;
      case 'profile-remove': this.profiles.delete(ev.id); break;
      case 'endpoint-update': this.endpoints.set(ev.id, ev.endpoint); break;
      case 'endpoint-remove': this.endpoints.delete(ev.id); break;
      case 'host-endpoint-update': this.hostEndpoints.set(ev.id, ev.endpoint); break;
      case 'host-endpoint-remove': this.hostEndpoints.delete(ev.id); break;
      case 'route-update': this.routes.set(ev.route.dst, ev.route); break;
      case 'route-remove': this.routes.delete(ev.dst); break;
      case 'pool-update': this.pools.set(ev.name, ev.pool); break;
      case 'pool-remove': this.pools.delete(ev.name); break;
      case 'in-sync': this.inSync = true; break;
    }
  }

  snapshot(): HostModel {
    const sorted = <V>(m: Map<string, V>): Record<string, V> => {
      const o: Record<string, V> = {};
      for (const k of [...m.keys()].sort()) o[k] = m.get(k) as V;
      return o;
    };
    const ipSets: HostModel['ipSets'] = {};
    for (const k of [...this.ipSets.keys()].sort()) {
      const s = this.ipSets.get(k) as LiveSet;
      ipSets[k] = { type: s.type, description: s.description, members: [...s.members].sort() };
    }
    return structuredClone({
      host: this.host,
      hostAddrs: [...this.hostAddrs],
      config: this.config,
      ipSets,
      policies: sorted(this.policies),
      profiles: sorted(this.profiles),
      endpoints: sorted(this.endpoints),
      hostEndpoints: sorted(this.hostEndpoints),
      routes: sorted(this.routes),
      ipPools: sorted(this.pools),
    });
  }
}
