/**
 * IP addresses and CIDRs as bigint, for validation and block arithmetic (IPAM, routes, sets).
 * Pure: no I/O. IPv4 is 32-bit, IPv6 128-bit; textual forms follow RFC 4291 §2.2 on input and
 * RFC 5952 (canonical, lowercase, longest zero run compressed) on output.
 */

export type IPVersion = 4 | 6;

export interface IPAddr {
  readonly version: IPVersion;
  readonly value: bigint;
}

export interface CIDR {
  readonly version: IPVersion;
  /** Network address (host bits zero when produced by `parseCIDR(.., {strict:false})` + `network`). */
  readonly addr: bigint;
  readonly prefix: number;
}

export function bits(v: IPVersion): number {
  return v === 4 ? 32 : 128;
}

function parseV4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    // No leading zeros (ambiguous octal in some tools), no signs, 0-255.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | undefined {
  if (s.length === 0 || s.length > 45) return undefined;
  let tail4: bigint | undefined;
  let text = s;
  // Embedded IPv4 in the last 32 bits (RFC 4291 §2.2 form 3).
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    tail4 = parseV4(text.slice(lastColon + 1));
    if (tail4 === undefined) return undefined;
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const dbl = text.indexOf('::');
  if (dbl !== -1 && text.indexOf('::', dbl + 1) !== -1) return undefined;
  const parseGroups = (g: string): number[] | undefined => {
    if (g === '') return [];
    const out: number[] = [];
    for (const h of g.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(h)) return undefined;
      out.push(parseInt(h, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl !== -1) {
    const head = parseGroups(text.slice(0, dbl));
    const tail = parseGroups(text.slice(dbl + 2));
    if (!head || !tail) return undefined;
    const fill = 8 - head.length - tail.length;
    if (fill < 1) return undefined;
    groups = [...head, ...new Array<number>(fill).fill(0), ...tail];
  } else {
    const g = parseGroups(text);
    if (!g || g.length !== 8) return undefined;
    groups = g;
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  if (tail4 !== undefined) v = (v & ~0xffffffffn) | tail4;
  return v;
}

/** Parses an IPv4 or IPv6 address; undefined when it is not one. */
export function parseIP(s: string): IPAddr | undefined {
  if (typeof s !== 'string') return undefined;
  if (s.includes(':')) {
    const v = parseV6(s);
    return v === undefined ? undefined : { version: 6, value: v };
  }
  const v = parseV4(s);
  return v === undefined ? undefined : { version: 4, value: v };
}

export function isIP(s: string): boolean {
  return parseIP(s) !== undefined;
}

export function mask(version: IPVersion, prefix: number): bigint {
  const b = bits(version);
  return ((1n << BigInt(b)) - 1n) ^ ((1n << BigInt(b - prefix)) - 1n);
}

/**
 * Parses `addr/prefix`. With `strict`, host bits must be zero (as Calico requires for pool CIDRs);
 * otherwise they are masked off. A bare address is accepted when `allowBare` (becomes /32 or /128).
 */
export function parseCIDR(s: string, opts: { strict?: boolean; allowBare?: boolean } = {}): CIDR | undefined {
  if (typeof s !== 'string') return undefined;
  const slash = s.indexOf('/');
  if (slash === -1) {
    if (!opts.allowBare) return undefined;
    const ip = parseIP(s);
    return ip ? { version: ip.version, addr: ip.value, prefix: bits(ip.version) } : undefined;
  }
  const ip = parseIP(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
  const prefix = Number(p);
  if (prefix > bits(ip.version)) return undefined;
  const m = mask(ip.version, prefix);
  if (opts.strict && (ip.value & ~m & (bits(ip.version) === 32 ? 0xffffffffn : (1n << 128n) - 1n)) !== 0n) return undefined;
  return { version: ip.version, addr: ip.value & m, prefix };
}

export function formatIP(version: IPVersion, v: bigint): string {
  if (version === 4) {
    return [24n, 16n, 8n, 0n].map((s) => ((v >> s) & 0xffn).toString()).join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952 §4.2: compress the longest run (≥2) of zero groups, the first one on ties.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLen).join(':');
  return `${head}::${tail}`;
}

export function formatCIDR(c: CIDR): string {
  return `${formatIP(c.version, c.addr)}/${c.prefix}`;
}

/** Canonical text of an address (e.g. `2001:DB8::0:1` → `2001:db8::1`); undefined if invalid. */
export function canonicalIP(s: string): string | undefined {
  const ip = parseIP(s);
  return ip ? formatIP(ip.version, ip.value) : undefined;
}

/** Canonical text of a CIDR with host bits masked; undefined if invalid. */
export function canonicalCIDR(s: string, opts: { allowBare?: boolean } = {}): string | undefined {
  const c = parseCIDR(s, { allowBare: opts.allowBare });
  return c ? formatCIDR(c) : undefined;
}

export function cidrSize(c: CIDR): bigint {
  return 1n << BigInt(bits(c.version) - c.prefix);
}

export function cidrContainsIP(c: CIDR, ip: IPAddr): boolean {
  return c.version === ip.version && (ip.value & mask(c.version, c.prefix)) === c.addr;
}

/** True when `inner` lies entirely inside `outer`. */
export function cidrContains(outer: CIDR, inner: CIDR): boolean {
  return outer.version === inner.version && inner.prefix >= outer.prefix &&
    (inner.addr & mask(outer.version, outer.prefix)) === outer.addr;
}

export function cidrOverlaps(a: CIDR, b: CIDR): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

/** The last address of the CIDR. */
export function cidrLast(c: CIDR): bigint {
  return c.addr + cidrSize(c) - 1n;
}
