/**
 * Calico v1 manifests (`apiVersion: v1`, Calico ≤2.6) → v3, as `calicoctl convert` did
 * (libcalico-go `lib/upgrade/converters`, calico-notes §12): v1 API → v1 model → v3 API.
 *
 * The v1 document is checked with strict schemas (unknown fields refused, v1 field paths in
 * errors); the v3 object it converts to is then validated like any v3 document, so defaults
 * (blockSize, nodeSelector, types, …) are those of v3.
 */
import { z } from 'zod';
import { parseCIDR, formatCIDR, parseIP, canonicalIP, formatIP } from '../lib/ip.ts';
import { API_VERSION, isKind } from './kinds.ts';
import {
  cidrToName,
  convertName,
  convertNameNoDots,
  convertProfileName,
  ipToName,
  normalizeName,
  workloadEndpointName,
} from './names.ts';
import { issue, q } from './schemas/common.ts';
import { PARSE_OPTIONS, dropNulls, zodIssues, type DocumentRef, type ValidationIssue } from './validate.ts';

/** v1 kinds and their canonical spelling (matching is case-insensitive). */
export const V1_KINDS = ['ipPool', 'profile', 'policy', 'bgpPeer', 'hostEndpoint', 'workloadEndpoint', 'node', 'tier'] as const;
export type V1Kind = (typeof V1_KINDS)[number];

export function v1Kind(kind: unknown): V1Kind | undefined {
  if (typeof kind !== 'string') return undefined;
  return V1_KINDS.find((k) => k.toLowerCase() === kind.toLowerCase());
}

/** True for an `apiVersion: v1` document (which this module converts). */
export function isV1Document(doc: unknown): boolean {
  return typeof doc === 'object' && doc !== null && (doc as { apiVersion?: unknown }).apiVersion === 'v1';
}

type Obj = Record<string, unknown>;
const strMap = z.record(z.string(), z.string());

// ---------------------------------------------------------------------------------------------
// Rules

const v1Port = z.union([z.number(), z.string()]);
const v1Entity = z.strictObject({
  tag: z.string().optional(),
  net: z.string().optional(),
  nets: z.array(z.string()).optional(),
  selector: z.string().optional(),
  ports: z.array(v1Port).optional(),
  notTag: z.string().optional(),
  notNet: z.string().optional(),
  notNets: z.array(z.string()).optional(),
  notSelector: z.string().optional(),
  notPorts: z.array(v1Port).optional(),
});
const v1Icmp = z.strictObject({ type: z.number().optional(), code: z.number().optional() });
const v1Rule = z.strictObject({
  action: z.string().optional(),
  ipVersion: z.number().optional(),
  protocol: z.union([z.string(), z.number()]).optional(),
  notProtocol: z.union([z.string(), z.number()]).optional(),
  icmp: v1Icmp.optional(),
  notICMP: v1Icmp.optional(),
  source: v1Entity.optional(),
  destination: v1Entity.optional(),
});
type V1Rule = z.output<typeof v1Rule>;
type V1Entity = z.output<typeof v1Entity>;

/** v1 selectors used `calico/k8s_ns`; v3 uses `projectcalico.org/namespace` (converters/selectors.go). */
export function convertSelector(sel: string): string {
  return sel.split('calico/k8s_ns').join('projectcalico.org/namespace');
}

/** A tag t becomes the selector `t == ''`, AND-ed onto an existing selector. */
function mergeTag(sel: string | undefined, tag: string | undefined): string | undefined {
  const s = sel === undefined || sel === '' ? undefined : convertSelector(sel);
  if (tag === undefined || tag === '') return s;
  return s === undefined ? `${tag} == ''` : `(${s}) && ${tag} == ''`;
}

/** Masks host bits (v1 normalised nets to networks); unparsable text passes through to v3 validation. */
function normNet(n: string): string {
  const c = parseCIDR(n, { allowBare: true });
  return c === undefined ? n : formatCIDR(c);
}

function mergeNets(one: string | undefined, many: string[] | undefined): string[] | undefined {
  const all = [...(one !== undefined && one !== '' ? [one] : []), ...(many ?? [])].map(normNet);
  return all.length > 0 ? all : undefined;
}

const V1_PROTOCOLS: Record<string, string> = { tcp: 'TCP', udp: 'UDP', icmp: 'ICMP', icmpv6: 'ICMPv6', sctp: 'SCTP', udplite: 'UDPLite' };

function convertProtocol(p: string | number | undefined): string | number | undefined {
  if (typeof p !== 'string') return p;
  return V1_PROTOCOLS[p] ?? p;
}

/** Action: `next-tier`/`pass` → Pass, empty → Allow, others case-folded (converters/rule.go). */
export function convertAction(a: string | undefined): string {
  if (a === undefined || a === '') return 'Allow';
  const l = a.toLowerCase();
  if (l === 'next-tier' || l === 'pass') return 'Pass';
  for (const x of ['Allow', 'Deny', 'Log']) if (x.toLowerCase() === l) return x;
  return a;
}

function convertEntity(e: V1Entity | undefined): Obj | undefined {
  if (e === undefined) return undefined;
  const out: Obj = {};
  const nets = mergeNets(e.net, e.nets);
  if (nets) out.nets = nets;
  const sel = mergeTag(e.selector, e.tag);
  if (sel !== undefined) out.selector = sel;
  if (e.ports !== undefined) out.ports = e.ports;
  const notNets = mergeNets(e.notNet, e.notNets);
  if (notNets) out.notNets = notNets;
  const notSel = mergeTag(e.notSelector, e.notTag);
  if (notSel !== undefined) out.notSelector = notSel;
  if (e.notPorts !== undefined) out.notPorts = e.notPorts;
  return Object.keys(out).length > 0 ? out : undefined;
}

export function convertRule(r: V1Rule): Obj {
  const out: Obj = { action: convertAction(r.action) };
  if (r.ipVersion !== undefined) out.ipVersion = r.ipVersion;
  if (r.protocol !== undefined) out.protocol = convertProtocol(r.protocol);
  if (r.icmp !== undefined && (r.icmp.type !== undefined || r.icmp.code !== undefined)) out.icmp = r.icmp;
  if (r.notProtocol !== undefined) out.notProtocol = convertProtocol(r.notProtocol);
  if (r.notICMP !== undefined && (r.notICMP.type !== undefined || r.notICMP.code !== undefined)) out.notICMP = r.notICMP;
  const src = convertEntity(r.source);
  if (src) out.source = src;
  const dst = convertEntity(r.destination);
  if (dst) out.destination = dst;
  return out;
}

const convertRules = (rs: V1Rule[] | undefined): Obj[] | undefined => rs?.map(convertRule);

// ---------------------------------------------------------------------------------------------
// Kinds

function v3(kind: string, metadata: Obj, spec: Obj): Obj {
  return { apiVersion: API_VERSION, kind, metadata, spec };
}

function prune(o: Obj): Obj {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

const ipPoolV1 = z
  .strictObject({
    apiVersion: z.literal('v1'),
    kind: z.string(),
    metadata: z.strictObject({ cidr: z.string(), annotations: strMap.optional(), labels: strMap.optional() }),
    spec: z
      .strictObject({
        ipip: z.strictObject({ enabled: z.boolean().optional(), mode: z.enum(['always', 'cross-subnet', '']).optional() }).optional(),
        'nat-outgoing': z.boolean().optional(),
        disabled: z.boolean().optional(),
        ipam: z.unknown().optional(),
      })
      .optional(),
  })
  .transform((d, ctx) => {
    // v1 parsed the CIDR as a Go net.IPNet, which masks host bits.
    const c = parseCIDR(d.metadata.cidr.trim());
    if (c === undefined) {
      issue(ctx, ['metadata', 'cidr'], `${q(d.metadata.cidr)} is not a CIDR`);
      return z.NEVER;
    }
    const cidr = formatCIDR(c);
    const ipip = d.spec?.ipip;
    const ipipMode = ipip?.enabled ? (ipip.mode === 'cross-subnet' ? 'CrossSubnet' : 'Always') : 'Never';
    return v3(
      'IPPool',
      prune({ name: cidrToName(cidr), annotations: d.metadata.annotations, labels: d.metadata.labels }),
      {
        cidr,
        ipipMode,
        vxlanMode: 'Never',
        natOutgoing: d.spec?.['nat-outgoing'] ?? false,
        disabled: d.spec?.disabled ?? false,
        nodeSelector: 'all()',
      },
    );
  });

const profileV1 = z
  .strictObject({
    apiVersion: z.literal('v1'),
    kind: z.string(),
    metadata: z.strictObject({ name: z.string().min(1), tags: z.array(z.string()).optional(), labels: strMap.optional() }),
    spec: z.strictObject({ ingress: z.array(v1Rule).optional(), egress: z.array(v1Rule).optional() }).optional(),
  })
  .transform((d, ctx) => {
    // Tags and labels merge into labelsToApply (tag t → t: ""); a tag equal to a label key is an error.
    const lta: Record<string, string> | undefined = d.metadata.labels || d.metadata.tags?.length ? { ...(d.metadata.labels ?? {}) } : undefined;
    for (const [i, t] of (d.metadata.tags ?? []).entries()) {
      if (lta !== undefined && Object.hasOwn(lta, t)) {
        issue(ctx, ['metadata', 'tags', i], `tag ${q(t)} and label ${q(`${t}=${lta[t]}`)} have the same key; change the label key before converting`);
        return z.NEVER;
      }
      lta![t] = '';
    }
    return v3(
      'Profile',
      { name: convertProfileName(d.metadata.name) },
      prune({ ingress: convertRules(d.spec?.ingress), egress: convertRules(d.spec?.egress), labelsToApply: lta }),
    );
  });

const policyV1 = z
  .strictObject({
    apiVersion: z.literal('v1'),
    kind: z.string(),
    metadata: z.strictObject({ name: z.string().min(1), tier: z.string().optional(), annotations: strMap.optional() }),
    spec: z
      .strictObject({
        order: z.number().optional(),
        selector: z.string().optional(),
        types: z.array(z.string()).optional(),
        ingress: z.array(v1Rule).optional(),
        egress: z.array(v1Rule).optional(),
        doNotTrack: z.boolean().optional(),
        preDNAT: z.boolean().optional(),
        applyOnForward: z.boolean().optional(),
      })
      .optional(),
  })
  .transform((d, ctx) => {
    const s = d.spec ?? {};
    let types: string[];
    if (s.types === undefined || s.types.length === 0) {
      // API v1 → model: default from the rules present (converters/policy.go APIV1ToBackendV1).
      types = (s.egress?.length ?? 0) === 0 ? ['Ingress'] : (s.ingress?.length ?? 0) === 0 ? ['Egress'] : ['Ingress', 'Egress'];
    } else {
      types = [];
      for (const [i, t] of s.types.entries()) {
        const l = t.toLowerCase();
        if (l === 'ingress') types.push('Ingress');
        else if (l === 'egress') types.push('Egress');
        else {
          issue(ctx, ['spec', 'types', i], `invalid policy type ${q(t)} (ingress or egress)`);
          return z.NEVER;
        }
      }
    }
    const tier = d.metadata.tier === undefined || d.metadata.tier === '' ? 'default' : convertNameNoDots(d.metadata.tier);
    const fwd = s.applyOnForward || s.doNotTrack || s.preDNAT ? true : undefined;
    return v3(
      'GlobalNetworkPolicy',
      prune({ name: `${tier}.${convertNameNoDots(d.metadata.name)}`, annotations: d.metadata.annotations }),
      prune({
        tier,
        order: s.order,
        selector: s.selector === undefined ? undefined : convertSelector(s.selector),
        types,
        ingress: convertRules(s.ingress),
        egress: convertRules(s.egress),
        doNotTrack: s.doNotTrack,
        preDNAT: s.preDNAT,
        applyOnForward: fwd,
      }),
    );
  });

const bgpPeerV1 = z
  .strictObject({
    apiVersion: z.literal('v1'),
    kind: z.string(),
    metadata: z.strictObject({ scope: z.enum(['global', 'node']), node: z.string().optional(), peerIP: z.string() }),
    spec: z.strictObject({ asNumber: z.union([z.number(), z.string()]) }),
  })
  .transform((d, ctx) => {
    const ip = parseIP(d.metadata.peerIP.trim());
    if (ip === undefined) {
      issue(ctx, ['metadata', 'peerIP'], `${q(d.metadata.peerIP)} is not an IP address`);
      return z.NEVER;
    }
    const peerIP = formatIP(ip.version, ip.value);
    const ipName = ipToName(peerIP);
    if (d.metadata.scope === 'global') {
      if (d.metadata.node !== undefined && d.metadata.node !== '') {
        issue(ctx, ['metadata', 'node'], 'must be empty for scope global');
        return z.NEVER;
      }
      return v3('BGPPeer', { name: ipName }, { peerIP, asNumber: d.spec.asNumber });
    }
    if (d.metadata.node === undefined || d.metadata.node === '') {
      issue(ctx, ['metadata', 'node'], 'required for scope node');
      return z.NEVER;
    }
    const node = normalizeName(d.metadata.node);
    return v3('BGPPeer', { name: `${node}.${ipName}` }, { node, peerIP, asNumber: d.spec.asNumber });
  });

const v1EndpointPort = z.strictObject({ name: z.string(), protocol: z.union([z.string(), z.number()]), port: z.number() });

const hostEndpointV1 = z
  .strictObject({
    apiVersion: z.literal('v1'),
    kind: z.string(),
    metadata: z.strictObject({ name: z.string().min(1), node: z.string().min(1), labels: strMap.optional() }),
    spec: z
      .strictObject({
        interfaceName: z.string().optional(),
        expectedIPs: z.array(z.string()).optional(),
        profiles: z.array(z.string()).optional(),
        ports: z.array(v1EndpointPort).optional(),
      })
      .optional(),
  })
  .transform((d) => {
    const node = normalizeName(d.metadata.node);
    const s = d.spec ?? {};
    // v1 stored IPv4 then IPv6 expected addresses separately; v3 lists v4 first.
    const ips = s.expectedIPs?.map((ip) => canonicalIP(ip.trim()) ?? ip);
    const sorted = ips ? [...ips.filter((i) => !i.includes(':')), ...ips.filter((i) => i.includes(':'))] : undefined;
    return v3(
      'HostEndpoint',
      prune({ name: convertName(`${node}.${d.metadata.name}`), labels: d.metadata.labels }),
      prune({
        node,
        interfaceName: s.interfaceName,
        expectedIPs: sorted,
        profiles: s.profiles?.map(convertProfileName),
        ports: s.ports?.map((p) => ({ ...p, protocol: convertProtocol(p.protocol) })),
      }),
    );
  });

const workloadEndpointV1 = z
  .strictObject({
    apiVersion: z.literal('v1'),
    kind: z.string(),
    metadata: z.strictObject({
      name: z.string().min(1),
      workload: z.string().min(1),
      orchestrator: z.string().min(1),
      node: z.string().min(1),
      activeInstanceID: z.string().optional(),
      labels: strMap.optional(),
    }),
    spec: z
      .strictObject({
        ipNetworks: z.array(z.string()).optional(),
        ipNATs: z.array(z.strictObject({ internalIP: z.string(), externalIP: z.string() })).optional(),
        ipv4Gateway: z.string().optional(),
        ipv6Gateway: z.string().optional(),
        profiles: z.array(z.string()).optional(),
        interfaceName: z.string().optional(),
        mac: z.string().optional(),
        ports: z.array(v1EndpointPort).optional(),
      })
      .optional(),
  })
  .transform((d, ctx) => {
    const m = d.metadata;
    const s = d.spec ?? {};
    let namespace = 'default';
    let pod: string | undefined;
    let containerID: string | undefined;
    let workload: string | undefined;
    switch (m.orchestrator) {
      case 'k8s': {
        // The k8s workload ID is "<namespace>.<pod>".
        const dot = m.workload.indexOf('.');
        if (dot === -1) {
          issue(ctx, ['metadata', 'workload'], `malformed k8s workload ID ${q(m.workload)}: expected <namespace>.<pod>`);
          return z.NEVER;
        }
        namespace = m.workload.slice(0, dot);
        pod = m.workload.slice(dot + 1);
        containerID = m.activeInstanceID;
        break;
      }
      case 'cni':
        containerID = m.workload;
        break;
      case 'libnetwork':
        workload = 'libnetwork';
        break;
      default:
        workload = convertName(m.workload);
    }
    const labels = m.labels ? { ...m.labels } : {};
    if (Object.hasOwn(labels, 'calico/k8s_ns')) {
      labels['projectcalico.org/namespace'] = labels['calico/k8s_ns'];
      delete labels['calico/k8s_ns'];
    }
    const nets = s.ipNetworks?.map(normNet);
    const ipNetworks = nets ? [...nets.filter((n) => !n.includes(':')), ...nets.filter((n) => n.includes(':'))] : undefined;
    const spec = prune({
      orchestrator: convertName(m.orchestrator),
      workload,
      node: normalizeName(m.node),
      pod,
      containerID,
      endpoint: convertName(m.name),
      ipNetworks,
      ipNATs: s.ipNATs,
      ipv4Gateway: s.ipv4Gateway,
      ipv6Gateway: s.ipv6Gateway,
      profiles: s.profiles?.map(convertProfileName),
      interfaceName: s.interfaceName,
      mac: s.mac,
      ports: s.ports?.map((p) => ({ ...p, protocol: convertProtocol(p.protocol) })),
    });
    let name: string;
    try {
      name = workloadEndpointName({
        node: spec.node as string,
        orchestrator: spec.orchestrator as string,
        endpoint: spec.endpoint as string,
        workload,
        pod,
        containerID,
      });
    } catch (e) {
      issue(ctx, ['metadata'], (e as Error).message);
      return z.NEVER;
    }
    return v3('WorkloadEndpoint', { name, namespace, labels }, spec);
  });

const nodeV1 = z
  .strictObject({
    apiVersion: z.literal('v1'),
    kind: z.string(),
    metadata: z.strictObject({ name: z.string().min(1) }),
    spec: z
      .strictObject({
        bgp: z
          .strictObject({
            asNumber: z.union([z.number(), z.string()]).optional(),
            ipv4Address: z.string().optional(),
            ipv6Address: z.string().optional(),
          })
          .optional(),
        orchRefs: z.array(z.strictObject({ nodeName: z.string().optional(), orchestrator: z.string() })).optional(),
      })
      .optional(),
  })
  .transform((d) => {
    const b = d.spec?.bgp;
    let bgp: Obj | undefined;
    // A v1 node address without a prefix gets a full-length one (converters/node.go).
    const withPrefix = (a: string | undefined, bitsLen: number): string | undefined =>
      a === undefined || a === '' ? undefined : a.includes('/') ? a : `${a}/${bitsLen}`;
    if (b !== undefined && ((b.ipv4Address ?? '') !== '' || (b.ipv6Address ?? '') !== '')) {
      bgp = prune({ asNumber: b.asNumber, ipv4Address: withPrefix(b.ipv4Address, 32), ipv6Address: withPrefix(b.ipv6Address, 128) });
    }
    return v3('Node', { name: normalizeName(d.metadata.name) }, prune({ bgp, orchRefs: d.spec?.orchRefs }));
  });

const tierV1 = z
  .strictObject({
    apiVersion: z.literal('v1'),
    kind: z.string(),
    metadata: z.strictObject({ name: z.string().min(1) }),
    spec: z.strictObject({ order: z.number().optional() }).optional(),
  })
  .transform((d) => v3('Tier', { name: convertName(d.metadata.name) }, prune({ order: d.spec?.order })));

const V1_SCHEMAS: Record<V1Kind, z.ZodType<Obj>> = {
  ipPool: ipPoolV1,
  profile: profileV1,
  policy: policyV1,
  bgpPeer: bgpPeerV1,
  hostEndpoint: hostEndpointV1,
  workloadEndpoint: workloadEndpointV1,
  node: nodeV1,
  tier: tierV1,
};

/** v1 document → unvalidated v3 object, or the v1 issues. */
export type V1Conversion = { ok: true; value: Obj } | { ok: false; ref: DocumentRef; issues: ValidationIssue[] };

/** Converts a v1 document to a v3 object (not yet validated as v3). Never throws for bad input. */
export function convertV1Raw(raw: unknown): V1Conversion {
  const doc = dropNulls(raw);
  const d = (typeof doc === 'object' && doc !== null ? doc : {}) as Obj;
  const md = (typeof d.metadata === 'object' && d.metadata !== null ? d.metadata : {}) as Obj;
  const kind = v1Kind(d.kind);
  const ref: DocumentRef = {
    kind: `v1 ${kind ?? String(d.kind)}`,
    name: typeof md.name === 'string' ? md.name : typeof md.cidr === 'string' ? md.cidr : typeof md.peerIP === 'string' ? md.peerIP : undefined,
  };
  if (isKind(d.kind)) {
    // A v3 kind under apiVersion v1: almost certainly a v3 manifest with the wrong apiVersion.
    return { ok: false, ref: { kind: d.kind, name: ref.name }, issues: [{ path: 'apiVersion', message: `"v1" is the Calico v1 API; for kind ${d.kind} use ${q(API_VERSION)}` }] };
  }
  if (kind === undefined) {
    const isConfig = typeof d.kind === 'string' && d.kind.toLowerCase() === 'calicoapiconfig';
    const message = isConfig
      ? 'calicoApiConfig is a calicoctl connection file, not a resource: choose the datastore with --datastore, WEFT_DATASTORE or /etc/weft/weft.yaml'
      : `${q(d.kind)} is not a v1 kind (known: ${V1_KINDS.join(', ')})`;
    return { ok: false, ref, issues: [{ path: 'kind', message }] };
  }
  const r = V1_SCHEMAS[kind].safeParse(doc, PARSE_OPTIONS);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, ref, issues: zodIssues(r.error, V1_SCHEMAS[kind]) };
}
