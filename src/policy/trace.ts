/**
 * `weft policy trace`: the decision path of one packet on both sides — egress of the source
 * endpoint, then ingress of the destination — and a plain-text rendering a user can act on.
 * Pure: the caller supplies the host model(s) (e.g. `computeFromScratch` for the source's and the
 * destination's hosts, or `traceInCluster` in agent/calc which does exactly that).
 */
import { parseIP, parseCIDR, cidrContainsIP } from '../lib/ip.ts';
import type { IPAddr } from '../lib/ip.ts';
import type { HostEndpointModel, HostModel, WorkloadEndpointModel } from './model.ts';
import { evaluateHost, evaluateWorkload, hostEndpointFor, parsePacket } from './evaluate.ts';
import type { EndpointVerdict, ParsedPacket, TraceStep } from './evaluate.ts';
import { protocolName } from './rules.ts';

/** `--from`/`--to`: an endpoint (id `ns/name`, or a unique name) or an address; a bare string is either. */
export type EndpointSpec = string | { endpoint: string } | { address: string };

/** Packet fields of a trace; addresses default to the endpoints' own. Protocol defaults to TCP. */
export interface TracePacket {
  protocol?: string | number;
  srcPort?: number;
  dstPort?: number;
  icmpType?: number;
  icmpCode?: number;
  src?: string;
  dst?: string;
}

export interface ResolvedSide {
  /** As given. */
  spec: string;
  kind: 'workload' | 'host-endpoint' | 'host' | 'address';
  address: string;
  endpoint?: string;
  /** Host whose model holds the endpoint / address. */
  host?: string;
}

export type SideResult =
  | ({ evaluated: true } & EndpointVerdict)
  | { evaluated: false; verdict: 'allow'; reason: string };

export interface TraceResult {
  verdict: 'allow' | 'deny';
  packet: { src: string; dst: string; protocol: string; srcPort?: number; dstPort?: number; icmpType?: number; icmpCode?: number };
  from: ResolvedSide;
  to: ResolvedSide;
  egress: SideResult;
  ingress: SideResult;
}

interface Found {
  model: HostModel;
  wep?: WorkloadEndpointModel;
  hep?: HostEndpointModel;
  hostAddr?: string;
}

function specText(s: EndpointSpec): { text: string; forceAddress: boolean; forceEndpoint: boolean } {
  if (typeof s === 'string') return { text: s, forceAddress: false, forceEndpoint: false };
  if ('address' in s) return { text: s.address, forceAddress: true, forceEndpoint: false };
  return { text: s.endpoint, forceAddress: false, forceEndpoint: true };
}

function addrIn(list: readonly string[], ip: IPAddr): boolean {
  return list.some((c) => { const x = parseCIDR(c, { allowBare: true }); return x !== undefined && cidrContainsIP(x, ip); });
}

function findByName(models: readonly HostModel[], name: string): Found[] {
  const out: Found[] = [];
  for (const m of models) {
    for (const e of Object.values(m.endpoints)) if (e.id === name || e.name === name) out.push({ model: m, wep: e });
    for (const h of Object.values(m.hostEndpoints)) if (h.id === name) out.push({ model: m, hep: h });
  }
  return out;
}

function findByAddress(models: readonly HostModel[], ip: IPAddr, text: string): Found | undefined {
  for (const m of models) for (const e of Object.values(m.endpoints)) if (addrIn(e.addrs, ip)) return { model: m, wep: e };
  for (const m of models) if (m.hostAddrs.includes(text)) return { model: m, hostAddr: text };
  for (const m of models) for (const h of Object.values(m.hostEndpoints)) if (addrIn(h.expectedIPs, ip)) return { model: m, hep: h };
  return undefined;
}

function firstAddr(list: readonly string[], version?: 4 | 6): string | undefined {
  for (const c of list) {
    const ip = parseIP(c.split('/')[0]);
    if (ip && (version === undefined || ip.version === version)) return c.split('/')[0];
  }
  return undefined;
}

function resolve(models: readonly HostModel[], s: EndpointSpec, override: string | undefined, version?: 4 | 6): { side: ResolvedSide; found?: Found } {
  const { text, forceAddress, forceEndpoint } = specText(s);
  const ip = forceEndpoint ? undefined : parseIP(text);
  if (ip) {
    const canon = text;
    const found = findByAddress(models, ip, canon);
    const kind = found?.wep ? 'workload' : found?.hep ? 'host-endpoint' : found?.hostAddr ? 'host' : 'address';
    const side: ResolvedSide = { spec: text, kind, address: override ?? canon };
    if (found?.wep) side.endpoint = found.wep.id;
    if (found?.hep) side.endpoint = found.hep.id;
    if (found) side.host = found.model.host;
    return { side, ...(found ? { found } : {}) };
  }
  if (forceAddress) throw new TypeError(`${JSON.stringify(text)} is not an IP address`);
  const hits = findByName(models, text);
  if (hits.length === 0) {
    throw new TypeError(`no endpoint ${JSON.stringify(text)} in the model(s) for host(s) ${models.map((m) => m.host).join(', ') || '(none)'}; give its namespace/name or an address`);
  }
  const ids = new Set(hits.map((h) => `${h.model.host}|${h.wep?.id ?? h.hep?.id}`));
  if (ids.size > 1 && new Set(hits.map((h) => h.wep?.id ?? h.hep?.id)).size > 1) {
    throw new TypeError(`endpoint name ${JSON.stringify(text)} is ambiguous: ${[...new Set(hits.map((h) => h.wep?.id ?? h.hep?.id))].join(', ')}`);
  }
  const f = hits[0];
  const addrs = f.wep ? f.wep.addrs : f.hep?.expectedIPs ?? [];
  const address = override ?? firstAddr(addrs, version);
  if (address === undefined) throw new TypeError(`endpoint ${JSON.stringify(text)} has no ${version ? `IPv${version} ` : ''}address; pass one explicitly`);
  return {
    side: { spec: text, kind: f.wep ? 'workload' : 'host-endpoint', address, endpoint: (f.wep?.id ?? f.hep?.id) as string, host: f.model.host },
    found: f,
  };
}

/**
 * Traces a packet from `from` to `to` through the given host model(s): the egress chain of the
 * source (when it is a workload or host endpoint known to a model), then the ingress chain of the
 * destination. A workload sending to its own host's address meets `defaultEndpointToHostAction`.
 *
 * @example
 *   const r = tracePolicy(model, 'prod/web', 'prod/db', { protocol: 'TCP', dstPort: 5432 });
 *   r.verdict; // 'allow' | 'deny'
 *   console.log(formatTrace(r));
 */
export function tracePolicy(
  model: HostModel | readonly HostModel[], from: EndpointSpec, to: EndpointSpec, packet: TracePacket = {},
): TraceResult {
  const models = Array.isArray(model) ? (model as readonly HostModel[]) : [model as HostModel];
  // Resolve the side that names an address first, so the other side picks the same IP version.
  const verOf = (s: string | undefined): 4 | 6 | undefined => (s ? parseIP(s)?.version : undefined);
  const fromText = specText(from).text;
  const toText = specText(to).text;
  const hint = verOf(packet.src) ?? verOf(packet.dst) ?? verOf(fromText) ?? verOf(toText);
  const src = resolve(models, from, packet.src, hint);
  const dst = resolve(models, to, packet.dst, hint ?? verOf(src.side.address));
  const p: ParsedPacket = parsePacket({
    src: src.side.address, dst: dst.side.address, protocol: packet.protocol ?? 'TCP',
    ...(packet.srcPort !== undefined ? { srcPort: packet.srcPort } : {}),
    ...(packet.dstPort !== undefined ? { dstPort: packet.dstPort } : {}),
    ...(packet.icmpType !== undefined ? { icmpType: packet.icmpType } : {}),
    ...(packet.icmpCode !== undefined ? { icmpCode: packet.icmpCode } : {}),
  });

  let egress: SideResult;
  let ingress: SideResult | undefined;
  const sf = src.found;
  const toOwnHost = sf !== undefined && (sf.model.hostAddrs.includes(p.dstText) ||
    Object.values(sf.model.hostEndpoints).some((h) => addrIn(h.expectedIPs, p.dst)));
  if (sf?.wep) {
    egress = { evaluated: true, ...evaluateWorkload(sf.model, sf.wep, 'egress', p) };
    if (toOwnHost) {
      // Workload → its own host: after egress policy, DefaultEndpointToHostAction (calico-notes §10).
      const action = sf.model.config.defaultEndpointToHostAction;
      const step: TraceStep = { type: 'endpoint-to-host', action };
      if (action !== 'return') {
        ingress = {
          evaluated: true, endpoint: `host ${sf.model.host}`, endpointKind: 'host', direction: 'ingress',
          verdict: action === 'accept' ? 'allow' : 'deny', decidedBy: { kind: 'endpoint-to-host', action }, steps: [step],
        };
      } else {
        // felix: workload → host is a `goto cali-wl-to-host` from cali-INPUT, so RETURN leaves
        // Calico's chains altogether (host endpoint policy, even `*`, is skipped) and the host's own
        // INPUT rules decide. Weft's input chain does the same (goto, then the base policy accept).
        ingress = { evaluated: false, verdict: 'allow', reason: `defaultEndpointToHostAction is Return: workload → host traffic leaves Weft's rules after egress policy (host endpoint policy does not apply, as in Calico); the host's own firewall rules decide` };
      }
    }
  } else if (sf?.hep || sf?.hostAddr) {
    const hep = sf.hep ?? hostEndpointFor(sf.model, p.srcText);
    egress = hep
      ? { evaluated: true, ...evaluateHost(sf.model, hep, 'egress', p) }
      : { evaluated: false, verdict: 'allow', reason: `no host endpoint polices traffic leaving host ${sf.model.host}` };
  } else {
    egress = { evaluated: false, verdict: 'allow', reason: `source ${p.srcText} is not an endpoint of ${models.length === 1 ? `host ${models[0].host}` : 'the given hosts'}: its egress policy is not Weft's to enforce` };
  }

  if (!ingress) {
    const df = dst.found;
    if (df?.wep) {
      ingress = { evaluated: true, ...evaluateWorkload(df.model, df.wep, 'ingress', p) };
    } else if (df?.hep || df?.hostAddr) {
      const hep = df.hep ?? hostEndpointFor(df.model, p.dstText);
      ingress = hep
        ? { evaluated: true, ...evaluateHost(df.model, hep, 'ingress', p) }
        : { evaluated: false, verdict: 'allow', reason: `host ${df.model.host} has no host endpoint for ${p.dstText}: host interfaces without a HostEndpoint are not policed` };
    } else {
      ingress = { evaluated: false, verdict: 'allow', reason: `destination ${p.dstText} is not an endpoint of ${models.length === 1 ? `host ${models[0].host}` : 'the given hosts'}: no ingress policy applies` };
    }
  }

  const verdict = egress.verdict === 'allow' && ingress.verdict === 'allow' ? 'allow' : 'deny';
  const pkt: TraceResult['packet'] = { src: p.srcText, dst: p.dstText, protocol: protocolName(p.protocol) };
  if (p.srcPort !== undefined) pkt.srcPort = p.srcPort;
  if (p.dstPort !== undefined) pkt.dstPort = p.dstPort;
  if (p.icmpType !== undefined) pkt.icmpType = p.icmpType;
  if (p.icmpCode !== undefined) pkt.icmpCode = p.icmpCode;
  return { verdict, packet: pkt, from: src.side, to: dst.side, egress, ingress };
}

// ---- text rendering -----------------------------------------------------------------------------

function stepLine(s: TraceStep): string {
  switch (s.type) {
    case 'anti-spoofing': return `source ${s.source} is not one of the endpoint's addresses (nor in allowSpoofedSourcePrefixes): dropped as spoofed`;
    case 'failsafe': return `failsafe port ${s.protocol}:${s.port} — always allowed so the host stays reachable`;
    case 'log': return `${s.policy ? `policy ${s.policy}` : `profile ${s.profile}`} rule ${s.ruleIndex}: Log (continues)`;
    case 'policy':
      switch (s.result) {
        case 'no-match': return `policy ${s.policy}: no rule matched`;
        case 'missing': return `policy ${s.policy}: not in the model (fail closed)`;
        case 'pass': return `policy ${s.policy} rule ${s.ruleIndex}: Pass — skip to the next tier`;
        default: return `policy ${s.policy} rule ${s.ruleIndex}: ${s.result === 'allow' ? 'Allow' : 'Deny'}`;
      }
    case 'stage-end': return `${s.stage === 'untracked' ? 'untracked (doNotTrack)' : 'pre-DNAT'} policy gave no verdict → continue`;
    case 'tier-end': return s.defaultAction === 'deny'
      ? `end of tier ${s.tier}: no policy allowed or passed the packet → tier default action Deny`
      : `end of tier ${s.tier}: default action Pass → next tier`;
    case 'profile':
      if (s.missing) return `profile ${s.profile}: does not exist → deny (fail closed)`;
      if (s.result === 'no-match') return `profile ${s.profile}: no rule matched`;
      return `profile ${s.profile} rule ${s.ruleIndex}: ${s.result === 'allow' ? 'Allow' : s.result === 'deny' ? 'Deny' : 'Pass'}`;
    case 'no-profile-accepted': return s.profiles.length === 0
      ? 'no policy decided and the endpoint has no profiles → deny'
      : 'no policy decided and no profile allowed the packet → deny';
    case 'endpoint-to-host': return `workload → own host: defaultEndpointToHostAction is ${s.action[0].toUpperCase()}${s.action.slice(1)}`;
  }
}

function hintFor(v: EndpointVerdict, pkt: TraceResult['packet']): string | undefined {
  if (v.verdict === 'allow') return undefined;
  const dir = v.direction === 'ingress' ? 'ingress' : 'egress';
  const what = `${pkt.protocol}${pkt.dstPort !== undefined ? ` port ${pkt.dstPort}` : ''}`;
  const b = v.decidedBy;
  switch (b.kind) {
    case 'policy-rule': return `rule ${b.ruleIndex} of policy ${b.policy} (tier ${b.tier}) denies it; change that rule or allow the traffic earlier (lower order, or an earlier tier).`;
    case 'tier-default': return `add an ${dir} Allow rule for ${what} to a policy in tier ${b.tier} that selects ${v.endpoint} (or a Pass rule to defer to later tiers).`;
    case 'profile-rule': return `profile ${b.profile} rule ${b.ruleIndex} denies it; change the profile or allow the traffic in a policy.`;
    case 'missing-profile': return `create profile ${b.profile} (referenced by ${v.endpoint}) or remove it from the endpoint's profiles.`;
    case 'no-profile-accepted': return `no policy selecting ${v.endpoint} allows ${dir} ${what}; add a policy with an ${dir} Allow rule${b.profiles.length ? ' or an Allow rule in one of its profiles' : ''}.`;
    case 'anti-spoofing': return `send from one of ${v.endpoint}'s own addresses, or add the source to its allowSpoofedSourcePrefixes.`;
    case 'endpoint-to-host': return 'set FelixConfiguration defaultEndpointToHostAction to Accept, or to Return (the host\'s own firewall rules then decide).';
    default: return undefined;
  }
}

function sideText(title: string, s: SideResult, pkt: TraceResult['packet']): string[] {
  if (!s.evaluated) return [`${title}: not evaluated — ${s.reason}`];
  const lines = [`${title} (${s.endpointKind === 'workload' ? 'workload' : 'host'} endpoint ${s.endpoint}, ${s.direction}):`];
  if (s.steps.length === 0) lines.push('  (no tiers or profiles apply)');
  for (const st of s.steps) lines.push(`  - ${stepLine(st)}`);
  lines.push(`  => ${s.verdict === 'allow' ? 'ALLOWED' : 'DENIED'}`);
  const h = hintFor(s, pkt);
  if (h) lines.push(`  hint: ${h}`);
  return lines;
}

/** Plain-text rendering of a trace, one step per line, ending with the verdict. */
export function formatTrace(r: TraceResult): string {
  const pk = r.packet;
  const ports = pk.srcPort !== undefined || pk.dstPort !== undefined;
  const icmp = pk.icmpType !== undefined ? ` icmp type ${pk.icmpType}${pk.icmpCode !== undefined ? ` code ${pk.icmpCode}` : ''}` : '';
  const side = (s: ResolvedSide): string => `${s.endpoint ? `${s.kind} ${s.endpoint} ` : s.kind === 'host' ? 'host ' : ''}${s.address}${s.host ? ` on ${s.host}` : ''}`;
  const lines = [
    `Packet: ${pk.protocol} ${pk.src}${ports ? `:${pk.srcPort ?? '*'}` : ''} -> ${pk.dst}${ports ? `:${pk.dstPort ?? '*'}` : ''}${icmp}`,
    `From: ${side(r.from)}`,
    `To:   ${side(r.to)}`,
    ...sideText('Egress from source', r.egress, pk),
    ...sideText('Ingress to destination', r.ingress, pk),
    `Verdict: ${r.verdict === 'allow' ? 'ALLOW' : 'DENY'}`,
  ];
  return lines.join('\n');
}
