/**
 * Resource names as Calico validates and derives them (libcalico-go `lib/validator/v3`,
 * `lib/names`, `lib/upgrade/converters/names.go`). Pure: no I/O.
 */
import { createHash } from 'node:crypto';
import { parseCIDR, formatCIDR, parseIP } from '../lib/ip.ts';

const LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const SUBDOMAIN_RE = new RegExp(`^${LABEL}(\\.${LABEL})*$`);
const LABEL_RE = new RegExp(`^${LABEL}$`);

/** Max length of a DNS-1123 subdomain (RFC 1123 §2.1 as used by Kubernetes). */
export const MAX_NAME_LENGTH = 253;
/** Max length of a DNS-1123 label. */
export const MAX_LABEL_LENGTH = 63;

/** undefined when `name` is a DNS-1123 subdomain (lower-case, ≤253), else the reason. */
export function checkSubdomainName(name: string): string | undefined {
  if (name.length === 0) return 'name must not be empty';
  if (name.length > MAX_NAME_LENGTH) return `name is longer than ${MAX_NAME_LENGTH} characters`;
  if (!SUBDOMAIN_RE.test(name)) {
    return `${JSON.stringify(name)} is not a valid name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

/** undefined when `name` is a DNS-1123 label (no dots, ≤63), else the reason. */
export function checkLabelName(name: string): string | undefined {
  if (name.length === 0) return 'name must not be empty';
  if (name.length > MAX_LABEL_LENGTH) return `name is longer than ${MAX_LABEL_LENGTH} characters`;
  if (!LABEL_RE.test(name)) {
    return `${JSON.stringify(name)} is not a valid name: lower-case letters, digits and '-', starting and ending with a letter or digit`;
  }
  return undefined;
}

/**
 * Policy names (NetworkPolicy, GlobalNetworkPolicy) are stricter: an optional `<tier>.` prefix
 * followed by a DNS-1123 label; the prefix must be the policy's tier. A `default.` prefix is
 * optional for the default tier; policies of any other tier must carry their tier's prefix.
 * `knp.default.` is reserved for Kubernetes NetworkPolicies, as in Calico. Without `tier` only
 * the syntax is checked.
 */
export function checkPolicyName(name: string, tier?: string): string | undefined {
  if (name.length === 0) return 'name must not be empty';
  if (name.length > MAX_NAME_LENGTH) return `name is longer than ${MAX_NAME_LENGTH} characters`;
  if (name.startsWith('knp.default.') || name.startsWith('kanp.') || name.startsWith('kbanp.')) {
    return `name ${JSON.stringify(name)} uses a prefix reserved for Kubernetes policies`;
  }
  const dot = name.indexOf('.');
  let base = name;
  if (dot !== -1) {
    const prefix = name.slice(0, dot);
    base = name.slice(dot + 1);
    if (tier !== undefined && prefix !== tier) {
      return `name ${JSON.stringify(name)} has prefix ${JSON.stringify(prefix + '.')} but the policy is in tier ${JSON.stringify(tier)}`;
    }
  } else if (tier !== undefined && tier !== 'default') {
    return `name of a policy in tier ${JSON.stringify(tier)} must start with "${tier}."`;
  }
  if (!LABEL_RE.test(base)) {
    return `${JSON.stringify(name)} is not a valid policy name: [<tier>.]<name> where <name> has lower-case letters, digits and '-', starting and ending with a letter or digit`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Derived names

/** `192.0.2.0/24` → `192-0-2-0-24`, `2001:db8::/64` → `2001-db8---64` (names.CIDRToName). */
export function cidrToName(cidr: string): string {
  const c = parseCIDR(cidr);
  const text = c ? formatCIDR(c) : cidr;
  return text.replace(/[.:/]/g, '-');
}

/**
 * v1 IP → name: IPv4 dots to dashes; IPv6 fully expanded 4-hex groups joined by dashes
 * (converters `convertIpToName`).
 */
export function ipToName(ip: string): string {
  const a = parseIP(ip);
  if (a === undefined) return ip;
  if (a.version === 4) return ip.replace(/\./g, '-');
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((a.value >> BigInt(i * 16)) & 0xffffn).toString(16).padStart(4, '0'));
  return groups.join('-');
}

/**
 * Calico's name normalisation (converters `normalizeName`): lower-case, `/` → `.`, runs of other
 * characters outside `[-.a-z0-9]` → `-`, any `[.-]` run containing a dot → `.`, trim `.`/`-`.
 */
export function normalizeName(name: string): string {
  let n = name.toLowerCase().replace(/\//g, '.');
  n = n.replace(/[^-.a-z0-9]+/g, '-');
  n = n.replace(/[.-]*\.[.-]*/g, '.');
  return n.replace(/^[.-]+/, '').replace(/[.-]+$/, '');
}

function qualified(orig: string, final: string): string {
  if (orig === final) return orig;
  // An 8-hex-digit sha1 of the original keeps distinct v1 names distinct after normalisation.
  const h = createHash('sha1').update(orig).digest('hex').slice(0, 8);
  return `${final}-${h}`;
}

/** Normalised name plus a sha1 qualifier when normalisation changed it (converters `convertName`). */
export function convertName(v1Name: string): string {
  return qualified(v1Name, normalizeName(v1Name));
}

/** As convertName but dots become dashes too (converters `convertNameNoDots`, used for policies). */
export function convertNameNoDots(v1Name: string): string {
  return qualified(v1Name, normalizeName(v1Name).replace(/\./g, '-'));
}

/** v1 profile names: `k8s_ns.<ns>` → `kns.<ns>`, then convertName. */
export function convertProfileName(v1Name: string): string {
  if (v1Name.startsWith('k8s_ns.')) return convertName('kns.' + v1Name.slice('k8s_ns.'.length));
  return convertName(v1Name);
}

// ---------------------------------------------------------------------------------------------
// WorkloadEndpoint names (libcalico-go lib/names/workloadendpoint.go)

/** The identifiers a WorkloadEndpoint name is built from. */
export interface WorkloadEndpointIdentifiers {
  node: string;
  orchestrator: string;
  endpoint: string;
  /** Generic orchestrators (and `libnetwork`, where it is always `libnetwork`). */
  workload?: string;
  /** `k8s` orchestrator. */
  pod?: string;
  /** `cni` orchestrator. */
  containerID?: string;
}

/** Each segment has `-` doubled so the single `-` separators stay unambiguous. */
function esc(s: string): string {
  return s.replace(/-/g, '--');
}

/**
 * Builds a WorkloadEndpoint name:
 * - k8s: `<node>-k8s-<pod>-<endpoint>`
 * - cni: `<node>-cni-<containerID>-<endpoint>`
 * - libnetwork: `<node>-libnetwork-libnetwork-<endpoint>`
 * - otherwise `<node>-<orchestrator>-<workload>-<endpoint>`
 * Each segment has `-` escaped as `--`. Throws RangeError when an identifier it needs is missing.
 */
export function workloadEndpointName(ids: WorkloadEndpointIdentifiers): string {
  const need = (what: string, v: string | undefined): string => {
    if (v === undefined || v === '') throw new RangeError(`workload endpoint ${what} is required to build its name`);
    return v;
  };
  const node = need('node', ids.node);
  const orch = need('orchestrator', ids.orchestrator);
  const ep = need('endpoint', ids.endpoint);
  let middle: string;
  switch (orch) {
    case 'k8s':
      middle = need('pod', ids.pod);
      break;
    case 'cni':
      middle = need('containerID', ids.containerID);
      break;
    case 'libnetwork':
      middle = 'libnetwork';
      break;
    default:
      middle = need('workload', ids.workload);
  }
  return [node, orch, middle, ep].map(esc).join('-');
}
