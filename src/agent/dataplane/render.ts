/**
 * Pure renderer: DataplaneModel → TableDef (Weft's one nftables table, `table inet weft`).
 *
 *   raw-prerouting (prerouting, raw)       mangle-prerouting (prerouting, mangle)
 *     clear marks                            ct established → accept; accepted in raw → accept
 *     iifname vmap @hep-notrack-from         iifname vmap @hep-prednat → fhpd-<if> (pre-DNAT)
 *       → fhnt-<if> (doNotTrack ingress)     [`*` HEP: fallback goto fhpd-any-interface]
 *   raw-output (output, raw)
 *     clear marks; oifname vmap @hep-notrack-to → thnt-<if> (doNotTrack egress, host traffic only)
 *
 *   filter-forward (hook forward)          filter-input (hook input)        filter-output (hook output)
 *     !accepted: iifname vmap @hep-fwd-from  iifname "cali*" → wl-to-host     accepted (raw) → accept
 *       → fhfw-<if> (applyOnForward in)     accepted (raw/pre-DNAT) → accept oifname "cali*" accept
 *     clear marks                            clear marks                      oifname vmap @hep-to → th-<if>
 *     iifname vmap @wl-from → fw-<if>        iifname vmap @hep-from → fh-<if>
 *     iifname "cali*" !accept-mark → drop   wl-to-host: ct/DHCP/ND, vmap @wl-from, fail closed,
 *     clear marks                              failsafe-in, defaultEndpointToHostAction
 *     oifname vmap @wl-to → tw-<if>
 *     oifname "cali*" !accept-mark → drop  nat-postrouting: pool → non-pool: masquerade
 *     clear marks
 *     oifname vmap @hep-fwd-to → thfw-<if> (applyOnForward out)
 *
 * Dispatch is by verdict map keyed on interface name (O(1) per packet, peers-notes §6.1); an
 * endpoint chain returns with the ACCEPT mark bit set when policy allowed the packet and drops
 * otherwise, so "no map entry" (an interface Weft does not know yet) is caught by the prefix rule
 * that follows: fail closed (calico-notes §2.4).
 *
 * Endpoint chain: conntrack → anti-spoofing (fw only) → tiers in order (each policy chain sets
 * ACCEPT or PASS and returns, or drops; end of tier drops unless PASS) → profiles → drop.
 *
 * Host endpoint stages (felix rules/static.go, endpoints.go; Calico "summary of host endpoint
 * policies"): untracked (raw) → pre-DNAT (mangle) → normal (input/output) or forward. An Allow in
 * the untracked or pre-DNAT stage sets the ACCEPT bit, which later stages honour (filter-input and
 * filter-output accept at once, filter-forward skips the ingress forward chain); an untracked
 * Allow also `notrack`s the packet. Neither stage drops at the end of a tier. Failsafe ports skip
 * both stages (raw failsafes also match replies by source port, as felix's raw failsafe chains do).
 */
import { createHash } from 'node:crypto';
import { parseCIDR } from '../../lib/ip.ts';
import type { PortRange } from '../../policy/index.ts';
import type { DataplaneModel, DpHostEndpoint, DpPolicy, DpProtoPort, DpRule, DpTier, DpWorkloadEndpoint } from './model.ts';
import { canonicalElement, collapseCidrs, emptyTable, type ChainDef, type SetDef, type TableDef } from './nftmodel.ts';

/** Mark bits Weft uses on packets while they traverse its chains (felix markbits; cleared before use). */
export const MARK_ACCEPT = 0x10000;
export const MARK_PASS = 0x20000;
const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;
const CLEAR_MARKS = `meta mark set meta mark & ${hex(~(MARK_ACCEPT | MARK_PASS) >>> 0)}`;
const CLEAR_PASS = `meta mark set meta mark & ${hex(~MARK_PASS >>> 0)}`;
const SET_ACCEPT = `meta mark set meta mark | ${hex(MARK_ACCEPT)}`;
const SET_PASS = `meta mark set meta mark | ${hex(MARK_PASS)}`;
const IF_ACCEPTED = `meta mark & ${hex(MARK_ACCEPT)} == ${hex(MARK_ACCEPT)}`;
const IF_NOT_ACCEPTED = `meta mark & ${hex(MARK_ACCEPT)} != ${hex(MARK_ACCEPT)}`;
const IF_NOT_PASSED = `meta mark & ${hex(MARK_PASS)} != ${hex(MARK_PASS)}`;

export const Chains = {
  forward: 'filter-forward',
  input: 'filter-input',
  output: 'filter-output',
  natPost: 'nat-postrouting',
  wlToHost: 'wl-to-host',
  failsafeIn: 'failsafe-in',
  failsafeOut: 'failsafe-out',
  /** doNotTrack policy, before conntrack (felix raw PREROUTING / OUTPUT). */
  rawPrerouting: 'raw-prerouting',
  rawOutput: 'raw-output',
  /** preDNAT policy, after conntrack and before DNAT (felix mangle PREROUTING). */
  manglePrerouting: 'mangle-prerouting',
  /** Raw-table failsafes: also match replies by source port (felix failsafe chains in raw). */
  failsafeInRaw: 'failsafe-in-raw',
  failsafeOutRaw: 'failsafe-out-raw',
} as const;

/** Chain-name stand-in for the all-interfaces host endpoint (`interfaceName: '*'`). */
const WILDCARD_IF = 'any-interface';

export const Maps = {
  wlFrom: 'wl-from',
  wlTo: 'wl-to',
  hepFrom: 'hep-from',
  hepTo: 'hep-to',
  /** Forwarded traffic through a host endpoint (applyOnForward policy). */
  hepFwdFrom: 'hep-fwd-from',
  hepFwdTo: 'hep-fwd-to',
  /** Pre-DNAT policy, ingress only. */
  hepPreDnat: 'hep-prednat',
  /** Untracked (doNotTrack) policy. */
  hepNotrackFrom: 'hep-notrack-from',
  hepNotrackTo: 'hep-notrack-to',
} as const;

export const Sets = {
  masq4: 'masq-pools4',
  masq6: 'masq-pools6',
  all4: 'all-pools4',
  all6: 'all-pools6',
} as const;

/**
 * A safe nftables identifier for an arbitrary id: readable when it already is, otherwise the
 * sanitised text plus a short hash so distinct ids never collide.
 */
export function objName(prefix: string, id: string): string {
  const clean = id.replace(/[^A-Za-z0-9_.-]/g, '_');
  if (clean === id && id.length <= 40) return `${prefix}-${id}`;
  const h = createHash('sha256').update(id).digest('hex').slice(0, 8);
  return `${prefix}-${clean.slice(0, 30)}-${h}`;
}

export const setName = (id: string, v: 4 | 6): string => objName(`s${v}`, id);
export const policyChain = (id: string, dir: 'in' | 'out'): string => objName(dir === 'in' ? 'pi' : 'po', id);
export const profileChain = (id: string, dir: 'in' | 'out'): string => objName(dir === 'in' ? 'pri' : 'pro', id);
/**
 * Endpoint chain names: `fw`/`tw` workload egress/ingress; host endpoint `fh`/`th` normal,
 * `fhfw`/`thfw` forward (felix's names), `fhpd` pre-DNAT, `fhnt`/`thnt` untracked.
 */
export type EndpointChainKind = 'fw' | 'tw' | 'fh' | 'th' | 'fhfw' | 'thfw' | 'fhpd' | 'fhnt' | 'thnt';
export const endpointChain = (kind: EndpointChainKind, iface: string): string => `${kind}-${iface}`;

const quote = (s: string): string => JSON.stringify(s);

function anonSet(items: string[]): string {
  return items.length === 1 ? items[0]! : `{ ${items.join(', ')} }`;
}

const PROTO_BY_NUMBER: Record<number, string> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'ipv6-icmp', 132: 'sctp', 136: 'udplite' };

function protoText(p: number): string {
  return PROTO_BY_NUMBER[p] ?? String(p);
}

function portsText(ports: readonly PortRange[]): string {
  const items = [...ports]
    .sort((a, b) => a.first - b.first || a.last - b.last)
    .map((r) => (r.first === r.last ? String(r.first) : `${r.first}-${r.last}`));
  return anonSet([...new Set(items)]);
}

const nonEmpty = <T>(a: readonly T[] | undefined): a is readonly T[] => a !== undefined && a.length > 0;

/** The address families a rule can match at all; [0] = one family-neutral rule suffices. */
function ruleFamilies(r: DpRule): (4 | 6 | 0)[] {
  const fams = new Set<4 | 6>([4, 6]);
  if (r.ipVersion !== undefined) fams.delete(r.ipVersion === 4 ? 6 : 4);
  if (r.protocol === 1) fams.delete(6);
  if (r.protocol === 58) fams.delete(4);
  for (const nets of [r.srcNets, r.dstNets]) {
    if (nets === undefined) continue;
    // A positive net list only matches families it has members of.
    const vs = new Set(nets.map((n) => parseCIDR(n, { allowBare: true })?.version));
    for (const f of [4, 6] as const) if (!vs.has(f)) fams.delete(f);
  }
  const familySpecific = r.ipVersion !== undefined || r.srcNets !== undefined || r.dstNets !== undefined ||
    nonEmpty(r.notSrcNets) || nonEmpty(r.notDstNets) || nonEmpty(r.srcIPSets) || nonEmpty(r.dstIPSets) ||
    nonEmpty(r.notSrcIPSets) || nonEmpty(r.notDstIPSets) || nonEmpty(r.srcNamedPortIPSets) ||
    nonEmpty(r.dstNamedPortIPSets) || nonEmpty(r.notSrcNamedPortIPSets) || nonEmpty(r.notDstNamedPortIPSets) ||
    r.icmpType !== undefined || r.notICMPType !== undefined;
  if (!familySpecific) return fams.size === 2 ? [0] : [...fams];
  return [...fams];
}

/**
 * Port alternatives of one side: Calico matches a port if it is in the numeric ranges OR the
 * (ip, proto, port) is in one of the named-port sets — each alternative becomes its own rule.
 */
function portAlternatives(ranges: readonly PortRange[] | undefined, named: readonly string[] | undefined, dir: 'src' | 'dst', fam: 4 | 6 | 0, l4: string): (string | undefined)[] {
  const alts: string[] = [];
  if (nonEmpty(ranges)) alts.push(`${l4} ${dir === 'src' ? 'sport' : 'dport'} ${portsText(ranges)}`);
  if (fam !== 0) {
    const ipk = fam === 6 ? 'ip6' : 'ip';
    for (const id of named ?? []) {
      alts.push(`${ipk} ${dir === 'src' ? 'saddr' : 'daddr'} . meta l4proto . th ${dir === 'src' ? 'sport' : 'dport'} @${setName(id, fam)}`);
    }
  }
  return alts.length === 0 ? [undefined] : alts;
}

/** Match expressions of a rule for one family (0 = family-neutral); several = alternatives (OR). */
function ruleMatches(r: DpRule, fam: 4 | 6 | 0): string[] {
  const m: string[] = [];
  const ipk = fam === 6 ? 'ip6' : 'ip';
  if (fam === 4 && r.ipVersion === 4) m.push('meta nfproto ipv4');
  if (fam === 6 && r.ipVersion === 6) m.push('meta nfproto ipv6');
  const proto = r.protocol === undefined ? undefined : protoText(r.protocol);
  if (proto !== undefined) m.push(`meta l4proto ${proto}`);
  if (r.notProtocol !== undefined) m.push(`meta l4proto != ${protoText(r.notProtocol)}`);
  if (fam !== 0) {
    const nets = (list: string[] | undefined, dir: 'saddr' | 'daddr', neg: boolean): void => {
      if (list === undefined) return;
      const items = collapseCidrs(list, fam);
      // A positive list without members of this family is excluded by ruleFamilies; an empty
      // negative list excludes nothing.
      if (items.length === 0) return;
      m.push(`${ipk} ${dir} ${neg ? '!= ' : ''}${anonSet(items)}`);
    };
    nets(r.srcNets, 'saddr', false);
    nets(r.notSrcNets, 'saddr', true);
    nets(r.dstNets, 'daddr', false);
    nets(r.notDstNets, 'daddr', true);
    for (const id of r.srcIPSets ?? []) m.push(`${ipk} saddr @${setName(id, fam)}`);
    for (const id of r.notSrcIPSets ?? []) m.push(`${ipk} saddr != @${setName(id, fam)}`);
    for (const id of r.dstIPSets ?? []) m.push(`${ipk} daddr @${setName(id, fam)}`);
    for (const id of r.notDstIPSets ?? []) m.push(`${ipk} daddr != @${setName(id, fam)}`);
    for (const id of r.notSrcNamedPortIPSets ?? []) m.push(`${ipk} saddr . meta l4proto . th sport != @${setName(id, fam)}`);
    for (const id of r.notDstNamedPortIPSets ?? []) m.push(`${ipk} daddr . meta l4proto . th dport != @${setName(id, fam)}`);
  }
  const l4 = proto === 'tcp' || proto === 'udp' ? proto : 'th';
  if (nonEmpty(r.notSrcPorts)) m.push(`${l4} sport != ${portsText(r.notSrcPorts)}`);
  if (nonEmpty(r.notDstPorts)) m.push(`${l4} dport != ${portsText(r.notDstPorts)}`);
  const icmpk = fam === 6 ? 'icmpv6' : 'icmp';
  if (r.icmpType !== undefined) m.push(`${icmpk} type ${r.icmpType}`);
  if (r.icmpCode !== undefined) m.push(`${icmpk} code ${r.icmpCode}`);
  if (r.notICMPType !== undefined) {
    // Calico's notICMP: excludes a (type, code) pair when the code is given, else the whole type.
    if (r.notICMPCode !== undefined) m.push(`${icmpk} type . ${icmpk} code != ${r.notICMPType} . ${r.notICMPCode}`);
    else m.push(`${icmpk} type != ${r.notICMPType}`);
  }
  const out: string[] = [];
  for (const sp of portAlternatives(r.srcPorts, r.srcNamedPortIPSets, 'src', fam, l4)) {
    for (const dp of portAlternatives(r.dstPorts, r.dstNamedPortIPSets, 'dst', fam, l4)) {
      out.push([...m, ...(sp === undefined ? [] : [sp]), ...(dp === undefined ? [] : [dp])].join(' '));
    }
  }
  return out;
}

function ruleVerdict(r: DpRule, chainName: string): string {
  switch (r.action) {
    case 'allow': return `${SET_ACCEPT} return`;
    case 'pass': return `${SET_PASS} return`;
    case 'deny': return 'drop';
    case 'log': return `log prefix ${quote(`weft ${chainName.slice(0, 20)}: `)}`;
  }
}

export function renderRules(rules: readonly DpRule[], chainName: string): string[] {
  const out: string[] = [];
  for (const r of rules) {
    const verdict = ruleVerdict(r, chainName);
    // Alternatives can coincide across families (e.g. a port range next to named-port sets): keep one.
    const lines = new Set<string>();
    for (const fam of ruleFamilies(r)) {
      for (const match of ruleMatches(r, fam)) lines.add(match === '' ? verdict : `${match} ${verdict}`);
    }
    out.push(...lines);
  }
  return out;
}

/**
 * Host endpoint policy stages. `normal` and `forward` drop at the end of a tier nothing allowed or
 * passed; `untracked` and `preDNAT` never do (later stages still apply), and an untracked Allow
 * also takes the packet out of connection tracking (felix endpoints.go: "NOTRACK and ALLOW").
 */
type Stage = 'normal' | 'forward' | 'untracked' | 'preDNAT';

function tierRules(tiers: readonly DpTier[], dir: 'in' | 'out', knownPolicies: ReadonlyMap<string, DpPolicy>, stage: Stage = 'normal'): string[] {
  const out: string[] = [];
  for (const t of tiers) {
    const ids = (dir === 'in' ? t.ingressPolicies : t.egressPolicies).filter((id) => knownPolicies.has(id));
    if (ids.length === 0) continue;
    out.push(CLEAR_PASS);
    for (const id of ids) {
      out.push(`${IF_NOT_PASSED} jump ${policyChain(id, dir)}`);
      out.push(stage === 'untracked' ? `${IF_ACCEPTED} notrack return` : `${IF_ACCEPTED} return`);
    }
    // Calico: traffic no policy in a tier decided is dropped at the end of the tier unless a
    // policy said Pass (or the tier's default action is pass).
    if (t.defaultAction !== 'pass' && (stage === 'normal' || stage === 'forward')) out.push(`${IF_NOT_PASSED} drop`);
  }
  return out;
}

function profileRules(ids: readonly string[], dir: 'in' | 'out', known: ReadonlyMap<string, DpPolicy>): string[] {
  const out: string[] = [];
  for (const id of ids) {
    if (!known.has(id)) continue;
    out.push(`jump ${profileChain(id, dir)}`);
    out.push(`${IF_ACCEPTED} return`);
  }
  return out;
}

function failsafeRules(entries: readonly DpProtoPort[], dir: 'in' | 'out', port: 'dport' | 'sport' = 'dport'): string[] {
  const plain = entries.filter((e) => e.net === undefined);
  const out: string[] = [];
  if (plain.length > 0) {
    const items = [...new Set(plain.map((e) => `${e.protocol} . ${e.port}`))].sort();
    out.push(`meta l4proto . th ${port} ${anonSet(items)} accept`);
  }
  for (const e of entries) {
    if (e.net === undefined) continue;
    const c = parseCIDR(e.net, { allowBare: true });
    if (c === undefined) continue;
    // The net is the remote side: the source of inbound packets, the destination of outbound ones.
    const addr = `${c.version === 6 ? 'ip6' : 'ip'} ${dir === 'in' ? 'saddr' : 'daddr'} ${collapseCidrs([e.net], c.version)[0]}`;
    out.push(`${addr} meta l4proto ${e.protocol} th ${port} ${e.port} accept`);
  }
  return out;
}

function addChain(t: TableDef, c: ChainDef): void {
  t.chains.set(c.name, c);
}

function addSet(t: TableDef, name: string, type: string, members: readonly string[], v: 4 | 6): void {
  const els = new Map<string, string>();
  for (const e of collapseCidrs(members, v)) els.set(e, e);
  t.sets.set(name, { name, kind: 'set', type, flags: ['interval'], elements: els });
}

/** Named-port members `ip,proto:port` → concatenated elements `ip . proto . port`. */
function addNamedPortSet(t: TableDef, id: string, members: readonly string[], v: 4 | 6): void {
  const els = new Map<string, string>();
  for (const m of members) {
    const match = /^(.+),([a-z]+|\d+):(\d+)$/i.exec(m);
    if (match === null) continue;
    const ip = canonicalElement(match[1]!);
    if (ip === undefined || ip.includes('/') || ip.includes(':') !== (v === 6)) continue;
    const proto = /^\d+$/.test(match[2]!) ? protoText(Number(match[2])) : match[2]!.toLowerCase();
    const e = `${ip} . ${proto} . ${match[3]}`;
    els.set(e, e);
  }
  const name = setName(id, v);
  t.sets.set(name, { name, kind: 'set', type: `${v === 4 ? 'ipv4_addr' : 'ipv6_addr'} . inet_proto . inet_service`, flags: [], elements: els });
}

function addMap(t: TableDef, name: string, elements: Map<string, string>): void {
  const def: SetDef = { name, kind: 'map', type: 'ifname : verdict', flags: [], elements };
  t.sets.set(name, def);
}


/** Which referenced policies/profiles exist: part of an endpoint chain's cache key. */
function knownSignature(ep: { tiers: readonly DpTier[]; profileIds: readonly string[] }, model: DataplaneModel): string {
  let sig = '';
  for (const t of ep.tiers) for (const id of [...t.ingressPolicies, ...t.egressPolicies]) sig += model.policies.has(id) ? '1' : '0';
  for (const id of ep.profileIds) sig += model.profiles.has(id) ? '1' : '0';
  return sig;
}

function endpointChains(ep: DpWorkloadEndpoint, model: DataplaneModel): ChainDef[] {
  const fw = endpointChain('fw', ep.interfaceName);
    const tw = endpointChain('tw', ep.interfaceName);
  const spoofOk = ep.allowSpoofedSourcePrefixes ?? [];
  const src4 = collapseCidrs([...ep.ipv4Nets, ...spoofOk], 4);
  const src6 = collapseCidrs([...ep.ipv6Nets, ...spoofOk], 6);
  const fwRules = [
    'ct state established,related accept',
    'ct state invalid drop',
    // Anti-spoofing: a workload may send only from its own addresses (+ allowSpoofedSourcePrefixes).
    src4.length > 0 ? `ip saddr != ${anonSet(src4)} drop` : 'meta nfproto ipv4 drop',
    src6.length > 0 ? `ip6 saddr != ${anonSet(src6)} drop` : 'meta nfproto ipv6 drop',
    ...tierRules(ep.tiers, 'out', model.policies),
    ...profileRules(ep.profileIds, 'out', model.profiles),
    'drop',
  ];
  const twRules = [
    'ct state established,related accept',
    'ct state invalid drop',
    ...tierRules(ep.tiers, 'in', model.policies),
    ...profileRules(ep.profileIds, 'in', model.profiles),
    'drop',
  ];
  return [{ name: fw, rules: fwRules }, { name: tw, rules: twRules }];
}

const hasPolicies = (tiers: readonly DpTier[] | undefined, dir: 'in' | 'out'): boolean =>
  (tiers ?? []).some((t) => (dir === 'in' ? t.ingressPolicies : t.egressPolicies).length > 0);

function hostKnownSignature(h: DpHostEndpoint, model: DataplaneModel): string {
  const tiers = [...h.tiers, ...(h.forwardTiers ?? []), ...(h.preDNATTiers ?? []), ...(h.untrackedTiers ?? [])];
  return knownSignature({ tiers, profileIds: h.profileIds }, model);
}

/**
 * The chains of one host endpoint (felix rules/endpoints.go): normal `fh`/`th` (conntrack,
 * failsafes, tiers, profiles, drop); forward `fhfw`/`thfw` (conntrack, forward tiers, then allow:
 * "forwarded traffic is allowed by default if no policies apply"); pre-DNAT `fhpd` (failsafes,
 * tiers, no default); untracked `fhnt`/`thnt` (raw failsafes, tiers with notrack, no default).
 * Pre-DNAT and untracked chains exist only when such policy applies in that direction; `*` never
 * gets untracked chains (felix: "DoNotTrack policy is not supported for a HEP with interfaceName *").
 */
function hostEndpointChains(h: DpHostEndpoint, model: DataplaneModel): ChainDef[] {
  const star = h.interfaceName === '*';
  const i = star ? WILDCARD_IF : h.interfaceName;
  const pol = model.policies;
  const fwd = h.forwardTiers ?? [];
  const out: ChainDef[] = [
    {
      name: endpointChain('fh', i),
      rules: [
        'ct state established,related accept',
        `jump ${Chains.failsafeIn}`,
        ...tierRules(h.tiers, 'in', pol),
        ...profileRules(h.profileIds, 'in', model.profiles),
        'drop',
      ],
    },
    {
      name: endpointChain('th', i),
      rules: [
        'ct state established,related accept',
        `jump ${Chains.failsafeOut}`,
        ...tierRules(h.tiers, 'out', pol),
        ...profileRules(h.profileIds, 'out', model.profiles),
        'drop',
      ],
    },
  ];
  for (const dir of ['in', 'out'] as const) {
    out.push({
      name: endpointChain(dir === 'in' ? 'fhfw' : 'thfw', i),
      rules: [
        'ct state established,related accept',
        'ct state invalid drop',
        CLEAR_MARKS,
        ...tierRules(fwd, dir, pol, 'forward'),
        // No forward policy in this direction, or every tier passed: forwarded traffic is allowed.
        `${SET_ACCEPT} return`,
      ],
    });
  }
  if (hasPolicies(h.preDNATTiers, 'in')) {
    out.push({
      name: endpointChain('fhpd', i),
      rules: [
        'ct state invalid drop',
        // Failsafe ports skip pre-DNAT policy (their accept ends this hook only; normal or
        // forward policy still applies later).
        `jump ${Chains.failsafeIn}`,
        CLEAR_MARKS,
        ...tierRules(h.preDNATTiers ?? [], 'in', pol, 'preDNAT'),
      ],
    });
  }
  if (!star) {
    for (const dir of ['in', 'out'] as const) {
      if (!hasPolicies(h.untrackedTiers, dir)) continue;
      out.push({
        name: endpointChain(dir === 'in' ? 'fhnt' : 'thnt', i),
        rules: [
          `jump ${dir === 'in' ? Chains.failsafeInRaw : Chains.failsafeOutRaw}`,
          CLEAR_MARKS,
          ...tierRules(h.untrackedTiers ?? [], dir, pol, 'untracked'),
        ],
      });
    }
  }
  return out;
}

/**
 * Memo of rendered objects keyed by their input (id + JSON): a steady-state update re-renders
 * only what changed, and reused ChainDefs keep their rule hashes (nftmodel.ruleHashes). Entries
 * not used by the latest render are dropped, so the cache tracks the model's size.
 */
export class RenderCache {
  #cur = new Map<string, unknown>();
  #next = new Map<string, unknown>();

  get<T>(key: string, make: () => T): T {
    let v = this.#next.get(key) as T | undefined;
    if (v !== undefined) return v;
    v = (this.#cur.get(key) as T | undefined) ?? make();
    this.#next.set(key, v);
    return v;
  }

  /** Called at the end of a render: what was not used is forgotten. */
  rotate(): void {
    this.#cur = this.#next;
    this.#next = new Map();
  }
}

export function renderTable(model: DataplaneModel, cache: RenderCache = new RenderCache()): TableDef {
  const t = emptyTable();
  const cfg = model.config;
  const prefixes = cfg.interfacePrefixes.length > 0 ? cfg.interfacePrefixes : ['cali'];

  // IP sets: one v4 and one v6 nft set per model set, always both so rules can reference either.
  for (const [id, set] of model.ipSets) {
    const defs = cache.get(`set\0${id}\0${set.type}\0${JSON.stringify(set.members)}`, () => {
      const tmp = emptyTable();
      if (set.type === 'named-port') {
        addNamedPortSet(tmp, id, set.members, 4);
        addNamedPortSet(tmp, id, set.members, 6);
      } else {
        addSet(tmp, setName(id, 4), 'ipv4_addr', set.members, 4);
        addSet(tmp, setName(id, 6), 'ipv6_addr', set.members, 6);
      }
      return [...tmp.sets.values()];
    });
    for (const d of defs) t.sets.set(d.name, d);
  }

  // Policies and profiles: one chain per direction.
  for (const [kind, objs] of [['policy', model.policies], ['profile', model.profiles]] as const) {
    for (const [id, p] of objs) {
      const key = `${kind}\0${id}\0${JSON.stringify(p)}`;
      const chains = cache.get(key, () => (['in', 'out'] as const).map((dir) => {
        const name = kind === 'policy' ? policyChain(id, dir) : profileChain(id, dir);
        return { name, rules: renderRules(dir === 'in' ? p.inbound : p.outbound, name) };
      }));
      for (const c of chains) addChain(t, c);
    }
  }

  // Workload endpoints.
  const wlFrom = new Map<string, string>();
  const wlTo = new Map<string, string>();
  const eps = [...model.endpoints.values()].sort((a, b) => a.interfaceName.localeCompare(b.interfaceName));
  for (const ep of eps) {
    const key = `ep\0${JSON.stringify(ep)}\0${knownSignature(ep, model)}`;
    const [fwChain, twChain] = cache.get(key, () => endpointChains(ep, model));
    addChain(t, fwChain!);
    addChain(t, twChain!);
    wlFrom.set(ep.interfaceName, `jump ${fwChain!.name}`);
    wlTo.set(ep.interfaceName, `jump ${twChain!.name}`);
  }
  addMap(t, Maps.wlFrom, wlFrom);
  addMap(t, Maps.wlTo, wlTo);

  // Host endpoints: failsafes first so a bad policy can never lock the operator out. One set of
  // chains per interface; `*` (all interfaces) has no map entries: it is the fallback after the
  // per-interface dispatch, for interfaces without a host endpoint of their own.
  const hepMaps = {
    from: new Map<string, string>(), to: new Map<string, string>(),
    fwdFrom: new Map<string, string>(), fwdTo: new Map<string, string>(),
    preDnat: new Map<string, string>(), ntFrom: new Map<string, string>(), ntTo: new Map<string, string>(),
  };
  const heps = [...model.hostEndpoints.values()].sort((a, b) => a.interfaceName.localeCompare(b.interfaceName));
  let wildcard: DpHostEndpoint | undefined;
  for (const h of heps) {
    const star = h.interfaceName === '*';
    if (star) wildcard = h;
    const key = `hep\0${JSON.stringify(h)}\0${hostKnownSignature(h, model)}`;
    const chains = cache.get(key, () => hostEndpointChains(h, model));
    for (const c of chains) addChain(t, c);
    if (star) continue;
    const i = h.interfaceName;
    const has = (kind: EndpointChainKind): boolean => chains.some((c) => c.name === endpointChain(kind, i));
    hepMaps.from.set(i, `jump ${endpointChain('fh', i)}`);
    hepMaps.to.set(i, `jump ${endpointChain('th', i)}`);
    hepMaps.fwdFrom.set(i, `jump ${endpointChain('fhfw', i)}`);
    hepMaps.fwdTo.set(i, `jump ${endpointChain('thfw', i)}`);
    // An interface with its own host endpoint is never covered by `*` pre-DNAT policy.
    hepMaps.preDnat.set(i, has('fhpd') ? `goto ${endpointChain('fhpd', i)}` : 'accept');
    if (has('fhnt')) hepMaps.ntFrom.set(i, `goto ${endpointChain('fhnt', i)}`);
    if (has('thnt')) hepMaps.ntTo.set(i, `goto ${endpointChain('thnt', i)}`);
  }
  addMap(t, Maps.hepFrom, hepMaps.from);
  addMap(t, Maps.hepTo, hepMaps.to);
  addMap(t, Maps.hepFwdFrom, hepMaps.fwdFrom);
  addMap(t, Maps.hepFwdTo, hepMaps.fwdTo);
  addMap(t, Maps.hepPreDnat, hepMaps.preDnat);
  addMap(t, Maps.hepNotrackFrom, hepMaps.ntFrom);
  addMap(t, Maps.hepNotrackTo, hepMaps.ntTo);
  const wildcardPreDnat = wildcard !== undefined && hasPolicies(wildcard.preDNATTiers, 'in');
  // Stages cost every packet a hook traversal, so a host pays only for the ones its host endpoints
  // use: raw chains only with untracked policy, the mangle chain only with pre-DNAT policy, the
  // forward dispatch only with host endpoints. The ACCEPT-bit shortcuts exist only alongside the
  // stage that sets the bit, so a mark set by anything else can never skip policy.
  const named = heps.filter((h) => h.interfaceName !== '*');
  const useUntracked = named.some((h) => hasPolicies(h.untrackedTiers, 'in') || hasPolicies(h.untrackedTiers, 'out'));
  const usePreDnat = wildcardPreDnat || named.some((h) => hasPolicies(h.preDNATTiers, 'in'));
  const useHostFwd = heps.length > 0;
  const earlyAccept = useUntracked || usePreDnat;

  addChain(t, { name: Chains.failsafeIn, rules: failsafeRules(cfg.failsafeInboundHostPorts, 'in') });
  addChain(t, { name: Chains.failsafeOut, rules: failsafeRules(cfg.failsafeOutboundHostPorts, 'out') });
  // Before conntrack a reply is indistinguishable from a request: the raw failsafes also let
  // through replies to the other direction's failsafe ports, so they stay tracked (felix).
  if (useUntracked) {
  addChain(t, {
    name: Chains.failsafeInRaw,
    rules: [...failsafeRules(cfg.failsafeInboundHostPorts, 'in'), ...failsafeRules(cfg.failsafeOutboundHostPorts, 'in', 'sport')],
  });
  addChain(t, {
    name: Chains.failsafeOutRaw,
    rules: [...failsafeRules(cfg.failsafeOutboundHostPorts, 'out'), ...failsafeRules(cfg.failsafeInboundHostPorts, 'out', 'sport')],
  });
  }

  const failClosedIn = prefixes.map((p) => `iifname ${quote(`${p}*`)} ${IF_NOT_ACCEPTED} drop`);
  const failClosedOut = prefixes.map((p) => `oifname ${quote(`${p}*`)} ${IF_NOT_ACCEPTED} drop`);

  // Untracked (doNotTrack) policy: raw priority, before conntrack. Only interfaces with such
  // policy have map entries.
  if (useUntracked) {
  addChain(t, {
    name: Chains.rawPrerouting,
    base: { type: 'filter', hook: 'prerouting', priority: 'raw', policy: 'accept' },
    rules: [CLEAR_MARKS, `iifname vmap @${Maps.hepNotrackFrom}`],
  });
  addChain(t, {
    name: Chains.rawOutput,
    base: { type: 'filter', hook: 'output', priority: 'raw', policy: 'accept' },
    rules: [CLEAR_MARKS, `oifname vmap @${Maps.hepNotrackTo}`],
  });
  }

  // Pre-DNAT policy: mangle priority, after conntrack (so established flows skip it) and before
  // DNAT (dstnat). An Allow leaves the ACCEPT bit set for the filter chains.
  if (usePreDnat) addChain(t, {
    name: Chains.manglePrerouting,
    base: { type: 'filter', hook: 'prerouting', priority: 'mangle', policy: 'accept' },
    rules: [
      'ct state established,related accept',
      // With an untracked stage the raw chain cleared the marks and may have accepted already.
      useUntracked ? `${IF_ACCEPTED} accept` : CLEAR_MARKS,
      `iifname vmap @${Maps.hepPreDnat}`,
      ...(wildcardPreDnat ? [`iifname != "lo" goto ${endpointChain('fhpd', WILDCARD_IF)}`] : []),
    ],
  });

  addChain(t, {
    name: Chains.forward,
    base: { type: 'filter', hook: 'forward', priority: 'filter', policy: 'accept' },
    rules: [
      // Host endpoint forward policy (ingress), unless untracked or pre-DNAT policy already
      // allowed the packet. Forward chains return with the ACCEPT bit set unless they drop.
      ...(useHostFwd && !earlyAccept ? [CLEAR_MARKS] : []),
      ...(useHostFwd ? [`${IF_NOT_ACCEPTED} iifname vmap @${Maps.hepFwdFrom}`] : []),
      ...(wildcard ? [`${IF_NOT_ACCEPTED} iifname != "lo" jump ${endpointChain('fhfw', WILDCARD_IF)}`] : []),
      // Workload policy always applies too (Calico: the packet must pass both).
      CLEAR_MARKS,
      `iifname vmap @${Maps.wlFrom}`,
      ...failClosedIn,
      CLEAR_MARKS,
      `oifname vmap @${Maps.wlTo}`,
      ...failClosedOut,
      // Host endpoint forward policy (egress).
      ...(useHostFwd ? [CLEAR_MARKS, `oifname vmap @${Maps.hepFwdTo}`] : []),
      ...(wildcard ? [`${IF_NOT_ACCEPTED} oifname != "lo" jump ${endpointChain('thfw', WILDCARD_IF)}`] : []),
    ],
  });

  const toHostAction = cfg.defaultEndpointToHostAction;
  addChain(t, {
    name: Chains.wlToHost,
    rules: [
      'ct state established,related accept',
      'ct state invalid drop',
      // DHCP and IPv6 neighbour/router discovery always work (felix wl-to-host chain).
      'meta nfproto ipv4 udp sport 68 udp dport 67 accept',
      'icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept',
      CLEAR_MARKS,
      `iifname vmap @${Maps.wlFrom}`,
      ...failClosedIn,
      `jump ${Chains.failsafeIn}`,
      toHostAction === 'accept' ? 'accept' : toHostAction === 'return' ? 'return' : 'drop',
    ],
  });

  addChain(t, {
    name: Chains.input,
    base: { type: 'filter', hook: 'input', priority: 'filter', policy: 'accept' },
    rules: [
      ...prefixes.map((p) => `iifname ${quote(`${p}*`)} goto ${Chains.wlToHost}`),
      // Explicitly allowed by untracked or pre-DNAT policy: normal policy is skipped (felix).
      ...(earlyAccept ? [`${IF_ACCEPTED} accept`] : []),
      CLEAR_MARKS,
      `iifname vmap @${Maps.hepFrom}`,
      ...(wildcard ? [`iifname != "lo" ${IF_NOT_ACCEPTED} jump ${endpointChain('fh', WILDCARD_IF)}`] : []),
    ],
  });

  addChain(t, {
    name: Chains.output,
    base: { type: 'filter', hook: 'output', priority: 'filter', policy: 'accept' },
    rules: [
      // Explicitly allowed by untracked egress policy in raw-output.
      ...(useUntracked ? [`${IF_ACCEPTED} accept`] : []),
      // Host → local workload is always allowed (Calico: the host can reach its own workloads).
      ...prefixes.map((p) => `oifname ${quote(`${p}*`)} accept`),
      CLEAR_MARKS,
      `oifname vmap @${Maps.hepTo}`,
      ...(wildcard ? [`oifname != "lo" ${IF_NOT_ACCEPTED} jump ${endpointChain('th', WILDCARD_IF)}`] : []),
    ],
  });

  // NAT outgoing: traffic from a natOutgoing pool to anything outside all pools is masqueraded.
  const pools = model.ipPools.filter((p) => p.disabled !== true || p.natOutgoing);
  const all = model.ipPools.map((p) => p.cidr);
  const masq = pools.filter((p) => p.natOutgoing).map((p) => p.cidr);
  addSet(t, Sets.masq4, 'ipv4_addr', masq, 4);
  addSet(t, Sets.masq6, 'ipv6_addr', masq, 6);
  addSet(t, Sets.all4, 'ipv4_addr', all, 4);
  addSet(t, Sets.all6, 'ipv6_addr', all, 6);
  cache.rotate();
  // The NAT hook exists only with a natOutgoing pool: once registered, every packet of every flow
  // visits it, so a host without NAT does not pay for it.
  if (masq.length > 0) addChain(t, {
    name: Chains.natPost,
    base: { type: 'nat', hook: 'postrouting', priority: 'srcnat', policy: 'accept' },
    rules: [
      `ip saddr @${Sets.masq4} ip daddr != @${Sets.all4} masquerade`,
      `ip6 saddr @${Sets.masq6} ip6 daddr != @${Sets.all6} masquerade`,
    ],
  });
  return t;
}
