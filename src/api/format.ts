/**
 * Printers for `get`: yaml/json as calicoctl prints them (one object, or `kind: <Kind>List`
 * with `items`), and the table columns of calicoctl's `get` (`-o wide` adds more).
 */
import YAML from 'yaml';
import { API_VERSION, isNamespacedKind, type Kind } from './kinds.ts';
import type { BatchItem, BatchOp } from './client.ts';
import type { Resource, ResourceOf } from './validate.ts';

export type OutputFormat = 'yaml' | 'json' | 'table' | 'wide' | 'name';

export const OUTPUT_FORMATS: readonly OutputFormat[] = ['yaml', 'json', 'table', 'wide', 'name'];

export interface FormatOptions {
  /**
   * Print a `<Kind>List` even for one object (calicoctl does for `get KIND` without names).
   * Default: a list when there is not exactly one resource.
   */
  list?: boolean;
  /** Kind of an empty list (`IPPoolList`); otherwise taken from the items (`List` if mixed). */
  kind?: Kind;
  /** resourceVersion for the list's metadata (the store revision of the read). */
  listResourceVersion?: string;
  /** Table: add a NAMESPACE column for namespaced kinds (`-A`). */
  allNamespaces?: boolean;
}

type Row = string[];
interface Columns<R> {
  head: string[];
  row: (r: R) => Row;
  wideHead?: string[];
  wideRow?: (r: R) => Row;
}

const join = (xs: readonly unknown[] | undefined): string => (xs ?? []).map(String).join(',');
const s = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
const labelsText = (m: Record<string, string> | undefined): string =>
  Object.entries(m ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** calicoctl `get` columns per kind (calicoctl/resourcemgr headings). */
const COLUMNS: { [K in Kind]: Columns<ResourceOf<K>> } = {
  IPPool: {
    head: ['NAME', 'CIDR', 'SELECTOR'],
    row: (r) => [r.metadata.name, r.spec.cidr, r.spec.nodeSelector],
    wideHead: ['NAME', 'CIDR', 'NAT', 'IPIPMODE', 'VXLANMODE', 'DISABLED', 'DISABLEBGPEXPORT', 'SELECTOR', 'ALLOWEDUSES'],
    wideRow: (r) => [
      r.metadata.name,
      r.spec.cidr,
      s(r.spec.natOutgoing),
      r.spec.ipipMode,
      r.spec.vxlanMode,
      s(r.spec.disabled),
      s(r.spec.disableBGPExport),
      r.spec.nodeSelector,
      join(r.spec.allowedUses),
    ],
  },
  IPReservation: {
    head: ['NAME'],
    row: (r) => [r.metadata.name],
    wideHead: ['NAME', 'CIDRS'],
    wideRow: (r) => [r.metadata.name, join(r.spec.reservedCIDRs)],
  },
  Node: {
    head: ['NAME'],
    row: (r) => [r.metadata.name],
    wideHead: ['NAME', 'ASN', 'IPV4', 'IPV6'],
    wideRow: (r) => [r.metadata.name, r.spec.bgp?.asNumber !== undefined ? s(r.spec.bgp.asNumber) : r.spec.bgp ? '(64512)' : '', s(r.spec.bgp?.ipv4Address), s(r.spec.bgp?.ipv6Address)],
  },
  BGPPeer: {
    head: ['NAME', 'PEERIP', 'NODE', 'ASN'],
    row: (r) => [r.metadata.name, s(r.spec.peerIP), r.spec.node ?? (r.spec.nodeSelector !== undefined ? r.spec.nodeSelector : '(global)'), s(r.spec.asNumber)],
  },
  BGPConfiguration: {
    head: ['NAME', 'LOGSEVERITY', 'MESHENABLED', 'ASNUMBER'],
    row: (r) => [r.metadata.name, s(r.spec.logSeverityScreen), s(r.spec.nodeToNodeMeshEnabled), s(r.spec.asNumber)],
  },
  Profile: {
    head: ['NAME'],
    row: (r) => [r.metadata.name],
    wideHead: ['NAME', 'LABELS'],
    wideRow: (r) => [r.metadata.name, labelsText(r.spec.labelsToApply)],
  },
  NetworkPolicy: {
    head: ['NAME'],
    row: (r) => [r.metadata.name],
    wideHead: ['NAME', 'ORDER', 'SELECTOR'],
    wideRow: (r) => [r.metadata.name, s(r.spec.order), r.spec.selector ?? 'all()'],
  },
  GlobalNetworkPolicy: {
    head: ['NAME'],
    row: (r) => [r.metadata.name],
    wideHead: ['NAME', 'ORDER', 'SELECTOR'],
    wideRow: (r) => [r.metadata.name, s(r.spec.order), r.spec.selector ?? 'all()'],
  },
  NetworkSet: {
    head: ['NAME'],
    row: (r) => [r.metadata.name],
    wideHead: ['NAME', 'NETS'],
    wideRow: (r) => [r.metadata.name, join(r.spec.nets)],
  },
  GlobalNetworkSet: {
    head: ['NAME'],
    row: (r) => [r.metadata.name],
    wideHead: ['NAME', 'NETS'],
    wideRow: (r) => [r.metadata.name, join(r.spec.nets)],
  },
  WorkloadEndpoint: {
    head: ['WORKLOAD', 'NODE', 'NETWORKS', 'INTERFACE'],
    row: (r) => [r.spec.pod ?? r.spec.workload ?? r.spec.containerID ?? '', s(r.spec.node), join(r.spec.ipNetworks), s(r.spec.interfaceName)],
    wideHead: ['NAME', 'WORKLOAD', 'NODE', 'NETWORKS', 'INTERFACE', 'PROFILES', 'NATS'],
    wideRow: (r) => [
      r.metadata.name,
      r.spec.pod ?? r.spec.workload ?? r.spec.containerID ?? '',
      s(r.spec.node),
      join(r.spec.ipNetworks),
      s(r.spec.interfaceName),
      join(r.spec.profiles),
      (r.spec.ipNATs ?? []).map((n) => `${n.internalIP}<->${n.externalIP}`).join(','),
    ],
  },
  HostEndpoint: {
    head: ['NAME', 'NODE'],
    row: (r) => [r.metadata.name, r.spec.node],
    wideHead: ['NAME', 'NODE', 'INTERFACE', 'IPS', 'PROFILES'],
    wideRow: (r) => [r.metadata.name, r.spec.node, s(r.spec.interfaceName), join(r.spec.expectedIPs), join(r.spec.profiles)],
  },
  FelixConfiguration: { head: ['NAME'], row: (r) => [r.metadata.name] },
  ClusterInformation: {
    head: ['NAME'],
    row: (r) => [r.metadata.name],
    wideHead: ['NAME', 'CLUSTERGUID', 'CALICOVERSION', 'DATASTOREREADY'],
    wideRow: (r) => [r.metadata.name, s(r.spec.clusterGUID), s(r.spec.calicoVersion), s(r.spec.datastoreReady)],
  },
  Tier: {
    head: ['NAME', 'ORDER'],
    row: (r) => [r.metadata.name, s(r.spec.order)],
    wideHead: ['NAME', 'ORDER', 'DEFAULTACTION'],
    wideRow: (r) => [r.metadata.name, s(r.spec.order), r.spec.defaultAction],
  },
  IPAMConfiguration: {
    head: ['NAME'],
    row: (r) => [r.metadata.name],
    wideHead: ['NAME', 'STRICTAFFINITY', 'MAXBLOCKSPERHOST', 'AUTOALLOCATEBLOCKS'],
    wideRow: (r) => [r.metadata.name, s(r.spec.strictAffinity), s(r.spec.maxBlocksPerHost), s(r.spec.autoAllocateBlocks)],
  },
};

/** Left-aligned columns separated by three spaces (as calicoctl's tabwriter output). */
export function renderTable(head: readonly string[], rows: readonly Row[]): string {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 3))).join('').trimEnd()).join('\n') + '\n';
}

function tableFor(kind: Kind, rs: readonly Resource[], wide: boolean, allNs: boolean): string {
  const cols = COLUMNS[kind] as Columns<Resource>;
  let head = wide && cols.wideHead ? cols.wideHead : cols.head;
  const rowFn = wide && cols.wideRow ? cols.wideRow : cols.row;
  let rows = rs.map(rowFn);
  if (allNs && isNamespacedKind(kind)) {
    head = ['NAMESPACE', ...head];
    rows = rs.map((r, i) => [(r.metadata as { namespace?: string }).namespace ?? '', ...rows[i]]);
  }
  return renderTable(head, rows);
}

/** The object calicoctl prints for several resources: `{apiVersion, items, kind: <Kind>List, metadata}`. */
export function toList(resources: readonly Resource[], opts: FormatOptions = {}): Record<string, unknown> {
  const kinds = new Set(resources.map((r) => r.kind));
  const kind = kinds.size === 1 ? [...kinds][0] : kinds.size === 0 ? opts.kind : undefined;
  return {
    apiVersion: API_VERSION,
    kind: kind !== undefined ? `${kind}List` : 'List',
    items: resources,
    metadata: opts.listResourceVersion !== undefined ? { resourceVersion: opts.listResourceVersion } : {},
  };
}

/**
 * Renders resources for output.
 * - `yaml` / `json`: one object when there is exactly one resource (and `list` is not set),
 *   else a `<Kind>List` (or `List` for mixed kinds) with `items`. YAML keys are sorted (as
 *   calicoctl's); JSON keeps field order (apiVersion, kind, metadata, spec).
 * - `table` / `wide`: calicoctl's columns per kind; mixed kinds print one table per kind,
 *   separated by a blank line. No resources print nothing.
 * - `name`: `<kind>/<name>` per line (lower-case kind, as kubectl's `-o name`).
 */
/**
 * Strings that YAML 1.2's core schema reads as something else (`0o17`, `1e3`, `+5`), whose plain
 * form YAML 1.1 would leave a string. Our own reader (manifest.ts) and most current tools use 1.2,
 * calicoctl and kubectl (go-yaml v2) use 1.1: the output must mean the same text to both.
 */
const CORE_NON_STRING = new YAML.Schema({ schema: 'core' }).tags
  .filter((t) => t.default === true && t.test instanceof RegExp)
  .map((t) => t.test as RegExp);

function toYaml(value: unknown): string {
  // As calicoctl (JSON maps through Go's YAML 1.1 encoder): keys sorted at every level, list
  // items not indented, and strings a YAML 1.1 reader would take for something else
  // (timestamps, yes/no/on/off) quoted; and, beyond calicoctl, those a 1.2 reader would.
  const doc = new YAML.Document(value, { version: '1.1', aliasDuplicateObjects: false, sortMapEntries: true });
  YAML.visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && CORE_NON_STRING.some((re) => re.test(node.value as string))) node.type = 'QUOTE_DOUBLE';
    },
  });
  return doc.toString({ lineWidth: 0, indentSeq: false });
}

export function formatResources(resources: readonly Resource[], format: OutputFormat, opts: FormatOptions = {}): string {
  const single = resources.length === 1 && !opts.list;
  switch (format) {
    case 'yaml':
      // As calicoctl (JSON maps through Go's YAML 1.1 encoder): keys sorted at every level, list
      // items not indented, and strings a YAML 1.1 reader would take for something else
      // (timestamps, yes/no/on/off) quoted.
      return toYaml(single ? resources[0] : toList(resources, opts));
    case 'json':
      return JSON.stringify(single ? resources[0] : toList(resources, opts), null, 2) + '\n';
    case 'name':
      return resources.map((r) => `${r.kind.toLowerCase()}/${r.metadata.name}\n`).join('');
    case 'table':
    case 'wide': {
      const byKind = new Map<Kind, Resource[]>();
      for (const r of resources) byKind.set(r.kind, [...(byKind.get(r.kind) ?? []), r]);
      if (byKind.size === 0 && opts.kind !== undefined) return tableFor(opts.kind, [], format === 'wide', !!opts.allNamespaces);
      return [...byKind.entries()].map(([k, rs]) => tableFor(k, rs, format === 'wide', !!opts.allNamespaces)).join('\n');
    }
  }
}

const PAST: Record<BatchOp, string> = { create: 'created', apply: 'applied', replace: 'replaced', delete: 'deleted' };

/**
 * calicoctl's summary line(s) for a batch: `Successfully created 1 'IPPool' resource(s)`, plus
 * `Skipped 1 'IPPool' resource(s) (already exists)` when documents were skipped.
 */
export function summarizeBatch(op: BatchOp, items: readonly BatchItem[]): string {
  const what = (xs: readonly BatchItem[]): string => {
    const kinds = new Set(xs.map((x) => x.kind));
    return kinds.size === 1 ? `${xs.length} '${[...kinds][0]}' resource(s)` : `${xs.length} resource(s)`;
  };
  const done = items.filter((i) => i.status !== 'skipped');
  const skipped = items.filter((i) => i.status === 'skipped');
  const lines: string[] = [];
  if (done.length > 0 || skipped.length === 0) lines.push(`Successfully ${PAST[op]} ${what(done)}`);
  if (skipped.length > 0) lines.push(`Skipped ${what(skipped)} (${op === 'delete' ? 'not found' : 'already exists'})`);
  return lines.join('\n') + '\n';
}
