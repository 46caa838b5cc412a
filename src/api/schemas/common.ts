/**
 * Building blocks shared by the kind schemas: addresses, selectors, AS numbers, ports, protocols,
 * labels, durations and object metadata. Values are canonicalised on the way in (CIDRs and IPs in
 * RFC 5952 form, numeric port strings as numbers, dotted AS numbers as integers) and every
 * transform is idempotent, so validated output validates again to itself.
 */
import { z } from 'zod';
import { canonicalIP, formatCIDR, formatIP, mask, parseCIDR, parseIP, type IPVersion } from '../../lib/ip.ts';
import { parseSelector, validateSelector, type SelectorNode } from '../../selector/index.ts';
import { checkSubdomainName } from '../names.ts';

export const q = (v: unknown): string => {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
};

type Ctx = z.RefinementCtx;

/** Adds a custom issue at `path` (relative to the value being checked). */
export function issue(ctx: Ctx, path: PropertyKey[], message: string): void {
  ctx.addIssue({ code: 'custom', path: path as (string | number)[], message });
}

// ---------------------------------------------------------------------------------------------
// Addresses

/**
 * A CIDR. `strict`: host bits must be zero (pool CIDRs); otherwise host bits are masked off.
 * `allowBare`: a bare address is accepted as /32 or /128. Output is canonical (`2001:DB8::/32` →
 * `2001:db8::/32`).
 */
export function cidr(opts: { strict?: boolean; allowBare?: boolean; version?: IPVersion } = {}) {
  return z.string().transform((v, ctx) => {
    const c = parseCIDR(v.trim(), { allowBare: opts.allowBare });
    if (c === undefined) {
      issue(ctx, [], `${q(v)} is not a ${opts.allowBare ? 'CIDR or IP address' : 'CIDR'}`);
      return z.NEVER;
    }
    if (opts.version !== undefined && c.version !== opts.version) {
      issue(ctx, [], `${q(v)} is not an IPv${opts.version} CIDR`);
      return z.NEVER;
    }
    if (opts.strict) {
      const ip = parseIP(v.trim().split('/')[0]);
      if (ip !== undefined && (ip.value & ~mask(c.version, c.prefix) & ((1n << BigInt(c.version === 4 ? 32 : 128)) - 1n)) !== 0n) {
        issue(ctx, [], `${q(v)} has host bits set; did you mean ${q(formatCIDR(c))}?`);
        return z.NEVER;
      }
    }
    return formatCIDR(c);
  });
}

/** An IP address (canonical text out). */
export function ipAddr(version?: IPVersion) {
  return z.string().transform((v, ctx) => {
    const a = parseIP(v.trim());
    if (a === undefined || (version !== undefined && a.version !== version)) {
      issue(ctx, [], `${q(v)} is not an IPv${version ?? '4 or IPv6'} address`);
      return z.NEVER;
    }
    return canonicalIP(v.trim()) as string;
  });
}

/** `addr/prefix` keeping the host part (Node BGP addresses); a bare address gets /32 or /128. */
export function ipWithPrefix(version: IPVersion) {
  return z.string().transform((v, ctx) => {
    const s = v.trim();
    const [addr, len, extra] = s.split('/');
    const a = parseIP(addr);
    const max = version === 4 ? 32 : 128;
    const prefix = len === undefined ? max : /^(0|[1-9][0-9]{0,2})$/.test(len) ? Number(len) : NaN;
    if (a === undefined || a.version !== version || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
      issue(ctx, [], `${q(v)} is not an IPv${version} address with optional /prefix`);
      return z.NEVER;
    }
    return `${formatIP(a.version, a.value)}/${prefix}`;
  });
}

/** A MAC address, canonical lower-case colon form. */
export const macAddr = z.string().transform((v, ctx) => {
  if (!/^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/.test(v.trim())) {
    issue(ctx, [], `${q(v)} is not a MAC address`);
    return z.NEVER;
  }
  return v.trim().toLowerCase().replace(/-/g, ':');
});

// ---------------------------------------------------------------------------------------------
// Selectors

function hasGlobal(n: SelectorNode): boolean {
  switch (n.kind) {
    case 'global':
      return true;
    case 'not':
      return hasGlobal(n.operand);
    case 'and':
    case 'or':
      return n.operands.some(hasGlobal);
    default:
      return false;
  }
}

/**
 * A selector expression (calico-notes §8), validated with the selector parser; the text is kept
 * as written (Calico stores it verbatim). `global()` only where `allowGlobal` (EntityRule
 * namespaceSelector).
 */
export function selector(opts: { allowGlobal?: boolean } = {}) {
  return z.string().superRefine((v, ctx) => {
    const err = validateSelector(v);
    if (err !== undefined) {
      issue(ctx, [], `${q(v)} is not a valid selector: ${err}`);
      return;
    }
    if (!opts.allowGlobal && hasGlobal(parseSelector(v).ast)) {
      issue(ctx, [], `global() is only allowed in a rule's namespaceSelector`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Numbers

/**
 * AS number 1..4294967295, as an integer or in "asdot" form `a.b` (RFC 5396 §1: a*65536+b);
 * output is always the integer.
 */
export const asNumber = z.union([z.number(), z.string()]).transform((v, ctx) => {
  let n: number;
  if (typeof v === 'number') {
    n = v;
  } else {
    const s = v.trim();
    const m = /^(\d{1,5})\.(\d{1,5})$/.exec(s);
    if (m !== null && Number(m[1]) <= 65535 && Number(m[2]) <= 65535) n = Number(m[1]) * 65536 + Number(m[2]);
    else if (/^\d{1,10}$/.test(s)) n = Number(s);
    else n = NaN;
  }
  if (!Number.isInteger(n) || n < 1 || n > 4294967295) {
    issue(ctx, [], `${q(v)} is not an AS number (1..4294967295, or a.b with a, b ≤ 65535)`);
    return z.NEVER;
  }
  return n;
});

export const int = (min: number, max: number) => z.number().int().min(min).max(max);
export const port = int(1, 65535);

/** Go duration (`90s`, `1m30s`, `250ms`) or `0`, as Kubernetes metav1.Duration accepts. */
export const duration = z.string().superRefine((v, ctx) => {
  if (!/^(0|-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)$/.test(v)) issue(ctx, [], `${q(v)} is not a duration (e.g. 90s, 1m30s, 250ms)`);
});

// ---------------------------------------------------------------------------------------------
// Protocols and ports (calico-notes §9)

export const PROTOCOL_NAMES = ['TCP', 'UDP', 'ICMP', 'ICMPv6', 'SCTP', 'UDPLite'] as const;

/** Protocol name or number 1..255 (a numeric string becomes a number). */
export const protocol = z.union([z.number(), z.string()]).transform((v, ctx): string | number => {
  if (typeof v === 'number' || /^\d+$/.test(v)) {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 255) {
      issue(ctx, [], `${q(v)} is not a protocol number (1..255)`);
      return z.NEVER;
    }
    return n;
  }
  if ((PROTOCOL_NAMES as readonly string[]).includes(v)) return v;
  const fixed = PROTOCOL_NAMES.find((p) => p.toLowerCase() === v.toLowerCase());
  issue(ctx, [], `${q(v)} is not a protocol: ${fixed ? `did you mean ${q(fixed)}?` : `use ${PROTOCOL_NAMES.join(', ')} or 1..255`}`);
  return z.NEVER;
});

/** True when the protocol allows ports (TCP, UDP, SCTP by name or number). */
export function protocolHasPorts(p: string | number | undefined): boolean {
  return p === 'TCP' || p === 'UDP' || p === 'SCTP' || p === 6 || p === 17 || p === 132;
}

const NAMED_PORT_RE = /^[a-zA-Z0-9_.-]{1,128}$/;

/** A rule port: 0..65535, a range `"a:b"` (a ≤ b), or a named port. Numeric strings become numbers. */
export const rulePort = z.union([z.number(), z.string()]).transform((v, ctx): number | string => {
  const bad = (why: string): never => {
    issue(ctx, [], `${q(v)} is not a port: ${why}`);
    return z.NEVER;
  };
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > 65535) return bad('must be 0..65535');
    return v;
  }
  const s = v.trim();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    return n <= 65535 ? n : bad('must be 0..65535');
  }
  const m = /^(\d+):(\d+)$/.exec(s);
  if (m !== null) {
    const a = Number(m[1]);
    const b = Number(m[2]);
    if (a > 65535 || b > 65535) return bad('must be 0..65535');
    if (a > b) return bad('range start is greater than its end');
    return a === b ? a : `${a}:${b}`;
  }
  if (NAMED_PORT_RE.test(s) && !/^\d/.test(s)) return s;
  return bad('use a number, a range "min:max" or a port name');
});

// ---------------------------------------------------------------------------------------------
// Labels, annotations

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** Kubernetes label key: `[prefix/]name`, prefix a DNS subdomain ≤253, name ≤63. */
export function checkLabelKey(k: string): string | undefined {
  const slash = k.lastIndexOf('/');
  const prefix = slash === -1 ? undefined : k.slice(0, slash);
  const name = slash === -1 ? k : k.slice(slash + 1);
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(prefix))) {
    return `label key ${q(k)} has an invalid prefix (a lower-case DNS subdomain)`;
  }
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    return `label key ${q(k)} is invalid: up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

export function checkLabelValue(v: string): string | undefined {
  if (v === '') return undefined;
  if (v.length > 63 || !QUALIFIED_NAME.test(v)) {
    return `label value ${q(v)} is invalid: up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

/** Labels map with Kubernetes key/value rules (Calico validates labels the same way). */
export const labels = z.record(z.string(), z.string()).superRefine((m, ctx) => {
  for (const [k, v] of Object.entries(m)) {
    const e = checkLabelKey(k) ?? checkLabelValue(v);
    if (e !== undefined) issue(ctx, [k], e);
  }
});

export const annotations = z.record(z.string(), z.string());

// ---------------------------------------------------------------------------------------------
// Metadata

const resourceVersion = z.union([z.string(), z.number().int().nonnegative().transform(String)]);

/** metadata.name checked with `check` (default: DNS-1123 subdomain, as Calico). */
export function nameField(check: (n: string) => string | undefined = checkSubdomainName) {
  return z.string().superRefine((v, ctx) => {
    const e = check(v);
    if (e !== undefined) issue(ctx, [], e);
  });
}

/** Kubernetes ObjectMeta fields Calico accepts (besides name and namespace). */
const metaShape = {
  generateName: z.string().optional(),
  labels: labels.optional(),
  annotations: annotations.optional(),
  resourceVersion: resourceVersion.optional(),
  creationTimestamp: z.string().nullable().optional(),
  uid: z.string().optional(),
  generation: z.number().int().optional(),
  selfLink: z.string().optional(),
  deletionTimestamp: z.string().nullable().optional(),
  deletionGracePeriodSeconds: z.number().int().optional(),
  finalizers: z.array(z.string()).optional(),
  ownerReferences: z.array(z.record(z.string(), z.unknown())).optional(),
  managedFields: z.array(z.unknown()).optional(),
};

/** Metadata of a cluster-scoped kind: a `namespace`, if present, must be empty (and is dropped). */
export function clusterMeta<N extends z.ZodType<string | undefined, string | undefined>>(name: N) {
  return z
    .strictObject({ name, ...metaShape, namespace: z.string().optional() })
    .superRefine((m, ctx) => {
      if (m.namespace !== undefined && m.namespace !== '') issue(ctx, ['namespace'], 'this kind is not namespaced; remove metadata.namespace');
    })
    .transform(({ namespace: _ns, ...rest }) => rest);
}

const namespaceField = z
  .string()
  .superRefine((v, ctx) => {
    if (v.length > 63 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v)) {
      issue(ctx, [], `${q(v)} is not a valid namespace: lower-case letters, digits and '-', at most 63`);
    }
  })
  .default('default');

/** Metadata of a namespaced kind: namespace defaults to `default`, a DNS-1123 label. */
export function namespacedMeta<N extends z.ZodType<string | undefined, string | undefined>>(name: N) {
  return z.strictObject({ name, namespace: namespaceField, ...metaShape });
}

/** The usual metadata: required DNS-1123 subdomain name. */
export const stdClusterMeta = clusterMeta(nameField());
export const stdNamespacedMeta = namespacedMeta(nameField());

/** `secretKeyRef` as used by BGP passwords. */
export const secretKeyRef = z.strictObject({
  secretKeyRef: z.strictObject({ name: z.string(), key: z.string(), optional: z.boolean().optional() }).optional(),
});

/** Interface name rules (Linux IFNAMSIZ-1 = 15). */
export const interfaceName = z.string().superRefine((v, ctx) => {
  if (!/^[a-zA-Z0-9_.@:-]{1,15}$/.test(v)) issue(ctx, [], `${q(v)} is not a valid interface name (1..15 of letters, digits, '_', '.', '-')`);
});
