/**
 * The calculation graph for one host: datastore updates in, an ordered stream of dataplane-neutral
 * events (and a live HostModel) out. Pure, synchronous, no I/O. Wiring only; each stage lives in
 * its own file.
 *
 *   datastore updates {key, value|undefined, revision}
 *        │  (dedupe identical values per key; spurious deletes are no-ops)
 *        ▼
 *   parseUpdate + Dispatcher ── validation filter: invalid ⇒ absent ── fan-out by kind
 *        │
 *        ├─ WorkloadEndpoint/HostEndpoint/NetworkSet ─► LabelInheritance (profile labelsToApply)
 *        │        │ effective labels + addresses/named ports (ALL hosts)
 *        │        ▼
 *        │     IPSetCalculator (LabelIndex over all items × active set matchers, ref-counted members)
 *        │
 *        ├─ local-endpoint filter (spec.node == host) ─► ActiveRulesCalculator (LabelIndex over local
 *        │        endpoints × policy selectors; profile refs)        │ policy/profile (in)active
 *        │                                                          ▼
 *        │                                   RuleScanner (compiled rules, IP-set refcounts) ─► IPSetCalculator.activate
 *        │        │ policy ↔ endpoint matches
 *        │        ▼
 *        │     PolicyResolver (tiers/policies sorted per endpoint, recomputed for dirty endpoints at flush)
 *        ├─ Policy/Profile/Tier ─► ARC, PolicyResolver, LabelInheritance
 *        ├─ IPAM blocks, Node, local endpoints ─► RouteResolver
 *        └─ IPPool, FelixConfiguration, own Node ─► passthrough (pools, config, host addresses)
 *                                   │ all outputs
 *                                   ▼
 *                            EventSequencer ── flush(): coalesced, dependency-ordered events
 *                                   ▼
 *                         onEvents callback + ModelBuilder (snapshot(): HostModel)
 */
import type { SyncStatus, SyncUpdate, SyncerCallbacks } from '../../datastore/index.ts';
import { NAMESPACE_LABEL, ORCHESTRATOR_LABEL, defaultHostConfig } from '../../policy/index.ts';
import type {
  FelixConfigurationSpec, HostConfigModel, HostModel, IPPoolModel, Labels, ProtoPort,
} from '../../policy/index.ts';
import { ActiveRulesCalculator } from './active-rules.ts';
import { Dispatcher, hostCidr, parseUpdate } from './dispatcher.ts';
import type { CalcUpdate, HostEndpointValue, WorkloadEndpointValue } from './dispatcher.ts';
import { LabelInheritance } from './inheritance.ts';
import { IPSetCalculator } from './ipsets.ts';
import { ModelBuilder } from './model-builder.ts';
import { PolicyResolver } from './policy-resolver.ts';
import type { EndpointBase } from './policy-resolver.ts';
import { RouteResolver } from './routes.ts';
import { RuleScanner } from './rule-scanner.ts';
import { EventSequencer } from './sequencer.ts';
import type { CalcEvent } from './sequencer.ts';

export interface CalcGraphOptions {
  /** This host's name (Node name; endpoints with `spec.node` equal to it are local). */
  host: string;
  /** Receives each flush's events, in dependency order. */
  onEvents?: (events: CalcEvent[]) => void;
  /** Flush after every `onUpdates` call (default false: the caller flushes, e.g. once per batch or tick). */
  autoFlush?: boolean;
  /** Told about each value that failed validation (and is therefore treated as absent). */
  onInvalid?: (key: string, reason: string) => void;
}

export interface CalcGraphStats {
  updates: number;
  invalid: number;
  items: number;
  localEndpoints: number;
  activePolicies: number;
  activeIPSets: number;
}

type LocalEndpoint = { kind: 'workload'; v: WorkloadEndpointValue } | { kind: 'host'; v: HostEndpointValue };

export class CalcGraph implements SyncerCallbacks {
  readonly host: string;
  readonly #onEvents: ((events: CalcEvent[]) => void) | undefined;
  readonly #autoFlush: boolean;
  readonly #onInvalid: ((key: string, reason: string) => void) | undefined;
  readonly #raw = new Map<string, string>();
  readonly #dispatcher = new Dispatcher();
  readonly #seq: EventSequencer;
  readonly #builder: ModelBuilder;
  readonly #inheritance: LabelInheritance;
  readonly #ipsets: IPSetCalculator;
  readonly #arc: ActiveRulesCalculator;
  readonly #scanner: RuleScanner;
  readonly #resolver: PolicyResolver;
  readonly #routes: RouteResolver;
  /** Local endpoints by ARC/model id. */
  readonly #local = new Map<string, LocalEndpoint>();
  /** Item id (`w:…`/`h:…`) → local endpoint id, for exactly the endpoints in `#local`. */
  readonly #localItems = new Map<string, string>();
  readonly #felixConfigs = new Map<string, FelixConfigurationSpec>();
  readonly #pools = new Map<string, string>();
  readonly #systemCache = new Map<string, Labels>();
  #config = JSON.stringify(defaultHostConfig());
  #hostAddrs = '[]';
  #inSync = false;
  #updates = 0;
  #invalid = 0;

  constructor(opts: CalcGraphOptions) {
    this.host = opts.host;
    this.#onEvents = opts.onEvents;
    this.#autoFlush = opts.autoFlush ?? false;
    this.#onInvalid = opts.onInvalid;
    this.#builder = new ModelBuilder(opts.host);
    // New IP sets are flushed from the calculator's own member table (see EventSequencer).
    this.#seq = new EventSequencer({ fullMembers: (id) => this.#ipsets.currentMembers(id) });
    const seq = this.#seq;
    seq.onConfig(defaultHostConfig());

    this.#ipsets = new IPSetCalculator({
      onIPSetAdded: (id, spec) => seq.onIPSetAdded(id, spec.type, spec.description),
      onIPSetRemoved: (id) => seq.onIPSetRemoved(id),
      onMemberAdded: (id, m) => seq.onMemberAdded(id, m),
      onMemberRemoved: (id, m) => seq.onMemberRemoved(id, m),
    });
    this.#scanner = new RuleScanner({
      activateIPSet: (spec) => this.#ipsets.activate(spec),
      deactivateIPSet: (id) => this.#ipsets.deactivate(id),
      onPolicyUpdate: (id, p) => seq.onPolicyUpdate(id, p),
      onPolicyRemove: (id) => seq.onPolicyRemove(id),
      onProfileUpdate: (id, p) => seq.onProfileUpdate(id, p),
      onProfileRemove: (id) => seq.onProfileRemove(id),
    });
    this.#resolver = new PolicyResolver({
      onEndpointUpdate: (id, e) => seq.onEndpointUpdate(id, e),
      onEndpointRemove: (id) => seq.onEndpointRemove(id),
      onHostEndpointUpdate: (id, e) => seq.onHostEndpointUpdate(id, e),
      onHostEndpointRemove: (id) => seq.onHostEndpointRemove(id),
    });
    this.#arc = new ActiveRulesCalculator({
      onPolicyActive: (def) => this.#scanner.updatePolicy(def.id, def),
      onPolicyInactive: (id) => this.#scanner.removePolicy(id),
      onProfileActive: (id, def) => this.#scanner.updateProfile(id, def),
      onProfileInactive: (id) => this.#scanner.removeProfile(id),
      onPolicyMatchStarted: (p, e) => this.#resolver.onMatchStarted(p, e),
      onPolicyMatchStopped: (p, e) => this.#resolver.onMatchStopped(p, e),
    });
    this.#routes = new RouteResolver(opts.host, {
      onRouteUpdate: (r) => seq.onRouteUpdate(r),
      onRouteRemove: (d) => seq.onRouteRemove(d),
    });
    this.#inheritance = new LabelInheritance({
      onLabels: (itemId, labels) => {
        this.#ipsets.updateItemLabels(itemId, labels);
        // Most items are not local endpoints: one lookup, no id slicing.
        const epId = this.#localItems.get(itemId);
        const le = epId !== undefined ? this.#local.get(epId) : undefined;
        if (le && labels && epId !== undefined) {
          this.#arc.updateEndpointLabels(epId, labels);
          this.#resolver.updateEndpoint(epId, this.#base(le, labels));
        }
      },
    });
    this.#wire();
  }

  #wire(): void {
    const d = this.#dispatcher;
    d.register('WorkloadEndpoint', (u) => this.#onWorkload(u.id, u.value));
    d.register('HostEndpoint', (u) => this.#onHostEndpoint(u.id, u.value));
    d.register('NetworkSet', (u) => {
      const itemId = flatId('n:', u.id);
      if (u.value) {
        this.#ipsets.updateItemData(itemId, { addrs: u.value.nets, ports: [] });
        this.#inheritance.updateItem(itemId, u.value.labels, u.value.namespace !== undefined ? { [NAMESPACE_LABEL]: u.value.namespace } : {}, []);
      } else {
        this.#inheritance.deleteItem(itemId);
        this.#ipsets.deleteItem(itemId);
      }
    });
    d.register('Profile', (u) => {
      this.#inheritance.updateProfile(u.id, u.value?.labelsToApply);
      this.#arc.updateProfile(u.value, u.id);
    });
    d.register('Policy', (u) => {
      this.#resolver.updatePolicy(u.id, u.value);
      if (u.value) this.#arc.updatePolicy(u.value);
      else this.#arc.removePolicy(u.id);
    });
    d.register('Tier', (u) => this.#resolver.updateTier(u.id, u.value));
    d.register('IPPool', (u) => this.#onPool(u.id, u.value));
    d.register('Node', (u) => {
      this.#routes.updateNode(u.id, u.value ? { ipv4: u.value.ipv4, ipv6: u.value.ipv6 } : undefined);
      if (u.id === this.host) {
        const addrs = JSON.stringify([u.value?.ipv4, u.value?.ipv6].filter((a): a is string => a !== undefined));
        if (addrs !== this.#hostAddrs) { this.#hostAddrs = addrs; this.#seq.onHostAddrs(JSON.parse(addrs) as string[]); }
      }
    });
    d.register('FelixConfiguration', (u) => {
      if (u.id !== 'default' && u.id !== `node.${this.host}`) return;
      if (u.value) this.#felixConfigs.set(u.id, u.value);
      else this.#felixConfigs.delete(u.id);
      const c = JSON.stringify(mergeConfig(this.#felixConfigs.get('default'), this.#felixConfigs.get(`node.${this.host}`)));
      if (c !== this.#config) { this.#config = c; this.#seq.onConfig(JSON.parse(c) as HostConfigModel); }
    });
    d.register('IPAMBlock', (u) => this.#routes.updateBlock(u.id, u.value?.affinityHost));
  }

  // ---- SyncerCallbacks ----------------------------------------------------------------------------

  onStatus(status: SyncStatus): void {
    if (status === 'in-sync' && !this.#inSync) {
      this.#inSync = true;
      this.#seq.onInSync();
      if (this.#autoFlush) this.flush();
    }
  }

  onUpdates(updates: readonly SyncUpdate[]): void {
    for (const u of updates) this.#handle(u.key, u.value);
    if (this.#autoFlush) this.flush();
  }

  /** Emits everything pending in dependency order; returns the events (also given to `onEvents`). */
  flush(): CalcEvent[] {
    this.#resolver.flush();
    const events = this.#seq.flush();
    this.#builder.apply(events);
    if (events.length > 0) this.#onEvents?.(events);
    return events;
  }

  /** The host model as of the last flush. */
  snapshot(): HostModel {
    return this.#builder.snapshot();
  }

  get inSync(): boolean { return this.#inSync; }

  stats(): CalcGraphStats {
    return {
      updates: this.#updates, invalid: this.#invalid, items: this.#ipsets.itemCount,
      localEndpoints: this.#local.size, activePolicies: this.#arc.activePolicyCount, activeIPSets: this.#ipsets.activeSetCount,
    };
  }

  // ---- internals ----------------------------------------------------------------------------------

  #handle(key: string, value: string | undefined): void {
    this.#updates++;
    const prev = this.#raw.get(key);
    if (value === prev) return; // duplicate, or a delete of something never seen
    let u: CalcUpdate | undefined;
    let reason: string | undefined;
    try {
      u = parseUpdate(key, value, (r) => { reason = r; });
    } catch {
      u = undefined;
    }
    if (!u) return;
    if (value === undefined) this.#raw.delete(key);
    else this.#raw.set(key, value);
    if (value !== undefined && u.value === undefined) {
      this.#invalid++;
      this.#onInvalid?.(key, reason ?? 'invalid value');
    }
    this.#dispatcher.dispatch(u);
  }

  #base(le: LocalEndpoint, labels: Labels): EndpointBase {
    if (le.kind === 'workload') {
      const v = le.v;
      const model: Extract<EndpointBase, { kind: 'workload' }>['model'] = {
        id: v.id, name: v.name, namespace: v.namespace, iface: v.iface, addrs: v.addrs,
        allowSpoofedSourcePrefixes: v.allowSpoofedSourcePrefixes, labels: { ...labels }, profiles: v.profiles,
      };
      if (v.mac !== undefined) model.mac = v.mac;
      return { kind: 'workload', model };
    }
    const v = le.v;
    return { kind: 'host', model: { id: v.id, iface: v.iface, expectedIPs: v.expectedIPs, labels: { ...labels }, profiles: v.profiles } };
  }

  #onWorkload(id: string, v: WorkloadEndpointValue | undefined): void {
    const itemId = flatId('w:', id);
    if (v) {
      this.#ipsets.updateItemData(itemId, { addrs: v.addrs, ports: v.ports });
      this.#inheritance.updateItem(itemId, v.labels, this.#systemLabels(v.namespace, v.orchestrator), v.profiles);
      if (v.node === this.host) {
        const le: LocalEndpoint = { kind: 'workload', v };
        this.#local.set(id, le);
        this.#localItems.set(itemId, id);
        const labels = this.#inheritance.labelsOf(itemId) ?? v.labels;
        this.#arc.updateEndpoint(id, labels, v.profiles);
        this.#resolver.updateEndpoint(id, this.#base(le, labels));
        this.#routes.updateLocalEndpoint(id, v.iface, v.addrs);
        this.#routes.updateRemoteEndpoint(id, undefined, []);
        return;
      }
      this.#routes.updateRemoteEndpoint(id, v.node, v.addrs);
    } else {
      this.#inheritance.deleteItem(itemId);
      this.#ipsets.deleteItem(itemId);
      this.#routes.updateRemoteEndpoint(id, undefined, []);
    }
    this.#dropLocal(id);
  }

  #onHostEndpoint(id: string, v: HostEndpointValue | undefined): void {
    const itemId = flatId('h:', id);
    if (v) {
      this.#ipsets.updateItemData(itemId, { addrs: v.expectedIPs.map(hostCidr), ports: v.ports });
      this.#inheritance.updateItem(itemId, v.labels, {}, v.profiles);
      if (v.node === this.host) {
        const le: LocalEndpoint = { kind: 'host', v };
        this.#local.set(id, le);
        this.#localItems.set(itemId, id);
        const labels = this.#inheritance.labelsOf(itemId) ?? v.labels;
        this.#arc.updateEndpoint(id, labels, v.profiles);
        this.#resolver.updateEndpoint(id, this.#base(le, labels));
        return;
      }
    } else {
      this.#inheritance.deleteItem(itemId);
      this.#ipsets.deleteItem(itemId);
    }
    this.#dropLocal(id);
  }

  /** The labels Calico sets on a workload, shared between endpoints (they are never mutated). */
  #systemLabels(ns: string, orchestrator: string | undefined): Labels {
    const k = `${ns}\u0000${orchestrator ?? ''}`;
    let l = this.#systemCache.get(k);
    if (!l) {
      l = orchestrator !== undefined ? { [NAMESPACE_LABEL]: ns, [ORCHESTRATOR_LABEL]: orchestrator } : { [NAMESPACE_LABEL]: ns };
      if (this.#systemCache.size > 10_000) this.#systemCache.clear();
      this.#systemCache.set(k, l);
    }
    return l;
  }

  #dropLocal(id: string): void {
    const le = this.#local.get(id);
    if (!le) return;
    this.#local.delete(id);
    this.#localItems.delete(`${le.kind === 'workload' ? 'w' : 'h'}:${id}`);
    this.#arc.removeEndpoint(id);
    this.#resolver.updateEndpoint(id, undefined);
    if (le.kind === 'workload') this.#routes.updateLocalEndpoint(id, undefined, []);
  }

  #onPool(name: string, p: IPPoolModel | undefined): void {
    const s = p ? JSON.stringify(p) : undefined;
    if (s === this.#pools.get(name)) return;
    if (p && s) { this.#pools.set(name, s); this.#seq.onPoolUpdate(name, p); }
    else { this.#pools.delete(name); this.#seq.onPoolRemove(name); }
  }
}

/**
 * `prefix + id` as a flat string: item ids are long-lived map keys in several stages, and a
 * concatenation would be kept as a rope (two extra heap objects per item) and compared slowly.
 */
function flatId(prefix: string, id: string): string {
  return [prefix, id].join('');
}

function parseProtoPorts(v: unknown): ProtoPort[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: ProtoPort[] = [];
  for (const e of v as unknown[]) {
    if (typeof e !== 'object' || e === null) return undefined;
    const o = e as { protocol?: unknown; port?: unknown; net?: unknown };
    const proto = String(o.protocol ?? 'tcp').toLowerCase();
    if ((proto !== 'tcp' && proto !== 'udp') || typeof o.port !== 'number' || !Number.isInteger(o.port) || o.port < 0 || o.port > 65535) return undefined;
    const pp: ProtoPort = { protocol: proto, port: o.port };
    if (typeof o.net === 'string' && o.net !== '') pp.net = o.net;
    out.push(pp);
  }
  return out;
}

/**
 * FelixConfiguration precedence (calico-notes §2.9): defaults < `default` < `node.<host>`.
 * A field with an invalid value is ignored (the lower layer's value stands).
 */
export function mergeConfig(global: FelixConfigurationSpec | undefined, perHost: FelixConfigurationSpec | undefined): HostConfigModel {
  const c = defaultHostConfig();
  for (const spec of [global, perHost]) {
    if (!spec) continue;
    Object.assign(c.raw, spec);
    const a = typeof spec.defaultEndpointToHostAction === 'string' ? spec.defaultEndpointToHostAction.toLowerCase() : undefined;
    if (a === 'drop' || a === 'return' || a === 'accept') c.defaultEndpointToHostAction = a;
    const fin = parseProtoPorts(spec.failsafeInboundHostPorts);
    if (fin) c.failsafeInboundHostPorts = fin;
    const fout = parseProtoPorts(spec.failsafeOutboundHostPorts);
    if (fout) c.failsafeOutboundHostPorts = fout;
  }
  return c;
}

export function buildCalcGraph(opts: CalcGraphOptions): CalcGraph {
  return new CalcGraph(opts);
}

/** The model for `host` computed in one batch from a full set of datastore KVs (tests, CLI). */
export function computeFromScratch(kvs: Iterable<{ key: string; value: string }>, host: string): HostModel {
  const g = new CalcGraph({ host });
  const batch: SyncUpdate[] = [];
  for (const kv of kvs) batch.push({ key: kv.key, value: kv.value, revision: 0 });
  g.onUpdates(batch);
  g.onStatus('in-sync');
  g.flush();
  return g.snapshot();
}
