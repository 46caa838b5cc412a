/**
 * BgpAgent: the glue between the datastore and Weft's BGP speaker (what confd + BIRD are in
 * calico/node). It
 *   - keeps the BGP-relevant resources (Node, BGPPeer, BGPConfiguration, IPPool) from the syncer,
 *   - recomputes the peer plan (peers.ts) on every relevant update and adds/removes only the
 *     peers that changed (a changed AS / router ID / cluster ID / listen port restarts the speaker),
 *   - originates the exports (exports.ts) computed from the calc graph's local routes,
 *   - hands learned routes to the dataplane (`setRoutes`, coalesced per event-loop turn): they are
 *     removed on withdraw and on session loss because the speaker reports `routeRemoved` then.
 */
import type { EventEmitter } from 'node:events';
import type { Registry } from 'prom-client';
import { BgpSpeaker, type PeerStatus, type SpeakerEvents, type SpeakerOptions } from '../../bgp/index.ts';
import { parseResourceKey, type SyncUpdate } from '../../datastore/index.ts';
import { canonicalCIDR, parseIP, formatIP } from '../../lib/ip.ts';
import { componentLogger, type Logger } from '../../lib/log.ts';
import type { RouteModel } from '../../policy/index.ts';
import type { KernelRoute } from '../netlink/index.ts';
import { computeExports, type ExportPool } from './exports.ts';
import {
  computeBgpPlan, durationSeconds, samePeer, sameSpeaker, DEFAULT_RESTART_TIME,
  type BgpGlobalConfig, type BgpNode, type BgpPeerResource, type BgpPlan, type DesiredPeer, type SpeakerConfig,
} from './peers.ts';

/** The subset of BgpSpeaker the agent uses (tests substitute a fake extending EventEmitter<SpeakerEvents>). */
export type SpeakerLike = Pick<BgpSpeaker, 'start' | 'stop' | 'addPeer' | 'removePeer' | 'announce' | 'withdraw' | 'peerStates'> & Pick<EventEmitter<SpeakerEvents>, 'on'>;

export interface BgpAgentOptions {
  nodeName: string;
  /** Receives the complete set of learned routes whenever it changes. */
  setRoutes(routes: KernelRoute[]): void;
  registry?: Registry;
  logger?: Logger;
  /** Listen address (default: all). */
  listenAddress?: string;
  speakerFactory?: (o: SpeakerOptions) => SpeakerLike;
  /**
   * Routes a previous run of the agent left in the kernel (RFC 4724 restarting speaker): they stay
   * programmed until the speaker has re-learned its peers' tables (`synced`) or the restart time
   * ran out, so an agent restart does not cut traffic to other hosts.
   */
  staleRoutes?: readonly KernelRoute[];
}

export interface BgpPeerStatusOut extends PeerStatus {
  /** BGPPeer resource the session comes from (mesh: none). */
  source?: string;
  peerNode?: string;
  passive: boolean;
  rrClient: boolean;
}

export interface BgpStatus {
  enabled: boolean;
  running: boolean;
  reason?: string;
  asn?: number;
  routerId?: string;
  clusterId?: string;
  listenPort?: number;
  peers: BgpPeerStatusOut[];
  advertised: string[];
  learned: { prefix: string; nextHop: string }[];
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' ? v as Obj : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const asn = (v: unknown): number | undefined => {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v !== 'string' || v === '') return undefined;
  const dot = /^(\d+)\.(\d+)$/.exec(v); // asdot
  if (dot !== null) return Number(dot[1]) * 65536 + Number(dot[2]);
  return /^\d+$/.test(v) ? Number(v) : undefined;
};
const plain = (v: unknown): string | undefined => {
  const s = str(v);
  if (s === undefined) return undefined;
  const ip = parseIP(s.split('/')[0]);
  return ip ? formatIP(ip.version, ip.value) : undefined;
};

export function nodeFromResource(name: string, r: unknown): BgpNode {
  const meta = obj(obj(r).metadata);
  const bgp = obj(obj(obj(r).spec).bgp);
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(meta.labels))) if (typeof v === 'string') labels[k] = v;
  const n: BgpNode = { name, labels };
  const v4 = plain(bgp.ipv4Address);
  const v6 = plain(bgp.ipv6Address);
  const a = asn(bgp.asNumber);
  const cid = str(bgp.routeReflectorClusterID);
  if (v4 !== undefined) n.ipv4 = v4;
  if (v6 !== undefined) n.ipv6 = v6;
  if (a !== undefined) n.asNumber = a;
  if (cid !== undefined) n.routeReflectorClusterID = cid;
  return n;
}

export function peerFromResource(name: string, r: unknown): BgpPeerResource {
  const s = obj(obj(r).spec);
  const p: BgpPeerResource = { name };
  const set = <K extends keyof BgpPeerResource>(k: K, v: BgpPeerResource[K] | undefined): void => {
    if (v !== undefined) p[k] = v;
  };
  set('node', str(s.node));
  set('nodeSelector', str(s.nodeSelector));
  set('peerIP', str(s.peerIP));
  set('peerSelector', str(s.peerSelector));
  set('asNumber', asn(s.asNumber));
  set('keepaliveTime', durationSeconds(s.keepaliveTime));
  set('maxRestartTime', durationSeconds(s.maxRestartTime));
  const allow = s.numAllowedLocalASNumbers;
  if (typeof allow === 'number' && Number.isInteger(allow) && allow >= 0) p.numAllowedLocalASNumbers = allow;
  if (s.sourceAddress === 'None' || s.sourceAddress === 'UseNodeIP') p.sourceAddress = s.sourceAddress;
  return p;
}

export function configFromResource(r: unknown): BgpGlobalConfig {
  const s = obj(obj(r).spec);
  const c: BgpGlobalConfig = {};
  if (typeof s.nodeToNodeMeshEnabled === 'boolean') c.nodeToNodeMeshEnabled = s.nodeToNodeMeshEnabled;
  const a = asn(s.asNumber);
  if (a !== undefined) c.asNumber = a;
  if (typeof s.listenPort === 'number') c.listenPort = s.listenPort;
  const rt = durationSeconds(s.nodeMeshMaxRestartTime);
  if (rt !== undefined) c.nodeMeshMaxRestartTime = rt;
  return c;
}

/** Export policy sending only the routes of the given families (one session per family). */
export function familyFilter(families: readonly ('ipv4' | 'ipv6')[]): (prefix: string) => boolean {
  const v4 = families.includes('ipv4');
  const v6 = families.includes('ipv6');
  return (prefix) => (prefix.includes(':') ? v6 : v4);
}

export class BgpAgent {
  readonly #o: BgpAgentOptions;
  readonly #log: Logger;
  readonly #nodes = new Map<string, BgpNode>();
  readonly #peerRes = new Map<string, BgpPeerResource>();
  #config: BgpGlobalConfig = {};
  readonly #pools = new Map<string, ExportPool>();
  #localRoutes: RouteModel[] = [];

  #speaker: SpeakerLike | undefined;
  #speakerCfg: SpeakerConfig | undefined;
  readonly #peers = new Map<string, DesiredPeer>();
  readonly #announced = new Set<string>();
  readonly #learned = new Map<string, string>();
  #plan: BgpPlan = { peers: [] };
  #started = false;
  #stopped = false;
  #busy: Promise<void> = Promise.resolve();
  #dirty = false;
  #routesQueued = false;
  #retryTimer: NodeJS.Timeout | undefined;
  readonly #stale = new Map<string, KernelRoute>();

  constructor(o: BgpAgentOptions) {
    this.#o = o;
    this.#log = o.logger ?? componentLogger('bgp-agent', { node: o.nodeName });
    for (const r of o.staleRoutes ?? []) if (r.type === 'unicast' && r.gateway !== undefined) this.#stale.set(r.dst, r);
    if (this.#stale.size > 0) {
      this.#queueRoutes();
      // Without a speaker (no router ID, listen failure) `synced` never comes: don't keep them forever.
      setTimeout(() => {
        if (this.#speaker !== undefined || this.#stale.size === 0) return;
        this.#log.warn({ stale: this.#stale.size }, 'no bgp speaker; dropping routes kept from the previous run');
        this.#stale.clear();
        this.#queueRoutes();
      }, (DEFAULT_RESTART_TIME + 30) * 1000).unref();
    }
  }

  /** Feeds syncer updates; returns true when one of them mattered for BGP. */
  onUpdates(updates: readonly SyncUpdate[]): boolean {
    let relevant = false;
    for (const u of updates) {
      const rk = parseResourceKey(u.key);
      if (!rk) continue;
      let value: unknown;
      if (u.value !== undefined) {
        try {
          value = JSON.parse(u.value);
        } catch {
          value = undefined;
        }
      }
      switch (rk.kind) {
        case 'Node':
          if (value === undefined) this.#nodes.delete(rk.name);
          else this.#nodes.set(rk.name, nodeFromResource(rk.name, value));
          relevant = true;
          break;
        case 'BGPPeer':
          if (value === undefined) this.#peerRes.delete(rk.name);
          else this.#peerRes.set(rk.name, peerFromResource(rk.name, value));
          relevant = true;
          break;
        case 'BGPConfiguration':
          if (rk.name !== 'default') break;
          this.#config = value === undefined ? {} : configFromResource(value);
          relevant = true;
          break;
        case 'IPPool': {
          const s = obj(obj(value).spec);
          const cidr = typeof s.cidr === 'string' ? canonicalCIDR(s.cidr, { allowBare: true }) : undefined;
          if (value === undefined || cidr === undefined) this.#pools.delete(rk.name);
          else this.#pools.set(rk.name, { cidr, disableBGPExport: s.disableBGPExport === true });
          relevant = true;
          break;
        }
        default:
          break;
      }
    }
    if (relevant) this.#schedule();
    return relevant;
  }

  /** The calc graph's routes for this host (local workloads and local-block blackholes matter). */
  setLocalRoutes(routes: Iterable<RouteModel>): void {
    this.#localRoutes = [...routes].filter((r) => r.type === 'blackhole' || r.type === 'local-workload');
    if (this.#started) this.#syncExports();
  }

  /** Starts peering (call after the datastore's first in-sync: the peer set is complete then). */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    await this.#busy;
    const s = this.#speaker;
    this.#speaker = undefined;
    if (s) await s.stop();
  }

  /** Resolves once every pending reconcile has run (tests). */
  async settled(): Promise<void> {
    while (this.#dirty) await this.#busy;
    await this.#busy;
  }

  status(): BgpStatus {
    const byAddr = new Map(this.#plan.peers.map((p) => [p.address, p]));
    const peers: BgpPeerStatusOut[] = (this.#speaker?.peerStates() ?? []).map((s) => {
      const d = byAddr.get(s.address);
      return {
        ...s, passive: d?.passive ?? false, rrClient: d?.rrClient ?? false,
        ...(d?.source !== undefined ? { source: d.source } : {}),
        ...(d?.peerNode !== undefined ? { peerNode: d.peerNode } : {}),
      };
    });
    const c = this.#speakerCfg;
    return {
      enabled: true, running: this.#speaker !== undefined,
      ...(this.#plan.reason !== undefined ? { reason: this.#plan.reason } : {}),
      ...(c ? { asn: c.asn, routerId: c.routerId, listenPort: c.listenPort, ...(c.clusterId !== undefined ? { clusterId: c.clusterId } : {}) } : {}),
      peers,
      advertised: [...this.#announced].sort(),
      learned: [...this.#learned].map(([prefix, nextHop]) => ({ prefix, nextHop })).sort((a, b) => (a.prefix < b.prefix ? -1 : 1)),
    };
  }

  // ------------------------------------------------------------------------------------------

  #schedule(): void {
    if (!this.#started || this.#stopped) return;
    if (this.#dirty) return;
    this.#dirty = true;
    this.#busy = this.#busy.then(async () => {
      this.#dirty = false;
      try {
        await this.#reconcile();
      } catch (e) {
        this.#log.error({ err: (e as Error).message }, 'bgp reconcile failed; retrying');
        if (this.#retryTimer === undefined) {
          this.#retryTimer = setTimeout(() => {
            this.#retryTimer = undefined;
            this.#schedule();
          }, 2000);
        }
      }
    });
  }

  async #reconcile(): Promise<void> {
    if (this.#stopped) return;
    const plan = computeBgpPlan(this.#o.nodeName, this.#nodes, [...this.#peerRes.values()], this.#config);
    this.#plan = plan;
    let fresh = false;
    if (!sameSpeaker(plan.speaker, this.#speakerCfg) || (plan.speaker !== undefined && this.#speaker === undefined)) {
      await this.#restartSpeaker(plan.speaker, plan.reason);
      fresh = true;
    }
    const sp = this.#speaker;
    if (!sp) return;
    const want = new Map(plan.peers.map((p) => [p.address, p]));
    for (const [addr, have] of this.#peers) {
      const w = want.get(addr);
      if (w === undefined || !samePeer(w, have)) {
        this.#log.info({ peer: addr, type: have.type }, 'removing bgp peer');
        sp.removePeer(addr);
        this.#peers.delete(addr);
      }
    }
    for (const [addr, w] of want) {
      if (this.#peers.has(addr)) continue;
      this.#log.info({ peer: addr, asn: w.asn, type: w.type, passive: w.passive, rrClient: w.rrClient, restartTime: w.restartTime, allowLocalAs: w.allowLocalAs }, 'adding bgp peer');
      sp.addPeer({
        address: addr, asn: w.asn, port: w.port, passive: w.passive, rrClient: w.rrClient, type: w.type, restartTime: w.restartTime,
        ...(w.allowLocalAs !== undefined ? { allowLocalAs: w.allowLocalAs } : {}),
        ...(w.holdTime !== undefined ? { holdTime: w.holdTime } : {}),
        ...(w.keepaliveTime !== undefined ? { keepaliveTime: w.keepaliveTime } : {}),
        ...(w.localAddress !== undefined ? { localAddress: w.localAddress } : {}),
        ...(w.exportFamilies !== undefined ? { exportPolicy: familyFilter(w.exportFamilies) } : {}),
      });
      this.#peers.set(addr, w);
    }
    this.#syncExports();
    if (fresh) {
      // Started only now that its peers are configured: `synced` (all peers' End-of-RIB) must not
      // fire for an empty peer set.
      try {
        await sp.start();
      } catch (e) {
        this.#speaker = undefined;
        this.#speakerCfg = undefined;
        this.#peers.clear();
        this.#announced.clear();
        await sp.stop().catch(() => undefined);
        throw e;
      }
      this.#log.info({ asn: this.#speakerCfg?.asn, routerId: this.#speakerCfg?.routerId, clusterId: this.#speakerCfg?.clusterId, port: this.#speakerCfg?.listenPort }, 'bgp speaker running');
    }
  }

  async #restartSpeaker(cfg: SpeakerConfig | undefined, reason: string | undefined): Promise<void> {
    const old = this.#speaker;
    this.#speaker = undefined;
    this.#speakerCfg = undefined;
    this.#peers.clear();
    this.#announced.clear();
    if (old) {
      this.#log.info('stopping bgp speaker (speaker configuration changed)');
      await old.stop();
      this.#learned.clear();
      this.#queueRoutes();
    }
    // The speaker registers its weft_bgp_* gauges; a replacement speaker registers them afresh.
    const reg = this.#o.registry;
    if (reg !== undefined) for (const m of reg.getMetricsAsArray()) if (m.name.startsWith('weft_bgp_')) reg.removeSingleMetric(m.name);
    if (cfg === undefined) {
      this.#log.warn({ reason }, 'bgp not running');
      return;
    }
    const opts: SpeakerOptions = {
      asn: cfg.asn, routerId: cfg.routerId, listen: { port: cfg.listenPort, ...(this.#o.listenAddress !== undefined ? { address: this.#o.listenAddress } : {}) },
      gracefulRestart: { restartTime: cfg.restartTime, ...(this.#stale.size > 0 ? { restarting: true } : {}) },
      ...(cfg.clusterId !== undefined ? { clusterId: cfg.clusterId } : {}),
      ...(cfg.nextHop6 !== undefined ? { nextHop6: cfg.nextHop6 } : {}),
      ...(this.#o.registry !== undefined ? { registry: this.#o.registry } : {}),
      logger: this.#log.child({ component: 'bgp' }),
    };
    const sp = this.#o.speakerFactory ? this.#o.speakerFactory(opts) : new BgpSpeaker(opts);
    sp.on('routeAdded', (prefix: string, nextHop: string) => {
      if (this.#speaker !== sp) return;
      this.#learned.set(prefix, nextHop);
      this.#queueRoutes();
    });
    sp.on('routeRemoved', (prefix: string) => {
      if (this.#speaker !== sp) return;
      if (this.#learned.delete(prefix)) this.#queueRoutes();
    });
    sp.on('synced', (info: { timedOut: boolean }) => {
      if (this.#speaker !== sp || this.#stale.size === 0) return;
      this.#log.info({ stale: this.#stale.size, timedOut: info.timedOut }, 'bgp synced: dropping routes kept from the previous run');
      this.#stale.clear();
      this.#queueRoutes();
    });
    this.#speaker = sp;
    this.#speakerCfg = cfg;
  }

  #syncExports(): void {
    const sp = this.#speaker;
    if (!sp) return;
    const want = computeExports(this.#localRoutes, this.#pools.values());
    for (const p of [...this.#announced]) {
      if (!want.has(p)) {
        sp.withdraw(p);
        this.#announced.delete(p);
      }
    }
    for (const p of want) {
      if (this.#announced.has(p)) continue;
      sp.announce(p);
      this.#announced.add(p);
    }
  }

  #queueRoutes(): void {
    if (this.#routesQueued) return;
    this.#routesQueued = true;
    // Coalesce: a table dump of many UPDATEs becomes one dataplane update.
    setImmediate(() => {
      this.#routesQueued = false;
      const own = new Set([this.#speakerCfg?.routerId, this.#speakerCfg?.nextHop6]);
      const routes = new Map<string, KernelRoute>();
      for (const [prefix, nextHop] of this.#learned) {
        if (own.has(nextHop) || this.#announced.has(prefix)) continue;
        routes.set(prefix, { dst: prefix, type: 'unicast', gateway: nextHop });
      }
      for (const [dst, r] of this.#stale) if (!routes.has(dst) && !this.#announced.has(dst)) routes.set(dst, r);
      this.#o.setRoutes([...routes.values()]);
    });
  }
}
