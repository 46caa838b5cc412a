/**
 * The packet evaluator: walks a HostModel the way Felix's per-endpoint chains do
 * (calico-notes §10, felix/rules/endpoints.go) and records every step, so that a verdict always
 * comes with the tier/policy/profile/rule or default that produced it. Pure.
 */
import { parseIP, parseCIDR, cidrContainsIP, formatIP } from '../lib/ip.ts';
import type { CIDR, IPAddr } from '../lib/ip.ts';
import type {
  CompiledRule, Direction, EndpointTier, HostEndpointModel, HostModel, PortRange, ProtoPort,
  WorkloadEndpointModel,
} from './model.ts';
import { parseProtocol } from './rules.ts';

export interface Packet {
  src: string;
  dst: string;
  /** Name (`TCP`) or number; default TCP. */
  protocol?: string | number;
  srcPort?: number;
  dstPort?: number;
  icmpType?: number;
  icmpCode?: number;
}

/** A packet with parsed fields. */
export interface ParsedPacket {
  src: IPAddr;
  dst: IPAddr;
  srcText: string;
  dstText: string;
  protocol: number;
  srcPort?: number;
  dstPort?: number;
  icmpType?: number;
  icmpCode?: number;
}

export function parsePacket(p: Packet): ParsedPacket {
  const src = parseIP(p.src);
  const dst = parseIP(p.dst);
  if (!src) throw new TypeError(`packet source ${JSON.stringify(p.src)} is not an IP address`);
  if (!dst) throw new TypeError(`packet destination ${JSON.stringify(p.dst)} is not an IP address`);
  if (src.version !== dst.version) throw new TypeError('packet source and destination are different IP versions');
  const protocol = p.protocol === undefined ? 6 : parseProtocol(p.protocol);
  if (protocol === undefined) throw new TypeError(`unknown protocol ${JSON.stringify(p.protocol)}`);
  const out: ParsedPacket = {
    src, dst, srcText: formatIP(src.version, src.value), dstText: formatIP(dst.version, dst.value), protocol,
  };
  if (p.srcPort !== undefined) out.srcPort = p.srcPort;
  if (p.dstPort !== undefined) out.dstPort = p.dstPort;
  if (p.icmpType !== undefined) out.icmpType = p.icmpType;
  if (p.icmpCode !== undefined) out.icmpCode = p.icmpCode;
  return out;
}

// ---- rule matching ------------------------------------------------------------------------------

const cidrCache = new WeakMap<readonly string[], CIDR[]>();
function cidrs(list: readonly string[]): CIDR[] {
  let c = cidrCache.get(list);
  if (!c) {
    c = [];
    for (const s of list) { const x = parseCIDR(s, { allowBare: true }); if (x) c.push(x); }
    cidrCache.set(list, c);
  }
  return c;
}

function inNets(list: readonly string[], ip: IPAddr): boolean {
  for (const c of cidrs(list)) if (cidrContainsIP(c, ip)) return true;
  return false;
}

function inSet(model: HostModel, id: string, ip: IPAddr): boolean {
  const s = model.ipSets[id];
  return s !== undefined && inNets(s.members, ip);
}

function inNamedPortSet(model: HostModel, id: string, ip: IPAddr, proto: number, port: number): boolean {
  const s = model.ipSets[id];
  if (!s) return false;
  const pn = proto === 6 ? 'tcp' : proto === 17 ? 'udp' : proto === 132 ? 'sctp' : '';
  return s.members.includes(`${formatIP(ip.version, ip.value)},${pn}:${port}`);
}

function inRanges(ranges: readonly PortRange[] | undefined, port: number): boolean {
  if (!ranges) return false;
  for (const r of ranges) if (port >= r.first && port <= r.last) return true;
  return false;
}

function portMatch(
  model: HostModel, ranges: PortRange[] | undefined, named: string[] | undefined,
  ip: IPAddr, proto: number, port: number | undefined,
): boolean {
  if (port === undefined) return false;
  if (inRanges(ranges, port)) return true;
  for (const id of named ?? []) if (inNamedPortSet(model, id, ip, proto, port)) return true;
  return false;
}

/** The first field of `r` that does not match `p`, or undefined when the rule matches. */
export function ruleMismatch(model: HostModel, r: CompiledRule, p: ParsedPacket): string | undefined {
  if (r.ipVersion !== undefined && r.ipVersion !== p.src.version) return 'ipVersion';
  if (r.protocol !== undefined && r.protocol !== p.protocol) return 'protocol';
  if (r.notProtocol !== undefined && r.notProtocol === p.protocol) return 'notProtocol';
  if (r.icmpType !== undefined) {
    if (p.icmpType !== r.icmpType || (r.icmpCode !== undefined && p.icmpCode !== r.icmpCode)) return 'icmp';
  }
  if (r.notICMPType !== undefined) {
    if (p.icmpType === r.notICMPType && (r.notICMPCode === undefined || p.icmpCode === r.notICMPCode)) return 'notICMP';
  }
  if (r.srcNets && !inNets(r.srcNets, p.src)) return 'source.nets';
  if (r.notSrcNets && inNets(r.notSrcNets, p.src)) return 'source.notNets';
  if (r.dstNets && !inNets(r.dstNets, p.dst)) return 'destination.nets';
  if (r.notDstNets && inNets(r.notDstNets, p.dst)) return 'destination.notNets';
  for (const id of r.srcIPSets ?? []) if (!inSet(model, id, p.src)) return 'source.selector';
  for (const id of r.notSrcIPSets ?? []) if (inSet(model, id, p.src)) return 'source.notSelector';
  for (const id of r.dstIPSets ?? []) if (!inSet(model, id, p.dst)) return 'destination.selector';
  for (const id of r.notDstIPSets ?? []) if (inSet(model, id, p.dst)) return 'destination.notSelector';
  if ((r.srcPorts || r.srcNamedPortIPSets) && !portMatch(model, r.srcPorts, r.srcNamedPortIPSets, p.src, p.protocol, p.srcPort)) return 'source.ports';
  if ((r.notSrcPorts || r.notSrcNamedPortIPSets) && portMatch(model, r.notSrcPorts, r.notSrcNamedPortIPSets, p.src, p.protocol, p.srcPort)) return 'source.notPorts';
  if ((r.dstPorts || r.dstNamedPortIPSets) && !portMatch(model, r.dstPorts, r.dstNamedPortIPSets, p.dst, p.protocol, p.dstPort)) return 'destination.ports';
  if ((r.notDstPorts || r.notDstNamedPortIPSets) && portMatch(model, r.notDstPorts, r.notDstNamedPortIPSets, p.dst, p.protocol, p.dstPort)) return 'destination.notPorts';
  return undefined;
}

export function ruleMatches(model: HostModel, r: CompiledRule, p: ParsedPacket): boolean {
  return ruleMismatch(model, r, p) === undefined;
}

// ---- endpoint chains ----------------------------------------------------------------------------

export type TraceStep =
  | { type: 'anti-spoofing'; source: string }
  | { type: 'failsafe'; protocol: string; port: number }
  | { type: 'log'; tier?: string; policy?: string; profile?: string; ruleIndex: number }
  | { type: 'policy'; tier: string; policy: string; result: 'no-match' | 'allow' | 'deny' | 'pass' | 'missing'; ruleIndex?: number }
  | { type: 'tier-end'; tier: string; defaultAction: 'deny' | 'pass' }
  /** Untracked / pre-DNAT policy had no verdict: on to the next stage (they have no default deny). */
  | { type: 'stage-end'; stage: 'untracked' | 'preDNAT' }
  | { type: 'profile'; profile: string; result: 'no-match' | 'allow' | 'deny' | 'pass'; ruleIndex?: number; missing?: boolean }
  | { type: 'no-profile-accepted'; profiles: string[] }
  | { type: 'endpoint-to-host'; action: 'drop' | 'return' | 'accept' };

/** What decided the verdict. */
export type DecidedBy =
  | { kind: 'policy-rule'; tier: string; policy: string; ruleIndex: number; action: 'allow' | 'deny'; stage?: 'untracked' | 'preDNAT' }
  | { kind: 'tier-default'; tier: string }
  | { kind: 'profile-rule'; profile: string; ruleIndex: number; action: 'allow' | 'deny' }
  | { kind: 'missing-profile'; profile: string }
  | { kind: 'no-profile-accepted'; profiles: string[] }
  | { kind: 'anti-spoofing' }
  | { kind: 'failsafe'; protocol: string; port: number }
  | { kind: 'endpoint-to-host'; action: 'drop' | 'accept' }
  | { kind: 'host-not-policed' };

export interface EndpointVerdict {
  endpoint: string;
  endpointKind: 'workload' | 'host';
  direction: Direction;
  verdict: 'allow' | 'deny';
  decidedBy: DecidedBy;
  steps: TraceStep[];
}

type ChainOutcome = { decided: true; verdict: 'allow' | 'deny'; by: DecidedBy } | { decided: false };

function runTiers(
  model: HostModel, tiers: readonly EndpointTier[], dir: Direction, p: ParsedPacket, steps: TraceStep[],
  stage?: 'untracked' | 'preDNAT',
): ChainOutcome {
  for (const tier of tiers) {
    const ids = dir === 'ingress' ? tier.ingressPolicies : tier.egressPolicies;
    if (ids.length === 0) continue; // the tier has no policy for this direction: it does not apply
    let passed = false;
    for (const id of ids) {
      const pol = model.policies[id];
      if (!pol) {
        // Cannot happen in a flushed model (sequencer invariant); fail closed if it does.
        steps.push({ type: 'policy', tier: tier.name, policy: id, result: 'missing' });
        return { decided: true, verdict: 'deny', by: { kind: 'tier-default', tier: tier.name } };
      }
      const rules = dir === 'ingress' ? pol.inbound : pol.outbound;
      let result: 'no-match' | 'allow' | 'deny' | 'pass' = 'no-match';
      let idx = -1;
      for (let i = 0; i < rules.length; i++) {
        const r = rules[i];
        if (!ruleMatches(model, r, p)) continue;
        if (r.action === 'log') { steps.push({ type: 'log', tier: tier.name, policy: id, ruleIndex: i }); continue; }
        result = r.action;
        idx = i;
        break;
      }
      steps.push(idx >= 0 ? { type: 'policy', tier: tier.name, policy: id, result, ruleIndex: idx } : { type: 'policy', tier: tier.name, policy: id, result });
      if (result === 'allow' || result === 'deny') {
        const by: DecidedBy = { kind: 'policy-rule', tier: tier.name, policy: id, ruleIndex: idx, action: result };
        if (stage) by.stage = stage;
        return { decided: true, verdict: result, by };
      }
      if (result === 'pass') { passed = true; break; }
    }
    if (passed || stage) continue; // untracked / pre-DNAT tiers never drop at their end
    // "End of tier: drop if no policies passed the packet" unless the tier's default is Pass.
    steps.push({ type: 'tier-end', tier: tier.name, defaultAction: tier.defaultAction });
    if (tier.defaultAction === 'deny') return { decided: true, verdict: 'deny', by: { kind: 'tier-default', tier: tier.name } };
  }
  return { decided: false };
}

function runProfiles(model: HostModel, profiles: readonly string[], dir: Direction, p: ParsedPacket, steps: TraceStep[]): ChainOutcome {
  for (const id of profiles) {
    const prof = model.profiles[id];
    if (!prof || prof.missing) {
      steps.push({ type: 'profile', profile: id, result: 'deny', missing: true });
      return { decided: true, verdict: 'deny', by: { kind: 'missing-profile', profile: id } };
    }
    const rules = dir === 'ingress' ? prof.inbound : prof.outbound;
    let decided = false;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i];
      if (!ruleMatches(model, r, p)) continue;
      if (r.action === 'log') { steps.push({ type: 'log', profile: id, ruleIndex: i }); continue; }
      steps.push({ type: 'profile', profile: id, result: r.action, ruleIndex: i });
      if (r.action === 'pass') { decided = true; break; } // Pass in a profile: on to the next profile
      return { decided: true, verdict: r.action, by: { kind: 'profile-rule', profile: id, ruleIndex: i, action: r.action } };
    }
    if (!decided) steps.push({ type: 'profile', profile: id, result: 'no-match' });
  }
  steps.push({ type: 'no-profile-accepted', profiles: [...profiles] });
  return { decided: true, verdict: 'deny', by: { kind: 'no-profile-accepted', profiles: [...profiles] } };
}

function finish(
  ep: string, kind: 'workload' | 'host', dir: Direction, out: ChainOutcome, steps: TraceStep[],
): EndpointVerdict {
  if (!out.decided) throw new Error('unreachable: chain ended undecided');
  return { endpoint: ep, endpointKind: kind, direction: dir, verdict: out.verdict, decidedBy: out.by, steps };
}

/**
 * Evaluates `packet` against a local workload endpoint. `ingress` = towards the workload,
 * `egress` = leaving it. Egress first checks the source address against the endpoint's own
 * addresses and `allowSpoofedSourcePrefixes` (Felix drops spoofed sources in the from-workload chain).
 */
export function evaluateWorkload(model: HostModel, ep: WorkloadEndpointModel, dir: Direction, packet: Packet | ParsedPacket): EndpointVerdict {
  const p = 'srcText' in packet ? packet : parsePacket(packet);
  const steps: TraceStep[] = [];
  if (dir === 'egress' && !inNets(ep.addrs, p.src) && !inNets(ep.allowSpoofedSourcePrefixes, p.src)) {
    steps.push({ type: 'anti-spoofing', source: p.srcText });
    return finish(ep.id, 'workload', dir, { decided: true, verdict: 'deny', by: { kind: 'anti-spoofing' } }, steps);
  }
  const t = runTiers(model, ep.tiers, dir, p, steps);
  if (t.decided) return finish(ep.id, 'workload', dir, t, steps);
  return finish(ep.id, 'workload', dir, runProfiles(model, ep.profiles, dir, p, steps), steps);
}

function failsafeMatch(list: readonly ProtoPort[], p: ParsedPacket, peer: IPAddr, port: 'dst' | 'src' = 'dst'): ProtoPort | undefined {
  const proto = p.protocol === 6 ? 'tcp' : p.protocol === 17 ? 'udp' : undefined;
  const n = port === 'dst' ? p.dstPort : p.srcPort;
  if (!proto || n === undefined) return undefined;
  for (const f of list) {
    if (f.protocol !== proto || f.port !== n) continue;
    if (f.net !== undefined) {
      const c = parseCIDR(f.net, { allowBare: true });
      if (!c || !cidrContainsIP(c, peer)) continue;
    }
    return f;
  }
  return undefined;
}

/**
 * Evaluates `packet` against a host endpoint. `ingress` = arriving through the interface (to the
 * host itself, or `forwarded` on), `egress` = leaving through it (from the host itself, or
 * `forwarded`). The stages are felix's (rules/static.go, endpoints.go; Calico's "summary of host
 * endpoint policies"):
 *
 * 1. untracked (doNotTrack) policy, before conntrack: ingress for everything arriving on the
 *    interface (to the host or forwarded), egress only for what the host itself sends; never for
 *    an all-interfaces (`*`) endpoint (felix ignores it there);
 * 2. pre-DNAT policy: ingress only, to the host or forwarded;
 * 3. normal policy (`tiers`, then profiles) for the host's own traffic, or `forwardTiers` for
 *    forwarded traffic (no profiles; what no forward policy decides is allowed).
 *
 * An explicit Allow in stage 1 or 2 skips the later stages; a Deny drops; no verdict continues.
 * Failsafe ports skip stages 1 and 2 and are allowed in stage 3 for the host's own traffic (not
 * for forwarded traffic: forward chains have no failsafes). Before conntrack a reply cannot be
 * told from a request, so stage 1 is also skipped for packets from (ingress) / to (egress) the
 * other direction's failsafe ports, as felix's raw failsafe chains do.
 */
export function evaluateHost(
  model: HostModel, hep: HostEndpointModel, dir: Direction, packet: Packet | ParsedPacket, opts: { forwarded?: boolean } = {},
): EndpointVerdict {
  const p = 'srcText' in packet ? packet : parsePacket(packet);
  const steps: TraceStep[] = [];
  const forwarded = opts.forwarded === true;
  const peer = dir === 'ingress' ? p.src : p.dst;
  const fs = dir === 'ingress'
    ? failsafeMatch(model.config.failsafeInboundHostPorts, p, peer)
    : failsafeMatch(model.config.failsafeOutboundHostPorts, p, peer);
  if (fs && !forwarded) {
    steps.push({ type: 'failsafe', protocol: fs.protocol, port: fs.port });
    return finish(hep.id, 'host', dir, { decided: true, verdict: 'allow', by: { kind: 'failsafe', protocol: fs.protocol, port: fs.port } }, steps);
  }
  const hasFor = (ts: readonly EndpointTier[]): boolean => ts.some((x) => (dir === 'ingress' ? x.ingressPolicies : x.egressPolicies).length > 0);
  // Stage 1: untracked.
  if (hep.iface !== '*' && !(forwarded && dir === 'egress') && hasFor(hep.untrackedTiers)) {
    const raw = fs ?? (dir === 'ingress'
      ? failsafeMatch(model.config.failsafeOutboundHostPorts, p, peer, 'src')
      : failsafeMatch(model.config.failsafeInboundHostPorts, p, peer, 'src'));
    if (raw) {
      steps.push({ type: 'failsafe', protocol: raw.protocol, port: raw.port });
    } else {
      const u = runTiers(model, hep.untrackedTiers, dir, p, steps, 'untracked');
      if (u.decided) return finish(hep.id, 'host', dir, u, steps);
    }
    steps.push({ type: 'stage-end', stage: 'untracked' });
  }
  // Stage 2: pre-DNAT.
  if (dir === 'ingress' && hasFor(hep.preDNATTiers)) {
    if (fs) {
      steps.push({ type: 'failsafe', protocol: fs.protocol, port: fs.port });
    } else {
      const d = runTiers(model, hep.preDNATTiers, dir, p, steps, 'preDNAT');
      if (d.decided) return finish(hep.id, 'host', dir, d, steps);
    }
    steps.push({ type: 'stage-end', stage: 'preDNAT' });
  }
  // Stage 3: normal or forward policy.
  const tiers = forwarded ? hep.forwardTiers : hep.tiers;
  const t = runTiers(model, tiers, dir, p, steps);
  if (t.decided) return finish(hep.id, 'host', dir, t, steps);
  if (forwarded) {
    // Forward chains have no profiles (felix renders forward tiers only): traffic that no
    // applyOnForward policy decided — none applies, or all passed — continues (calico-notes §10).
    return finish(hep.id, 'host', dir, { decided: true, verdict: 'allow', by: { kind: 'host-not-policed' } }, steps);
  }
  return finish(hep.id, 'host', dir, runProfiles(model, hep.profiles, dir, p, steps), steps);
}

/** Host endpoint that polices traffic to/from `addr`: exact expected IP first, then `*`. */
export function hostEndpointFor(model: HostModel, addr?: string): HostEndpointModel | undefined {
  const heps = Object.values(model.hostEndpoints).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const ip = addr !== undefined ? parseIP(addr) : undefined;
  if (ip) {
    for (const h of heps) if (h.iface !== '*' && inNets(h.expectedIPs, ip)) return h;
  }
  return heps.find((h) => h.iface === '*');
}

/**
 * Evaluates a packet against one local endpoint of the model, workload (`ns/name`) or host endpoint
 * (name), in the given direction. Throws TypeError when the endpoint is not in the model.
 *
 * @example
 *   evaluatePacket(model, { endpoint: 'prod/db', direction: 'ingress', src: '192.0.2.10', dst: '192.0.2.11', protocol: 'TCP', dstPort: 5432 });
 */
export function evaluatePacket(model: HostModel, p: Packet & { endpoint: string; direction: Direction; forwarded?: boolean }): EndpointVerdict {
  const wep = model.endpoints[p.endpoint];
  if (wep) return evaluateWorkload(model, wep, p.direction, p);
  const hep = model.hostEndpoints[p.endpoint];
  if (hep) return evaluateHost(model, hep, p.direction, p, { forwarded: p.forwarded === true });
  throw new TypeError(`endpoint ${JSON.stringify(p.endpoint)} is not a local endpoint of host ${model.host}`);
}
