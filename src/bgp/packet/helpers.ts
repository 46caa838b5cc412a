/**
 * Helpers above the raw codec: 2-/4-octet AS path conversion (RFC 6793 §4.2), End-of-RIB markers
 * (RFC 4724 §2), UPDATE packing under the 4096-byte limit, and capability lookup.
 */
import { Afi, AS_TRANS, AsPathSegmentType, Safi } from './constants.ts';
import { encodeMessage } from './messages.ts';
import type { AsPathSegment, Capability, CodecContext, OpenMessage, PathAttributes, Prefix, UpdateMessage } from './types.ts';

/** The peer's real AS: the 4-octet capability when present, else My AS (RFC 6793 §4.1). */
export function openAsn(m: OpenMessage): number {
  for (const c of m.capabilities) if (c.code === 65 && 'asn' in c) return c.asn;
  return m.myAs;
}

export function findCapability<C extends Capability['code']>(caps: Capability[], code: C): Extract<Capability, { code: C }> | undefined {
  return caps.find((c) => c.code === code && !('unknown' in c)) as Extract<Capability, { code: C }> | undefined;
}

export function asPathLength(path: AsPathSegment[] | undefined): number {
  let n = 0;
  // RFC 4271 §9.1.2.2 a: an AS_SET counts as 1; confederation segments do not count (RFC 5065 §5.3).
  for (const s of path ?? []) {
    if (s.type === AsPathSegmentType.AS_SEQUENCE) n += s.asns.length;
    else if (s.type === AsPathSegmentType.AS_SET) n += 1;
  }
  return n;
}

/**
 * True when `asn` occurs at least `min` times in the path, counting every segment type (AS_SET
 * members too). `min` > 1 is the loop check loosened by BIRD's `allow local as N` / FRR's
 * `allowas-in N` (min = N + 1); BIRD's as_path_contains(path, as, min) counts the same way.
 */
export function asPathContains(path: AsPathSegment[] | undefined, asn: number, min = 1): boolean {
  let n = 0;
  for (const s of path ?? []) {
    for (const a of s.asns) if (a === asn && ++n >= min) return true;
  }
  return false;
}

/** The neighbouring AS a route came from: first AS of the leftmost AS_SEQUENCE (for MED comparison). */
export function firstAs(path: AsPathSegment[] | undefined): number | undefined {
  const s = path?.[0];
  return s && s.type === AsPathSegmentType.AS_SEQUENCE ? s.asns[0] : undefined;
}

export function prependAs(path: AsPathSegment[] | undefined, asn: number): AsPathSegment[] {
  const p = path ?? [];
  if (p.length > 0 && p[0].type === AsPathSegmentType.AS_SEQUENCE && p[0].asns.length < 255) {
    return [{ type: 2, asns: [asn, ...p[0].asns] }, ...p.slice(1)];
  }
  return [{ type: 2, asns: [asn] }, ...p];
}

function needs4(path: AsPathSegment[] | undefined): boolean {
  return (path ?? []).some((s) => s.asns.some((a) => a > 0xffff));
}

/**
 * Prepares attributes for a peer without the 4-octet capability (RFC 6793 §4.2.2): AS_PATH and
 * AGGREGATOR get AS_TRANS for large ASes and the real values go in AS4_PATH / AS4_AGGREGATOR.
 */
export function toTwoOctet(a: PathAttributes): PathAttributes {
  const out: PathAttributes = { ...a };
  delete out.as4Path;
  delete out.as4Aggregator;
  if (a.asPath && needs4(a.asPath)) {
    out.asPath = a.asPath.map((s) => ({ type: s.type, asns: s.asns.map((x) => (x > 0xffff ? AS_TRANS : x)) }));
    // Confederation segments are not carried in AS4_PATH (RFC 6793 §3).
    out.as4Path = a.asPath.filter((s) => s.type === 1 || s.type === 2);
  }
  if (a.aggregator && a.aggregator.asn > 0xffff) {
    out.aggregator = { asn: AS_TRANS, address: a.aggregator.address };
    out.as4Aggregator = a.aggregator;
  }
  return out;
}

/**
 * Reconstructs the real AS path from a 2-octet speaker's AS_PATH + AS4_PATH (RFC 6793 §4.2.3):
 * if AS4_PATH is longer than AS_PATH it is ignored; otherwise the leading (len(AS_PATH) −
 * len(AS4_PATH)) ASes of AS_PATH are kept and AS4_PATH appended.
 */
export function fromTwoOctet(a: PathAttributes): PathAttributes {
  if (!a.as4Path && !a.as4Aggregator) return a;
  const out: PathAttributes = { ...a };
  delete out.as4Path;
  delete out.as4Aggregator;
  if (a.aggregator && a.as4Aggregator) {
    // §4.2.3: AS4_AGGREGATOR only counts when AGGREGATOR carries AS_TRANS; otherwise ignore both AS4 attrs.
    if (a.aggregator.asn !== AS_TRANS) return out;
    out.aggregator = a.as4Aggregator;
  }
  if (a.asPath && a.as4Path) {
    const n = asPathLength(a.asPath);
    const n4 = asPathLength(a.as4Path);
    if (n4 <= n) {
      let keep = n - n4;
      const head: AsPathSegment[] = [];
      for (const s of a.asPath) {
        if (keep <= 0) break;
        if (s.type === AsPathSegmentType.AS_SEQUENCE) {
          const take = s.asns.slice(0, keep);
          head.push({ type: 2, asns: take });
          keep -= take.length;
        } else if (s.type === AsPathSegmentType.AS_SET) {
          head.push(s);
          keep -= 1;
        } else head.push(s);
      }
      out.asPath = [...head, ...a.as4Path];
    }
  }
  return out;
}

/** RFC 4724 §2: End-of-RIB is an empty UPDATE (IPv4 unicast) or one with an empty MP_UNREACH_NLRI. */
export function endOfRib(afi: number, safi: number): UpdateMessage {
  if (afi === Afi.IPV4 && safi === Safi.UNICAST) return { type: 'update', withdrawn: [], attributes: {}, nlri: [] };
  return { type: 'update', withdrawn: [], attributes: { mpUnreach: { afi, safi, withdrawn: [] } }, nlri: [] };
}

export function isEndOfRib(m: UpdateMessage): { afi: number; safi: number } | undefined {
  if (m.withdrawn.length || m.nlri.length) return undefined;
  const keys = Object.keys(m.attributes);
  if (keys.length === 0) return { afi: 1, safi: 1 };
  const u = m.attributes.mpUnreach;
  if (keys.length === 1 && u && u.withdrawn.length === 0) return { afi: u.afi, safi: u.safi };
  return undefined;
}

function prefixWireLen(p: Prefix): number {
  const slash = p.lastIndexOf('/');
  return 1 + ((Number(p.slice(slash + 1)) + 7) >> 3);
}

const MAX = 4096;

/**
 * Encodes announcements of `prefixes` (one family) with shared attributes into as few UPDATEs as
 * fit in 4096 bytes. For IPv6 the NLRI go into MP_REACH_NLRI with `nextHop6` (RFC 4760).
 */
export function packAnnouncements(
  prefixes: Prefix[], attrs: PathAttributes, afi: number, ctx: CodecContext, nextHops6?: string[],
): Uint8Array[] {
  const out: Uint8Array[] = [];
  const base = afi === Afi.IPV4 ? attrs : { ...attrs, nextHop: undefined };
  if (afi !== Afi.IPV4) delete base.nextHop;
  const empty = afi === Afi.IPV4
    ? encodeMessage({ type: 'update', withdrawn: [], attributes: base, nlri: [] }, ctx).length
    : encodeMessage({ type: 'update', withdrawn: [], attributes: { ...base, mpReach: { afi, safi: 1, nextHops: nextHops6 ?? [], nlri: [] } }, nlri: [] }, ctx).length;
  // MP_REACH may switch to the extended length form (+1 byte) once it exceeds 255 bytes.
  const room = MAX - empty - 1;
  let i = 0;
  while (i < prefixes.length) {
    let used = 0;
    const start = i;
    while (i < prefixes.length && used + prefixWireLen(prefixes[i]) <= room) used += prefixWireLen(prefixes[i++]);
    if (i === start) throw new RangeError('attributes leave no room for NLRI');
    const batch = prefixes.slice(start, i);
    const m: UpdateMessage = afi === Afi.IPV4
      ? { type: 'update', withdrawn: [], attributes: base, nlri: batch }
      : { type: 'update', withdrawn: [], attributes: { ...base, mpReach: { afi, safi: 1, nextHops: nextHops6 ?? [], nlri: batch } }, nlri: [] };
    out.push(encodeMessage(m, ctx));
  }
  return out;
}

/** Encodes withdrawals of `prefixes` (one family) into as few UPDATEs as fit. */
export function packWithdrawals(prefixes: Prefix[], afi: number, ctx: CodecContext): Uint8Array[] {
  const out: Uint8Array[] = [];
  const room = MAX - 40;
  let i = 0;
  while (i < prefixes.length) {
    let used = 0;
    const start = i;
    while (i < prefixes.length && used + prefixWireLen(prefixes[i]) <= room) used += prefixWireLen(prefixes[i++]);
    const batch = prefixes.slice(start, i);
    const m: UpdateMessage = afi === Afi.IPV4
      ? { type: 'update', withdrawn: batch, attributes: {}, nlri: [] }
      : { type: 'update', withdrawn: [], attributes: { mpUnreach: { afi, safi: 1, withdrawn: batch } }, nlri: [] };
    out.push(encodeMessage(m, ctx));
  }
  return out;
}
