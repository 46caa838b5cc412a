/**
 * Helpers for state-sequence and property tests of the calc graph (felix calc_graph_fv_test style):
 * drive a graph through a list of datastore states and check the event stream's ordering contract.
 * Test-only; not part of the public surface.
 */
import type { HostModel } from '../../policy/index.ts';
import { CalcGraph } from './graph.ts';
import type { CalcEvent } from './sequencer.ts';
import type { KV } from './testing.ts';

export type State = readonly KV[];

/** One datastore write: value undefined = delete. */
export interface Write { key: string; value: string | undefined }

/** The writes that take a datastore from `prev` to `next` (puts in `next` order, then deletes). */
export function diffStates(prev: State, next: State): Write[] {
  const p = new Map(prev.map((kv) => [kv.key, kv.value]));
  const n = new Map(next.map((kv) => [kv.key, kv.value]));
  const out: Write[] = [];
  for (const [k, v] of n) if (p.get(k) !== v) out.push({ key: k, value: v });
  for (const k of p.keys()) if (!n.has(k)) out.push({ key: k, value: undefined });
  return out;
}

/**
 * Applies events like a strict dataplane would, throwing on any ordering violation: an endpoint
 * referencing a policy/profile not yet sent, a policy referencing an IP set not yet sent, a delta
 * for an unknown set, or removing something still referenced.
 */
export class StrictConsumer {
  readonly sets = new Map<string, Set<string>>();
  readonly policies = new Map<string, readonly string[]>();
  readonly profiles = new Map<string, readonly string[]>();
  readonly endpoints = new Map<string, { policies: string[]; profiles: string[] }>();

  apply(events: readonly CalcEvent[]): void {
    for (const ev of events) this.#one(ev);
  }

  #one(ev: CalcEvent): void {
    switch (ev.type) {
      case 'ipset-update': this.sets.set(ev.id, new Set(ev.ipSet.members)); break;
      case 'ipset-delta': {
        const s = this.sets.get(ev.id);
        if (!s) throw new Error(`delta for unknown set ${ev.id}`);
        for (const m of ev.removed) s.delete(m);
        for (const m of ev.added) s.add(m);
        break;
      }
      case 'ipset-remove':
        for (const [p, sets] of [...this.policies, ...this.profiles]) {
          if (sets.includes(ev.id)) throw new Error(`set ${ev.id} removed while ${p} uses it`);
        }
        this.sets.delete(ev.id);
        break;
      case 'policy-update': case 'profile-update': {
        const rules = ev.type === 'policy-update' ? [...ev.policy.inbound, ...ev.policy.outbound] : [...ev.profile.inbound, ...ev.profile.outbound];
        const used = rules.flatMap((r) => [
          ...(r.srcIPSets ?? []), ...(r.notSrcIPSets ?? []), ...(r.dstIPSets ?? []), ...(r.notDstIPSets ?? []),
          ...(r.srcNamedPortIPSets ?? []), ...(r.notSrcNamedPortIPSets ?? []), ...(r.dstNamedPortIPSets ?? []), ...(r.notDstNamedPortIPSets ?? []),
        ]);
        for (const s of used) if (!this.sets.has(s)) throw new Error(`${ev.type} ${ev.id} before its set ${s}`);
        (ev.type === 'policy-update' ? this.policies : this.profiles).set(ev.id, used);
        break;
      }
      case 'policy-remove': case 'profile-remove':
        for (const [e, refs] of this.endpoints) {
          if ((ev.type === 'policy-remove' ? refs.policies : refs.profiles).includes(ev.id)) throw new Error(`${ev.type} ${ev.id} while endpoint ${e} uses it`);
        }
        (ev.type === 'policy-remove' ? this.policies : this.profiles).delete(ev.id);
        break;
      case 'endpoint-update': case 'host-endpoint-update': {
        const e = ev.endpoint;
        const tiers = 'forwardTiers' in e ? [...e.tiers, ...e.forwardTiers, ...e.preDNATTiers, ...e.untrackedTiers] : e.tiers;
        const policies = tiers.flatMap((t) => [...t.ingressPolicies, ...t.egressPolicies]);
        for (const p of policies) if (!this.policies.has(p)) throw new Error(`endpoint ${ev.id} before its policy ${p}`);
        for (const p of e.profiles) if (!this.profiles.has(p)) throw new Error(`endpoint ${ev.id} before its profile ${p}`);
        this.endpoints.set(`${ev.type}:${ev.id}`, { policies, profiles: [...e.profiles] });
        break;
      }
      case 'endpoint-remove': this.endpoints.delete(`endpoint-update:${ev.id}`); break;
      case 'host-endpoint-remove': this.endpoints.delete(`host-endpoint-update:${ev.id}`); break;
      default: break;
    }
  }
}

export type FlushMode = 'per-write' | 'per-write-dup' | 'per-state' | 'end';

/**
 * Runs the graph through `states` (each a full datastore state), writing the diffs one KV at a
 * time, flushing per `mode`; with `spuriousDeletes`, deletes of never-written keys are mixed in.
 * Returns the snapshot after every state (`end` mode: only the last is meaningful).
 */
export function runStates(host: string, states: readonly State[], mode: FlushMode, opts: { spuriousDeletes?: boolean } = {}): { snapshots: HostModel[]; graph: CalcGraph } {
  const consumer = new StrictConsumer();
  const g = new CalcGraph({ host, onEvents: (evs) => consumer.apply(evs) });
  let prev: State = [];
  let rev = 1;
  const snapshots: HostModel[] = [];
  for (const st of states) {
    for (const w of diffStates(prev, st)) {
      if (opts.spuriousDeletes) g.onUpdates([{ key: `${w.key}-ghost`, value: undefined, revision: rev++ }]);
      g.onUpdates([{ key: w.key, value: w.value, revision: rev++ }]);
      if (mode === 'per-write-dup') g.onUpdates([{ key: w.key, value: w.value, revision: rev++ }]);
      if (mode === 'per-write' || mode === 'per-write-dup') g.flush();
    }
    if (mode !== 'end') g.flush();
    if (states.indexOf(st) === 0) g.onStatus('in-sync');
    prev = st;
    snapshots.push(g.snapshot());
  }
  g.onStatus('in-sync');
  g.flush();
  snapshots[snapshots.length - 1] = g.snapshot();
  return { snapshots, graph: g };
}
