/**
 * BgpSpeaker: the TCP BGP speaker. Owns the listener, one FSM per configured peer and the RIB,
 * and turns RIB changes into UPDATEs and `routeAdded`/`routeRemoved` events for the agent.
 *
 * Everything runs on the event loop without awaits between reading a message and applying it, so
 * RIB mutations never interleave (the JS analogue of gobgp's single management goroutine).
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { Gauge, type Registry } from 'prom-client';
import { componentLogger, type Logger } from '../../lib/log.ts';
import {
  Afi, BGP_PORT, canonicalPrefix, isEndOfRib, packAnnouncements, packWithdrawals, toTwoOctet, endOfRib, encodeMessage,
} from '../packet/index.ts';
import type { PathAttributes, Prefix } from '../packet/index.ts';
import { BgpFsm, systemClock, type Clock, type FsmState, type Session } from '../fsm/index.ts';
import { Rib, type Path, type RibPeer } from '../rib/index.ts';
import { SocketTransport, dial, plainAddress } from './socket.ts';

export type AddressFamily = 'ipv4' | 'ipv6';

export interface SpeakerOptions {
  asn: number;
  routerId: string;
  /** RFC 4456 cluster ID when acting as route reflector; defaults to the router ID. */
  clusterId?: string;
  /** TCP listener; `false` = do not listen (every peer must be active). */
  listen?: { port?: number; address?: string } | false;
  holdTime?: number;
  keepaliveTime?: number;
  connectRetryTime?: number;
  families?: AddressFamily[];
  /** Advertise RFC 4724 graceful restart; `restarting` after an agent restart (routes kept in the kernel). */
  gracefulRestart?: { restartTime: number; restarting?: boolean };
  /** Our IPv6 next hop for IPv6 routes when sessions run over IPv4. */
  nextHop6?: string;
  clock?: Clock;
  logger?: Logger;
  /** Registers `weft_bgp_*` metrics here (the agent passes its registry; none by default). */
  registry?: Registry;
}

export interface PeerOptions {
  address: string;
  asn: number;
  port?: number;
  /** Only accept connections, never dial (Calico makes the higher-addressed mesh side passive). */
  passive?: boolean;
  rrClient?: boolean;
  /** Source address for outgoing connections. */
  localAddress?: string;
  /** Status label, e.g. "node-to-node mesh", "global", "node specific". */
  type?: string;
  holdTime?: number;
  keepaliveTime?: number;
  connectRetryTime?: number;
  nextHopSelf?: boolean;
  nextHop6?: string;
  exportPolicy?: (prefix: Prefix, attrs: PathAttributes) => boolean;
  /**
   * Graceful-restart Restart Time (seconds, RFC 4724 §3) advertised to this peer, overriding the
   * speaker's `gracefulRestart.restartTime`; set alone it still advertises the capability (without
   * the R bit), as BIRD's `graceful restart time` does in its default "aware" mode (proto/bgp/
   * packets.c bgp_prepare_capabilities: `caps->gr_time = p->cf->gr_time`). Like BIRD, this is
   * only what we announce — how long the peer keeps our routes when we restart. How long we
   * keep a restarting peer's routes is the time *it* advertised (BIRD proto/bgp/bgp.c
   * bgp_handle_graceful_restart: `remote_caps->gr_time`; doc/bird.sgml "graceful restart time":
   * "announced in the BGP Graceful Restart capability and specifies how long the neighbor would
   * wait"). Calico renders BGPPeer `maxRestartTime` as exactly this per-peer BIRD option.
   */
  restartTime?: number;
  /** Occurrences of our AS accepted in this (eBGP) peer's AS_PATHs; default 0 (RFC 4271 §9.1.2). */
  allowLocalAs?: number;
}

export interface PeerStatus {
  address: string;
  asn: number;
  type: string;
  state: FsmState;
  /** ISO time the state was entered. */
  since: string;
  /** Last error or the reason of the last transition. */
  info: string;
  routerId?: string;
  prefixesReceived: number;
  prefixesAdvertised: number;
  /** Routes kept stale for a restarting peer (RFC 4724). */
  prefixesStale: number;
}

export interface RouteInfo {
  peer: string;
  asPath: number[];
}

export interface SpeakerEvents {
  routeAdded: [prefix: Prefix, nextHop: string, info: RouteInfo];
  routeRemoved: [prefix: Prefix, nextHop: string];
  peerState: [status: PeerStatus];
  /** A peer finished its initial table for one family (RFC 4724 End-of-RIB). */
  endOfRib: [peer: string, afi: number];
  /**
   * Every configured peer has sent End-of-RIB for each negotiated family, or the restart time ran
   * out (RFC 4724 §4.1). After an agent restart, kernel routes not re-learned by now are stale.
   */
  synced: [info: { timedOut: boolean }];
}

interface PeerEntry {
  opts: PeerOptions;
  fsm: BgpFsm;
  rib: RibPeer;
  grTimer?: unknown;
  log: Logger;
  blocked: boolean;
}

/** One RouteInfo per shared Path, not per prefix: a 1M-route table must not mean 1M small objects. */
const infoCache = new WeakMap<Path, RouteInfo>();
function routeInfo(p: Path): RouteInfo {
  let i = infoCache.get(p);
  if (!i) {
    i = { peer: p.peer?.address ?? '', asPath: (p.attrs.asPath ?? []).flatMap((s) => s.asns) };
    infoCache.set(p, i);
  }
  return i;
}

export class BgpSpeaker extends EventEmitter<SpeakerEvents> {
  readonly options: SpeakerOptions;
  readonly rib: Rib;
  private readonly peers = new Map<string, PeerEntry>();
  private readonly servers: net.Server[] = [];
  private readonly clock: Clock;
  private readonly log: Logger;
  private flushQueued = false;
  private readonly dirtyPeers = new Set<string>();
  private started = false;
  private synced = false;
  private syncTimer: unknown;
  /** peer → families it still owes End-of-RIB for (filled at Established). */
  private readonly owedEor = new Map<string, Set<number>>();
  /** Actual listening port (useful with port 0). */
  port = 0;

  constructor(options: SpeakerOptions) {
    super();
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? componentLogger('bgp');
    this.rib = new Rib({
      localAs: options.asn, routerId: options.routerId, clusterId: options.clusterId,
      onBestChange: (prefix, best, prev) => this.onBestChange(prefix, best, prev),
      onDirty: (p) => this.markDirty(p.id),
    });
    if (options.registry) this.registerMetrics(options.registry);
  }

  private registerMetrics(registry: Registry): void {
    // Values are read at scrape time from the FSMs/RIB, so the hot path pays nothing.
    const states = (): PeerStatus[] => this.peerStates();
    new Gauge({
      name: 'weft_bgp_peers', help: 'Configured BGP peers by FSM state', labelNames: ['state'], registers: [registry],
      collect() {
        this.reset();
        for (const s of states()) this.inc({ state: s.state });
      },
    });
    new Gauge({
      name: 'weft_bgp_prefixes_received', help: 'Prefixes accepted from each peer', labelNames: ['peer'], registers: [registry],
      collect() {
        this.reset();
        for (const s of states()) this.set({ peer: s.address }, s.prefixesReceived);
      },
    });
    new Gauge({
      name: 'weft_bgp_prefixes_advertised', help: 'Prefixes advertised to each peer', labelNames: ['peer'], registers: [registry],
      collect() {
        this.reset();
        for (const s of states()) this.set({ peer: s.address }, s.prefixesAdvertised);
      },
    });
    const rib = this.rib;
    new Gauge({
      name: 'weft_bgp_loc_rib_prefixes', help: 'Prefixes in the Loc-RIB', registers: [registry],
      collect() {
        this.set(rib.loc.size);
      },
    });
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const l = this.options.listen;
    if (l !== false) {
      const server = net.createServer((s) => this.onConnection(s));
      this.servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: l?.port ?? BGP_PORT, host: l?.address }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const a = server.address();
      this.port = typeof a === 'object' && a ? a.port : 0;
      this.log.info({ port: this.port, address: l?.address }, 'bgp listening');
    }
    for (const p of this.peers.values()) p.fsm.start();
    this.syncTimer = this.clock.setTimeout(() => this.finishSync(true), (this.options.gracefulRestart?.restartTime ?? 120) * 1000);
    this.checkSynced();
  }

  /** True once `synced` has fired. */
  get isSynced(): boolean {
    return this.synced;
  }

  private finishSync(timedOut: boolean): void {
    if (this.synced) return;
    this.synced = true;
    if (this.syncTimer !== undefined) this.clock.clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    this.emit('synced', { timedOut });
  }

  private checkSynced(): void {
    if (this.synced || !this.started) return;
    for (const [addr, p] of this.peers) {
      if (p.fsm.state !== 'established') return;
      if ((this.owedEor.get(addr)?.size ?? 0) > 0) return;
    }
    this.finishSync(false);
  }

  async stop(): Promise<void> {
    this.started = false;
    if (this.syncTimer !== undefined) this.clock.clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    for (const p of this.peers.values()) {
      p.fsm.stop();
      if (p.grTimer !== undefined) this.clock.clearTimeout(p.grTimer);
      p.grTimer = undefined;
    }
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers.length = 0;
  }

  // ---------------------------------------------------------------- peers

  addPeer(opts: PeerOptions): void {
    const address = plainAddress(opts.address);
    if (this.peers.has(address)) throw new Error(`peer ${address} already configured`);
    const o = this.options;
    const families = (o.families ?? ['ipv4', 'ipv6']).map((f) => ({ afi: f === 'ipv4' ? Afi.IPV4 : Afi.IPV6, safi: 1 }));
    const log = this.log.child({ peer: address });
    const gracefulRestart = opts.restartTime === undefined ? o.gracefulRestart : { restarting: false, ...o.gracefulRestart, restartTime: opts.restartTime };
    const fsm = new BgpFsm({
      localAs: o.asn, peerAs: opts.asn, routerId: o.routerId,
      holdTime: opts.holdTime ?? o.holdTime ?? 90,
      keepaliveTime: opts.keepaliveTime ?? o.keepaliveTime,
      connectRetryTime: opts.connectRetryTime ?? o.connectRetryTime ?? 5,
      passive: !!opts.passive, families, gracefulRestart, clock: this.clock,
      dial: () => dial(address, opts.port ?? BGP_PORT, opts.localAddress),
    });
    const rib = this.rib.addPeer({
      id: address, address, asn: opts.asn, rrClient: opts.rrClient, nextHopSelf: opts.nextHopSelf,
      nextHop6: opts.nextHop6 ?? o.nextHop6, exportPolicy: opts.exportPolicy, allowLocalAs: opts.allowLocalAs,
    });
    const entry: PeerEntry = { opts: { ...opts, address }, fsm, rib, log, blocked: false };
    fsm.setEvents({
      stateChange: (t) => {
        log.info({ from: t.from, to: t.to, reason: t.reason, info: t.info }, 'bgp peer state');
        this.emit('peerState', this.status(entry));
      },
      established: (s) => this.onEstablished(entry, s),
      update: (m, s) => {
        const eor = isEndOfRib(m);
        if (eor) {
          this.owedEor.get(address)?.delete(eor.afi);
          this.emit('endOfRib', address, eor.afi);
          this.checkSynced();
          if (entry.rib.staleCount > 0) {
            const n = this.rib.sweepStale(address, eor.afi);
            log.info({ afi: eor.afi, swept: n }, 'end-of-rib: stale routes removed');
          }
          if (entry.rib.staleCount === 0 && entry.grTimer !== undefined) {
            this.clock.clearTimeout(entry.grTimer);
            entry.grTimer = undefined;
          }
          return;
        }
        if (m.errors) log.warn({ errors: m.errors.map((e) => e.message), treatAsWithdraw: !!m.treatAsWithdraw }, 'update errors (RFC 7606)');
        this.rib.applyUpdate(address, m, s.ctx);
      },
      routeRefresh: () => this.rib.resync(address),
      down: (reason, info) => this.onDown(entry, reason, info.graceful),
      drain: () => {
        entry.blocked = false;
        this.markDirty(address);
      },
    });
    this.peers.set(address, entry);
    if (this.started) fsm.start();
  }

  removePeer(address: string): void {
    const a = plainAddress(address);
    const p = this.peers.get(a);
    if (!p) return;
    p.fsm.stop(3); // Cease / Peer De-configured (RFC 4486)
    if (p.grTimer !== undefined) this.clock.clearTimeout(p.grTimer);
    this.peers.delete(a);
    this.owedEor.delete(a);
    this.rib.removePeer(a);
    this.checkSynced();
  }

  /** Asks a peer to re-send its routes (RFC 2918), e.g. after an import policy change. */
  refresh(address: string): boolean {
    const p = this.peers.get(plainAddress(address));
    const s = p?.fsm.session;
    if (!p || !s || !s.routeRefresh) return false;
    for (const f of s.families) p.fsm.sendMessage({ type: 'route-refresh', afi: f.afi, safi: f.safi, subtype: 0 });
    return true;
  }

  peerStates(): PeerStatus[] {
    return [...this.peers.values()].map((p) => this.status(p));
  }

  private status(p: PeerEntry): PeerStatus {
    const f = p.fsm;
    const last = f.history.at(-1);
    return {
      address: p.opts.address,
      asn: p.opts.asn,
      type: p.opts.type ?? (p.opts.asn === this.options.asn ? 'ibgp' : 'ebgp'),
      state: f.state,
      since: new Date(f.since).toISOString(),
      info: f.state === 'established' ? 'Established' : (f.lastError ?? last?.info ?? last?.reason ?? ''),
      ...(f.session ? { routerId: f.session.peerId } : {}),
      prefixesReceived: p.rib.received,
      prefixesAdvertised: p.rib.adjOut.size,
      prefixesStale: p.rib.staleCount,
    };
  }

  // ---------------------------------------------------------------- routes

  /** Originates `prefix` (canonicalised) to all peers the export rules allow. */
  announce(prefix: Prefix, attrs: Partial<PathAttributes> = {}): void {
    const c = canonicalPrefix(prefix);
    if (!c) throw new TypeError(`invalid prefix ${prefix}`);
    this.rib.originate(c, attrs);
  }

  withdraw(prefix: Prefix): void {
    const c = canonicalPrefix(prefix);
    if (!c) throw new TypeError(`invalid prefix ${prefix}`);
    this.rib.withdrawLocal(c);
  }

  /** Selected routes learned from peers (what the agent programs into the kernel). */
  routes(): { prefix: Prefix; nextHop: string; peer: string }[] {
    const out: { prefix: Prefix; nextHop: string; peer: string }[] = [];
    for (const [prefix, slot] of this.rib.loc) {
      const b = Array.isArray(slot) ? slot[0] : slot;
      if (b.peer) out.push({ prefix, nextHop: b.nextHop, peer: b.peer.address });
    }
    return out;
  }

  private onBestChange(prefix: Prefix, best: Path | undefined, prev: Path | undefined): void {
    const nh = best?.peer ? best.nextHop : undefined;
    const old = prev?.peer ? prev.nextHop : undefined;
    if (nh !== undefined && best?.peer) {
      if (nh !== old || prev?.peer !== best.peer) this.emit('routeAdded', prefix, nh, routeInfo(best));
    } else if (old !== undefined) {
      this.emit('routeRemoved', prefix, old);
    }
  }

  // ---------------------------------------------------------------- sessions

  private onConnection(s: net.Socket): void {
    const addr = plainAddress(s.remoteAddress);
    const p = this.peers.get(addr);
    if (!p) {
      this.log.debug({ remote: addr }, 'connection from unknown peer refused');
      s.destroy();
      return;
    }
    p.fsm.accept(new SocketTransport(s));
  }

  private onEstablished(p: PeerEntry, s: Session): void {
    p.log.info({ holdTime: s.holdTime, families: s.families, fourOctetAs: s.ctx.fourOctetAs }, 'bgp session established');
    // Only a peer that speaks graceful restart promises End-of-RIB (RFC 4724 §2).
    this.owedEor.set(p.opts.address, new Set(s.peerGracefulRestart ? s.families.map((f) => f.afi) : []));
    this.rib.peerUp(p.opts.address, { routerId: s.peerId, localAddress: s.localAddress, families: s.families.map((f) => f.afi) });
    this.checkSynced();
  }

  private onDown(p: PeerEntry, reason: string, graceful: boolean): void {
    // The peer's advertised Restart Time, not ours (RFC 4724 §4.2; BIRD: remote_caps->gr_time).
    const restartTime = p.fsm.session?.peerGracefulRestart?.restartTime ?? 0;
    p.log.info({ reason, graceful }, 'bgp session down');
    if (graceful && restartTime > 0 && p.rib.received > 0) {
      // RFC 4724 §4.2 helper: keep the routes (marked stale) until the peer is back or time is up.
      this.rib.markStale(p.opts.address);
      if (p.grTimer !== undefined) this.clock.clearTimeout(p.grTimer);
      p.grTimer = this.clock.setTimeout(() => {
        p.grTimer = undefined;
        const n = this.rib.sweepStale(p.opts.address);
        p.log.info({ swept: n }, 'graceful restart timer expired');
      }, restartTime * 1000);
    } else {
      this.rib.peerDown(p.opts.address);
    }
  }

  // ---------------------------------------------------------------- output

  private markDirty(id: string): void {
    this.dirtyPeers.add(id);
    if (this.flushQueued) return;
    this.flushQueued = true;
    // Coalesce: everything learned in this turn of the event loop goes out in the same UPDATEs.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushQueued = false;
    const ids = [...this.dirtyPeers];
    this.dirtyPeers.clear();
    for (const id of ids) {
      const p = this.peers.get(id);
      if (!p || p.fsm.state !== 'established' || !p.fsm.session) continue;
      if (p.blocked) continue; // resumes on 'drain'
      const batch = this.rib.collect(id);
      if (!batch) continue;
      const ctx = p.fsm.session.ctx;
      let ok = true;
      const send = (b: Uint8Array): void => {
        if (!p.fsm.send(b)) ok = false;
      };
      for (const [afi, f] of [[Afi.IPV4, batch.v4], [Afi.IPV6, batch.v6]] as const) {
        if (f.withdraw.length) for (const b of packWithdrawals(f.withdraw, afi, ctx)) send(b);
        for (const [attrs, prefixes] of f.groups) {
          const a = ctx.fourOctetAs ? attrs : toTwoOctet(attrs);
          const nh6 = afi === Afi.IPV6 && a.nextHop ? [a.nextHop] : undefined;
          for (const b of packAnnouncements(prefixes, a, afi, ctx, nh6)) send(b);
        }
      }
      for (const afi of batch.endOfRib) send(encodeMessage(endOfRib(afi, 1), ctx));
      if (!ok) p.blocked = true;
      if (p.rib.dirty.size > 0 && !p.blocked) this.markDirty(id);
    }
  }
}
