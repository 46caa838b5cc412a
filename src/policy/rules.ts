/**
 * Rule compilation: a Calico v3 `Rule` → `CompiledRule` plus the IP sets it needs. Exactly
 * Calico's field semantics (calico-notes §9); everything invalid throws WeftError(ERR_VALIDATION)
 * so that the calc graph can treat the whole resource as absent (Felix's validation filter).
 */
import { parseCIDR, formatCIDR } from '../lib/ip.ts';
import { ErrorCodes, WeftError } from '../lib/errors.ts';
import type { Action, CompiledRule, PortRange } from './model.ts';
import type { EntityRuleSpec, RuleSpec } from './resources.ts';
import { ANY_NAMESPACE, compileSelector, makeMatcher, namespaceScopeFor, shortHash } from './selectors.ts';
import type { Matcher, NamespaceScope } from './selectors.ts';

/** IANA protocol numbers for the names Calico accepts. */
export const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = {
  tcp: 6, udp: 17, icmp: 1, icmpv6: 58, sctp: 132, udplite: 136,
};
const PROTOCOL_NAMES: Readonly<Record<number, string>> = {
  6: 'TCP', 17: 'UDP', 1: 'ICMP', 58: 'ICMPv6', 132: 'SCTP', 136: 'UDPLite',
};

export function protocolName(n: number): string {
  return PROTOCOL_NAMES[n] ?? String(n);
}

/** `TCP`, `tcp`, `6`, 6 → 6. Undefined when not a protocol. */
export function parseProtocol(p: string | number | undefined): number | undefined {
  if (p === undefined) return undefined;
  if (typeof p === 'number') return Number.isInteger(p) && p >= 0 && p <= 255 ? p : undefined;
  const t = p.trim();
  if (/^[0-9]{1,3}$/.test(t)) return parseProtocol(Number(t));
  return PROTOCOL_NUMBERS[t.toLowerCase()];
}

/** Protocols that carry ports (Calico: "rules that specify ports must set protocol to TCP or UDP or SCTP"). */
const PORT_PROTOCOLS: ReadonlySet<number> = new Set([6, 17, 132]);

export interface IPSetSpec {
  id: string;
  type: 'net' | 'named-port';
  matcher: Matcher;
  /** For named-port sets. */
  portName?: string;
  protocol?: 'tcp' | 'udp' | 'sctp';
  description: string;
}

export interface CompiledRules {
  rules: CompiledRule[];
  /** Every set the rules reference, deduplicated by id. */
  ipSets: IPSetSpec[];
}

function invalid(where: string, msg: string): never {
  throw new WeftError(ErrorCodes.VALIDATION, `${where}: ${msg}`);
}

const setCache = new Map<string, string>();
function setId(prefix: 's' | 'n', key: string): string {
  let id = setCache.get(key);
  if (id === undefined) {
    id = `${prefix}:${shortHash(key)}`;
    if (setCache.size > 100_000) setCache.clear();
    setCache.set(key, id);
  }
  return id;
}

/** The IP set of everything `matcher` selects. Id derived from the matcher id (selector uniqueId + scope). */
export function selectorIPSet(matcher: Matcher): IPSetSpec {
  return { id: setId('s', matcher.id), type: 'net', matcher, description: matcher.description };
}

/** The named-port set `(ip, proto, port)` of everything `matcher` selects that declares `portName`. */
export function namedPortIPSet(matcher: Matcher, protocol: 'tcp' | 'udp' | 'sctp', portName: string): IPSetSpec {
  return {
    id: setId('n', `${matcher.id}|${protocol}|${portName}`),
    type: 'named-port', matcher, protocol, portName,
    description: `named port ${protocol}:${portName} of ${matcher.description}`,
  };
}

function parseAction(a: string | undefined, where: string): Action {
  switch ((a ?? '').toLowerCase()) {
    case 'allow': return 'allow';
    case 'deny': return 'deny';
    case 'log': return 'log';
    case 'pass': return 'pass';
    default: return invalid(where, `action must be Allow, Deny, Log or Pass, got ${JSON.stringify(a)}`);
  }
}

function canonNets(nets: string[] | undefined, where: string): string[] | undefined {
  if (nets === undefined || nets.length === 0) return undefined;
  const out = new Set<string>();
  for (const n of nets) {
    const c = typeof n === 'string' ? parseCIDR(n, { allowBare: true }) : undefined;
    if (!c) invalid(where, `invalid CIDR ${JSON.stringify(n)}`);
    out.add(formatCIDR(c));
  }
  return [...out];
}

interface ParsedPorts { ranges: PortRange[]; names: string[] }

function parsePorts(ports: (number | string)[] | undefined, where: string): ParsedPorts | undefined {
  if (ports === undefined || ports.length === 0) return undefined;
  const ranges: PortRange[] = [];
  const names: string[] = [];
  const checkPort = (n: number): number => {
    if (!Number.isInteger(n) || n < 0 || n > 65535) invalid(where, `port ${n} out of range 0-65535`);
    return n;
  };
  for (const p of ports) {
    if (typeof p === 'number') { const n = checkPort(p); ranges.push({ first: n, last: n }); continue; }
    if (typeof p !== 'string') invalid(where, `invalid port ${JSON.stringify(p)}`);
    const m = /^([0-9]+)(?::([0-9]+))?$/.exec(p.trim());
    if (m) {
      const first = checkPort(Number(m[1]));
      const last = m[2] === undefined ? first : checkPort(Number(m[2]));
      if (last < first) invalid(where, `port range ${p} is reversed`);
      ranges.push({ first, last });
    } else if (/^[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/.test(p) && p.length <= 128) {
      names.push(p);
    } else {
      invalid(where, `invalid port ${JSON.stringify(p)}`);
    }
  }
  return { ranges, names: [...new Set(names)] };
}

interface EntityOut {
  nets?: string[]; notNets?: string[];
  ipSets?: string[]; notIPSets?: string[];
  ports?: PortRange[]; namedPortIPSets?: string[];
  notPorts?: PortRange[]; notNamedPortIPSets?: string[];
}

function compileEntity(
  e: EntityRuleSpec | undefined, ns: string | undefined, proto: number | undefined,
  sets: Map<string, IPSetSpec>, where: string,
): EntityOut {
  const out: EntityOut = {};
  if (!e) return out;
  const nets = canonNets(e.nets, where);
  if (nets) out.nets = nets;
  const notNets = canonNets(e.notNets, where);
  if (notNets) out.notNets = notNets;

  const hasSel = e.selector !== undefined && e.selector.trim() !== '';
  const hasNotSel = e.notSelector !== undefined && e.notSelector.trim() !== '';
  const hasNsSel = e.namespaceSelector !== undefined && e.namespaceSelector.trim() !== '';
  // Calico's update processor: in a namespaced policy, a rule that selects (selector, notSelector or
  // namespaceSelector) selects within the policy's namespace unless namespaceSelector says otherwise;
  // a rule with none of them matches any address.
  let positive: Matcher | undefined;
  if (hasSel || hasNsSel || (hasNotSel && ns !== undefined)) {
    const scope: NamespaceScope = namespaceScopeFor(e.namespaceSelector, ns);
    positive = makeMatcher(hasSel ? compileSelector(e.selector ?? '') : undefined, scope);
    const s = selectorIPSet(positive);
    sets.set(s.id, s);
    out.ipSets = [s.id];
  }
  if (hasNotSel) {
    const s = selectorIPSet(makeMatcher(compileSelector(e.notSelector ?? ''), ANY_NAMESPACE));
    sets.set(s.id, s);
    out.notIPSets = [s.id];
  }
  const ports = parsePorts(e.ports, where);
  const notPorts = parsePorts(e.notPorts, where);
  if (ports || notPorts) {
    if (proto === undefined || !PORT_PROTOCOLS.has(proto)) {
      invalid(where, 'rules that specify ports must set protocol to TCP, UDP or SCTP');
    }
  }
  const protoName = proto === 6 ? 'tcp' : proto === 17 ? 'udp' : 'sctp';
  // Named ports resolve against the entity's positive selector (all() when it has none).
  const npMatcher = positive ?? makeMatcher(undefined, ANY_NAMESPACE);
  const named = (names: string[]): string[] => names.map((n) => {
    const s = namedPortIPSet(npMatcher, protoName, n);
    sets.set(s.id, s);
    return s.id;
  });
  if (ports) {
    if (ports.ranges.length > 0) out.ports = ports.ranges;
    if (ports.names.length > 0) out.namedPortIPSets = named(ports.names);
  }
  if (notPorts) {
    if (notPorts.ranges.length > 0) out.notPorts = notPorts.ranges;
    if (notPorts.names.length > 0) out.notNamedPortIPSets = named(notPorts.names);
  }
  return out;
}

function compileICMP(
  f: { type?: number; code?: number } | undefined, proto: number | undefined, where: string, field: string,
): { type?: number; code?: number } {
  if (!f || (f.type === undefined && f.code === undefined)) return {};
  if (proto !== 1 && proto !== 58) invalid(where, `${field} requires protocol ICMP or ICMPv6`);
  if (f.type === undefined) invalid(where, `${field}.code requires ${field}.type`);
  if (!Number.isInteger(f.type) || f.type < 0 || f.type > 254) invalid(where, `${field}.type must be 0-254`);
  if (f.code !== undefined && (!Number.isInteger(f.code) || f.code < 0 || f.code > 255)) invalid(where, `${field}.code must be 0-255`);
  return f.code === undefined ? { type: f.type } : { type: f.type, code: f.code };
}

/** Compiles one rule. `ns` is the policy's namespace (undefined for global resources). */
export function compileRule(r: RuleSpec, ns: string | undefined, sets: Map<string, IPSetSpec>, where: string): CompiledRule {
  if (typeof r !== 'object' || r === null) invalid(where, 'rule must be an object');
  const out: CompiledRule = { action: parseAction(r.action, where) };
  if (r.ipVersion !== undefined) {
    if (r.ipVersion !== 4 && r.ipVersion !== 6) invalid(where, 'ipVersion must be 4 or 6');
    out.ipVersion = r.ipVersion;
  }
  const proto = parseProtocol(r.protocol);
  if (r.protocol !== undefined) {
    if (proto === undefined) invalid(where, `invalid protocol ${JSON.stringify(r.protocol)}`);
    out.protocol = proto;
  }
  if (r.notProtocol !== undefined) {
    const np = parseProtocol(r.notProtocol);
    if (np === undefined) invalid(where, `invalid notProtocol ${JSON.stringify(r.notProtocol)}`);
    out.notProtocol = np;
  }
  const icmp = compileICMP(r.icmp, proto, where, 'icmp');
  if (icmp.type !== undefined) out.icmpType = icmp.type;
  if (icmp.code !== undefined) out.icmpCode = icmp.code;
  const notIcmp = compileICMP(r.notICMP, proto, where, 'notICMP');
  if (notIcmp.type !== undefined) out.notICMPType = notIcmp.type;
  if (notIcmp.code !== undefined) out.notICMPCode = notIcmp.code;
  if (proto === 1 && out.ipVersion === 6) invalid(where, 'protocol ICMP with ipVersion 6');
  if (proto === 58 && out.ipVersion === 4) invalid(where, 'protocol ICMPv6 with ipVersion 4');

  const src = compileEntity(r.source, ns, proto, sets, `${where}.source`);
  const dst = compileEntity(r.destination, ns, proto, sets, `${where}.destination`);
  if (src.nets) out.srcNets = src.nets;
  if (src.notNets) out.notSrcNets = src.notNets;
  if (dst.nets) out.dstNets = dst.nets;
  if (dst.notNets) out.notDstNets = dst.notNets;
  if (src.ipSets) out.srcIPSets = src.ipSets;
  if (src.notIPSets) out.notSrcIPSets = src.notIPSets;
  if (dst.ipSets) out.dstIPSets = dst.ipSets;
  if (dst.notIPSets) out.notDstIPSets = dst.notIPSets;
  if (src.ports) out.srcPorts = src.ports;
  if (src.namedPortIPSets) out.srcNamedPortIPSets = src.namedPortIPSets;
  if (src.notPorts) out.notSrcPorts = src.notPorts;
  if (src.notNamedPortIPSets) out.notSrcNamedPortIPSets = src.notNamedPortIPSets;
  if (dst.ports) out.dstPorts = dst.ports;
  if (dst.namedPortIPSets) out.dstNamedPortIPSets = dst.namedPortIPSets;
  if (dst.notPorts) out.notDstPorts = dst.notPorts;
  if (dst.notNamedPortIPSets) out.notDstNamedPortIPSets = dst.notNamedPortIPSets;
  return out;
}

/** Compiles a rule list; `where` prefixes error messages (e.g. `GlobalNetworkPolicy allow-dns ingress`). */
export function compileRules(rules: RuleSpec[] | undefined, ns: string | undefined, sets: Map<string, IPSetSpec>, where: string): CompiledRule[] {
  if (rules === undefined) return [];
  if (!Array.isArray(rules)) invalid(where, 'rules must be a list');
  if (rules.length > 1024) invalid(where, 'at most 1024 rules per direction');
  return rules.map((r, i) => compileRule(r, ns, sets, `${where}[${i}]`));
}
