/**
 * A deliberately naive reference implementation of the calc graph's policy outputs, for property
 * tests: recompute everything from the full resource set by brute force (every matcher against
 * every item), with none of the indexes, refcounts or incremental bookkeeping. Test-only.
 */
import {
  NAMESPACE_LABEL, ORCHESTRATOR_LABEL, compareTiers, comparePolicies, implicitTier,
} from '../../policy/index.ts';
import type { EndpointTier, IPSetSpec, Labels, PolicyDef, ProfileDef, TierDef } from '../../policy/index.ts';
import { parseUpdate, hostCidr } from './dispatcher.ts';
import { membersFor } from './ipsets.ts';
import type { ItemData } from './ipsets.ts';

export interface ReferenceModel {
  ipSets: Record<string, string[]>;
  policies: string[];
  profiles: Record<string, { missing: boolean }>;
  endpoints: Record<string, { labels: Record<string, string>; tiers: EndpointTier[]; profiles: string[] }>;
}

interface Item { labels: Labels; data: ItemData; local?: { id: string; profiles: string[]; kind: 'workload' | 'host' } }

export function referenceModel(kvs: readonly { key: string; value: string }[], host: string): ReferenceModel {
  const policies = new Map<string, PolicyDef>();
  const profiles = new Map<string, ProfileDef>();
  const tiers = new Map<string, TierDef>();
  const raw: { own: Labels; system: Labels; parents: string[]; data: ItemData; local?: Item['local'] }[] = [];
  for (const kv of kvs) {
    const u = parseUpdate(kv.key, kv.value);
    if (!u || !u.value) continue;
    switch (u.kind) {
      case 'Policy': policies.set(u.id, u.value); break;
      case 'Profile': profiles.set(u.id, u.value); break;
      case 'Tier': tiers.set(u.id, u.value); break;
      case 'WorkloadEndpoint': {
        const v = u.value;
        const system: Record<string, string> = { [NAMESPACE_LABEL]: v.namespace };
        if (v.orchestrator) system[ORCHESTRATOR_LABEL] = v.orchestrator;
        raw.push({ own: v.labels, system, parents: v.profiles, data: { addrs: v.addrs, ports: v.ports }, ...(v.node === host ? { local: { id: v.id, profiles: v.profiles, kind: 'workload' as const } } : {}) });
        break;
      }
      case 'HostEndpoint': {
        const v = u.value;
        raw.push({ own: v.labels, system: {}, parents: v.profiles, data: { addrs: v.expectedIPs.map(hostCidr), ports: v.ports }, ...(v.node === host ? { local: { id: v.id, profiles: v.profiles, kind: 'host' as const } } : {}) });
        break;
      }
      case 'NetworkSet':
        raw.push({ own: u.value.labels, system: u.value.namespace !== undefined ? { [NAMESPACE_LABEL]: u.value.namespace } : {}, parents: [], data: { addrs: u.value.nets, ports: [] } });
        break;
      default: break;
    }
  }
  // Effective labels: earlier profile wins over later, own over inherited, system over all.
  const items: Item[] = raw.map((r) => {
    const labels: Record<string, string> = {};
    for (const p of [...r.parents].reverse()) Object.assign(labels, profiles.get(p)?.labelsToApply ?? {});
    Object.assign(labels, r.own, r.system);
    return { labels, data: r.data, ...(r.local ? { local: r.local } : {}) };
  });
  const out: ReferenceModel = { ipSets: {}, policies: [], profiles: {}, endpoints: {} };
  const activeSets = new Map<string, IPSetSpec>();
  const active = new Set<string>();
  for (const it of items) {
    if (!it.local) continue;
    const matching = [...policies.values()].filter((p) => p.matcher.matches(it.labels));
    for (const p of matching) active.add(p.id);
    const forTiers = matching.filter((p) => !(it.local?.kind === 'workload' && (p.preDNAT || p.doNotTrack)) && !p.preDNAT && !p.doNotTrack);
    const names = [...new Set(forTiers.map((p) => p.tier))].map((n) => tiers.get(n) ?? implicitTier(n)).sort(compareTiers);
    const epTiers: EndpointTier[] = [];
    for (const t of names) {
      const ps = forTiers.filter((p) => p.tier === t.name).sort(comparePolicies);
      const ing = ps.filter((p) => p.ingress).map((p) => p.id);
      const eg = ps.filter((p) => p.egress).map((p) => p.id);
      if (ing.length || eg.length) epTiers.push({ name: t.name, defaultAction: t.defaultAction, ingressPolicies: ing, egressPolicies: eg });
    }
    out.endpoints[it.local.id] = { labels: { ...it.labels }, tiers: epTiers, profiles: [...it.local.profiles] };
    for (const pr of it.local.profiles) {
      const def = profiles.get(pr);
      out.profiles[pr] = { missing: !def };
      for (const s of def?.ipSets ?? []) activeSets.set(s.id, s);
    }
  }
  out.policies = [...active].sort();
  for (const id of active) for (const s of policies.get(id)?.ipSets ?? []) activeSets.set(s.id, s);
  for (const [id, spec] of activeSets) {
    const members = new Set<string>();
    for (const it of items) if (spec.matcher.matches(it.labels)) for (const m of membersFor(spec, it.data)) members.add(m);
    out.ipSets[id] = [...members].sort();
  }
  return out;
}
