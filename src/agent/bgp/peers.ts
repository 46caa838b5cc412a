/**
 * Which BGP sessions this node runs, computed from resources the way confd renders bird.cfg
 * (calico-notes §3; confd/pkg/backends/calico/bgp_processor.go). Pure: no I/O.
 *
 *   node-to-node mesh   BGPConfiguration `default` nodeToNodeMeshEnabled (default true): every
 *                       other Node with an address of the same family, AS = that node's AS.
 *   BGPPeer             applies to this node when `node` names it, `nodeSelector` matches it, or
 *                       neither is set (global). Peers: `peerIP` (external, `asNumber`), or every
 *                       Node `peerSelector` matches (their own AS). And the reverse direction: when
 *                       `peerSelector` matches THIS node, it peers with every node the BGPPeer
 *                       applies to — that is how a route reflector gets its clients from the one
 *                       `peerSelector: route-reflector == 'true'` BGPPeer (Calico does the same).
 *   route reflection    a node with spec.bgp.routeReflectorClusterID is a reflector: any iBGP peer
 *                       whose cluster ID differs from ours (or has none) is its rr-client.
 *   passive side        for a mesh or peerSelector session between two Weft nodes both sides
 *                       configure the peer (the rules are symmetric); the higher address only listens
 *                       (Calico: `passive on` on the greater IP), so one TCP session forms. `peerIP`
 *                       peers are always active (the far side may not configure us).
 * One session per peer address; when several sources name the same address the first wins in the
 * order node specific > global > mesh (explicit configuration over the automatic mesh).
 *   families            a session over IPv6 carries only IPv6 routes (an IPv4 route has no next hop
 *                       there); a session over IPv4 to a node we also have an IPv6 session with
 *                       carries only IPv4 routes — one session per family, as Calico's BIRD/BIRD6.
 *                       Otherwise (IPv4 only, external peers) IPv6 routes ride the IPv4 session with
 *                       our Node's IPv6 address as next hop (`nextHop6`).
 *   per-session options a BGPPeer's `maxRestartTime` is the graceful-restart time advertised on its
 *                       sessions (mesh: nodeMeshMaxRestartTime), `numAllowedLocalASNumbers` how often
 *                       our AS may appear in routes received on them; confd renders them as BIRD's
 *                       per-protocol `graceful restart time` and `allow local as`.
 */
import { evaluateNode, parseSelector, type SelectorNode } from '../../selector/index.ts';
import { parseIP } from '../../lib/ip.ts';

export const DEFAULT_AS = 64512;
export const DEFAULT_BGP_PORT = 179;
export const DEFAULT_RESTART_TIME = 120;

export const PeerTypes = {
  mesh: 'node-to-node mesh',
  global: 'global',
  node: 'node specific',
} as const;
export type PeerType = (typeof PeerTypes)[keyof typeof PeerTypes];

export interface BgpNode {
  name: string;
  labels: Readonly<Record<string, string>>;
  /** Plain addresses (no prefix length). */
  ipv4?: string;
  ipv6?: string;
  asNumber?: number;
  routeReflectorClusterID?: string;
}

export interface BgpPeerResource {
  name: string;
  node?: string;
  nodeSelector?: string;
  /** `ip`, `ip:port` or `[ipv6]:port`. */
  peerIP?: string;
  peerSelector?: string;
  asNumber?: number;
  /** Seconds. */
  keepaliveTime?: number;
  /** Seconds: the graceful-restart time advertised to this peer (BIRD `graceful restart time`). */
  maxRestartTime?: number;
  /** Occurrences of our AS accepted in this peer's AS_PATHs (BIRD `allow local as N`). */
  numAllowedLocalASNumbers?: number;
  /** `UseNodeIP` (default): sessions are sourced from the node's address; `None`: the kernel picks. */
  sourceAddress?: 'UseNodeIP' | 'None';
}

export interface BgpGlobalConfig {
  nodeToNodeMeshEnabled?: boolean;
  asNumber?: number;
  listenPort?: number;
  /** Seconds (nodeMeshMaxRestartTime). */
  nodeMeshMaxRestartTime?: number;
}

export interface SpeakerConfig {
  asn: number;
  routerId: string;
  /** Set when this node is a route reflector. */
  clusterId?: string;
  listenPort: number;
  /**
   * Speaker default graceful-restart time (nodeMeshMaxRestartTime, else 120 s) and how long an
   * agent restart waits for its peers' End-of-RIB. What each peer is told is DesiredPeer.restartTime.
   */
  restartTime: number;
  nextHop6?: string;
}

export interface DesiredPeer {
  address: string;
  port: number;
  asn: number;
  type: PeerType;
  passive: boolean;
  rrClient: boolean;
  /** The Node at that address, for Weft peers. */
  peerNode?: string;
  /** BGPPeer resource name, for configured peers. */
  source?: string;
  /** Source address of outgoing connections (Calico `source address`: the node's own IP). */
  localAddress?: string;
  keepaliveTime?: number;
  holdTime?: number;
  /**
   * Graceful-restart Restart Time advertised to this peer (seconds, 0–4095): BGPPeer
   * `maxRestartTime`, mesh `nodeMeshMaxRestartTime`, else 120 (BIRD's default, which Calico leaves
   * in place when the field is unset).
   */
  restartTime: number;
  /** BGPPeer `numAllowedLocalASNumbers` when > 0. */
  allowLocalAs?: number;
  /** Address families whose routes we send on this session; undefined = every family. */
  exportFamilies?: ('ipv4' | 'ipv6')[];
}

export interface BgpPlan {
  /** Undefined: this node cannot run BGP (no Node resource or no IPv4 address for a router ID). */
  speaker?: SpeakerConfig;
  peers: DesiredPeer[];
  reason?: string;
}

/** Go duration text (`90s`, `1m30s`, `250ms`) → seconds; undefined when absent or invalid. */
export function durationSeconds(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string' || v === '') return undefined;
  if (v === '0') return 0;
  const unit: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  let total = 0;
  let rest = v;
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/.exec(rest);
    if (m === null) return undefined;
    total += Number(m[1]) * unit[m[2]];
    rest = rest.slice(m[0].length);
  }
  return total;
}

/**
 * A duration as the Restart Time field carries it: whole seconds (confd: int(math.Round(d.Seconds()))),
 * at most 4095 (RFC 4724 §3 gives it 12 bits; BIRD refuses larger values, so clamp instead of failing).
 */
export function restartSeconds(v: number | undefined): number | undefined {
  if (v === undefined || !Number.isFinite(v)) return undefined;
  return Math.min(0xfff, Math.max(0, Math.round(v)));
}

/** `ip` | `ip:port` | `[ip6]:port` → address and port. */
export function splitPeerIP(s: string, defaultPort: number): { address: string; port: number } | undefined {
  const br = /^\[([^\]]+)\]:(\d+)$/.exec(s);
  if (br !== null) return parseIP(br[1]) ? { address: br[1], port: Number(br[2]) } : undefined;
  if (parseIP(s)) return { address: s, port: defaultPort };
  const m = /^([^:]+):(\d+)$/.exec(s);
  if (m !== null && parseIP(m[1])) return { address: m[1], port: Number(m[2]) };
  return undefined;
}

/** Numeric address order (IPv4 before IPv6). */
export function compareAddresses(a: string, b: string): number {
  const x = parseIP(a);
  const y = parseIP(b);
  if (!x || !y) return a < b ? -1 : a > b ? 1 : 0;
  if (x.version !== y.version) return x.version - y.version;
  return x.value < y.value ? -1 : x.value > y.value ? 1 : 0;
}

const selectorCache = new Map<string, SelectorNode>();
function matches(selector: string, labels: Readonly<Record<string, string>>): boolean {
  let ast = selectorCache.get(selector);
  if (ast === undefined) {
    try {
      ast = parseSelector(selector).ast;
    } catch {
      return false; // an invalid selector selects nothing
    }
    if (selectorCache.size > 1000) selectorCache.clear();
    selectorCache.set(selector, ast);
  }
  return evaluateNode(ast, labels);
}

/** Calico also lets node selectors see the node name as a label (`projectcalico.org/name`). */
function nodeLabels(n: BgpNode): Record<string, string> {
  return { ...n.labels, 'projectcalico.org/name': n.name };
}

function appliesTo(p: BgpPeerResource, n: BgpNode): boolean {
  if (p.node !== undefined && p.node !== '') return p.node === n.name;
  if (p.nodeSelector !== undefined && p.nodeSelector !== '') return matches(p.nodeSelector, nodeLabels(n));
  return true;
}

function typeOf(p: BgpPeerResource): PeerType {
  const scoped = (p.node ?? '') !== '' || (p.nodeSelector ?? '') !== '' || (p.peerSelector ?? '') !== '';
  return scoped ? PeerTypes.node : PeerTypes.global;
}

export function computeBgpPlan(localName: string, nodes: ReadonlyMap<string, BgpNode>, bgpPeers: readonly BgpPeerResource[], config: BgpGlobalConfig): BgpPlan {
  const local = nodes.get(localName);
  if (local === undefined) return { peers: [], reason: `no Node resource ${localName}` };
  if (local.ipv4 === undefined) return { peers: [], reason: 'node has no IPv4 address (needed as BGP router ID)' };
  const defaultAs = config.asNumber ?? DEFAULT_AS;
  const asOf = (n: BgpNode): number => n.asNumber ?? defaultAs;
  const localAs = asOf(local);
  const listenPort = config.listenPort ?? DEFAULT_BGP_PORT;
  const clusterId = local.routeReflectorClusterID;
  const meshRestartTime = restartSeconds(config.nodeMeshMaxRestartTime) ?? DEFAULT_RESTART_TIME;
  const speaker: SpeakerConfig = {
    asn: localAs, routerId: local.ipv4, listenPort,
    restartTime: meshRestartTime,
    ...(clusterId !== undefined ? { clusterId } : {}),
    ...(local.ipv6 !== undefined ? { nextHop6: local.ipv6 } : {}),
  };
  const out = new Map<string, DesiredPeer>();
  const localAddrs = new Set([local.ipv4, local.ipv6].filter((a): a is string => a !== undefined));

  /** Per-session settings a BGPPeer carries (none for the mesh but its restart time). */
  const timers = (p: BgpPeerResource | undefined): Pick<DesiredPeer, 'keepaliveTime' | 'holdTime' | 'restartTime' | 'allowLocalAs'> => ({
    ...(p?.keepaliveTime !== undefined && p.keepaliveTime > 0
      ? { keepaliveTime: p.keepaliveTime, holdTime: Math.max(3, Math.round(p.keepaliveTime * 3)) }
      : {}),
    // confd: mesh peers get nodeMeshMaxRestartTime, BGPPeer peers their own maxRestartTime; unset,
    // no `graceful restart time` line is rendered and BIRD's default of 120 s applies.
    restartTime: p === undefined ? meshRestartTime : (restartSeconds(p.maxRestartTime) ?? DEFAULT_RESTART_TIME),
    ...(p?.numAllowedLocalASNumbers !== undefined && p.numAllowedLocalASNumbers > 0 ? { allowLocalAs: p.numAllowedLocalASNumbers } : {}),
  });

  const add = (peer: DesiredPeer, src: BgpPeerResource | undefined): void => {
    if (localAddrs.has(peer.address) || out.has(peer.address)) return;
    const mine = peer.address.includes(':') ? local.ipv6 : local.ipv4;
    if (mine !== undefined && src?.sourceAddress !== 'None') peer.localAddress = mine;
    out.set(peer.address, peer);
  };

  /** Sessions to another Weft node, one per family both have an address in. */
  const addNodePeer = (n: BgpNode, type: PeerType, src: BgpPeerResource | undefined): void => {
    if (n.name === localName) return;
    const asn = asOf(n);
    const rrClient = clusterId !== undefined && asn === localAs && n.routeReflectorClusterID !== clusterId;
    for (const [mine, theirs] of [[local.ipv4, n.ipv4], [local.ipv6, n.ipv6]] as const) {
      if (mine === undefined || theirs === undefined) continue;
      add({
        address: theirs, port: listenPort, asn, type, rrClient, peerNode: n.name,
        passive: compareAddresses(mine, theirs) > 0,
        ...(src !== undefined ? { source: src.name } : {}),
        ...timers(src),
      }, src);
    }
  };

  const sortedNodes = [...nodes.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const sortedPeers = [...bgpPeers].sort((a, b) => {
    const ta = typeOf(a) === PeerTypes.node ? 0 : 1;
    const tb = typeOf(b) === PeerTypes.node ? 0 : 1;
    return ta - tb || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  });
  for (const p of sortedPeers) {
    const type = typeOf(p);
    const forward = appliesTo(p, local);
    if (forward && p.peerIP !== undefined && p.peerIP !== '') {
      const hp = splitPeerIP(p.peerIP, DEFAULT_BGP_PORT);
      if (hp === undefined) continue;
      // A peerIP that is another Weft node's address is a node peering (passive rule, its AS).
      const n = sortedNodes.find((x) => x.ipv4 === hp.address || x.ipv6 === hp.address);
      const asn = p.asNumber ?? (n !== undefined ? asOf(n) : localAs);
      const rrClient = clusterId !== undefined && asn === localAs && n?.routeReflectorClusterID !== clusterId;
      add({
        address: hp.address, port: hp.port, asn, type, rrClient, source: p.name,
        // Always active: the other side may not configure us (no symmetric rule as for the mesh
        // and peerSelector peerings), and if it does, collision resolution (RFC 4271 §6.8) keeps one.
        passive: false,
        ...(n !== undefined ? { peerNode: n.name } : {}),
        ...timers(p),
      }, p);
      continue;
    }
    if (p.peerSelector === undefined || p.peerSelector === '') continue;
    for (const n of sortedNodes) {
      if (n.name === localName) continue;
      const fwd = forward && matches(p.peerSelector, nodeLabels(n));
      const rev = matches(p.peerSelector, nodeLabels(local)) && appliesTo(p, n);
      if (fwd || rev) addNodePeer(n, type, p);
    }
  }
  if (config.nodeToNodeMeshEnabled ?? true) {
    for (const n of sortedNodes) addNodePeer(n, PeerTypes.mesh, undefined);
  }
  const peers = [...out.values()].sort((a, b) => compareAddresses(a.address, b.address));
  const v6Nodes = new Set(peers.filter((p) => p.address.includes(':') && p.peerNode !== undefined).map((p) => p.peerNode));
  for (const p of peers) {
    if (p.address.includes(':')) p.exportFamilies = ['ipv6'];
    else if (p.peerNode !== undefined && v6Nodes.has(p.peerNode)) p.exportFamilies = ['ipv4'];
  }
  return { speaker, peers };
}

/** Two desired peers configure the same session (no need to re-create it). */
export function samePeer(a: DesiredPeer, b: DesiredPeer): boolean {
  return a.address === b.address && a.port === b.port && a.localAddress === b.localAddress && a.asn === b.asn && a.type === b.type && a.passive === b.passive &&
    a.rrClient === b.rrClient && a.keepaliveTime === b.keepaliveTime && a.holdTime === b.holdTime &&
    // Both are fixed for the life of a session (the Restart Time goes out in OPEN; routes already
    // refused as loops would need a refresh), so a change re-creates just this session, as BIRD
    // restarts a protocol whose `graceful restart time` / `allow local as` changed on reconfigure.
    a.restartTime === b.restartTime && (a.allowLocalAs ?? 0) === (b.allowLocalAs ?? 0) &&
    (a.exportFamilies ?? []).join() === (b.exportFamilies ?? []).join();
}

export function sameSpeaker(a: SpeakerConfig | undefined, b: SpeakerConfig | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}
