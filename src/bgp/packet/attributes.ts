/**
 * Path attributes (RFC 4271 §4.3, §5; RFC 1997; RFC 4456; RFC 4760; RFC 6793) with the RFC 7606
 * revised error handling: each malformed attribute yields a BgpMessageError whose `handling` says
 * whether to drop the attribute, treat the UPDATE as a withdrawal, or reset the session.
 */
import { Afi, AttrFlag, AttrType, Safi, UpdateSubcode } from './constants.ts';
import { BgpMessageError, updateError } from './errors.ts';
import { addressBytes, decodePrefixes, encodePrefix, formatV4, formatV6 } from './prefix.ts';
import { Writer, u16, u32 } from './writer.ts';
import type { AsPathSegment, CodecContext, MpReach, MpUnreach, PathAttributes, UnknownAttribute } from './types.ts';

const WELL_KNOWN = AttrFlag.TRANSITIVE;
const OPT_NON_TRANSITIVE = AttrFlag.OPTIONAL;
const OPT_TRANSITIVE = AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE;

/** Expected Optional/Transitive bits per known attribute (RFC 4271 §5 and each attribute's RFC). */
const expectedFlags: Readonly<Record<number, number>> = {
  [AttrType.ORIGIN]: WELL_KNOWN,
  [AttrType.AS_PATH]: WELL_KNOWN,
  [AttrType.NEXT_HOP]: WELL_KNOWN,
  [AttrType.MULTI_EXIT_DISC]: OPT_NON_TRANSITIVE,
  [AttrType.LOCAL_PREF]: WELL_KNOWN,
  [AttrType.ATOMIC_AGGREGATE]: WELL_KNOWN,
  [AttrType.AGGREGATOR]: OPT_TRANSITIVE,
  [AttrType.COMMUNITIES]: OPT_TRANSITIVE,
  [AttrType.ORIGINATOR_ID]: OPT_NON_TRANSITIVE,
  [AttrType.CLUSTER_LIST]: OPT_NON_TRANSITIVE,
  [AttrType.MP_REACH_NLRI]: OPT_NON_TRANSITIVE,
  [AttrType.MP_UNREACH_NLRI]: OPT_NON_TRANSITIVE,
  [AttrType.AS4_PATH]: OPT_TRANSITIVE,
  [AttrType.AS4_AGGREGATOR]: OPT_TRANSITIVE,
};

export function isKnownAttribute(type: number): boolean {
  return expectedFlags[type] !== undefined;
}

// ---------------------------------------------------------------- encode

function attrHeader(w: Writer, flags: number, type: number, len: number): void {
  if (len > 255) {
    w.u8(flags | AttrFlag.EXTENDED_LENGTH);
    w.u8(type);
    w.u16(len);
  } else {
    w.u8(flags & ~AttrFlag.EXTENDED_LENGTH);
    w.u8(type);
    w.u8(len);
  }
}

function put(w: Writer, flags: number, type: number, body: (v: Writer) => void): void {
  const v = new Writer(64);
  body(v);
  if (v.pos > 0xffff) throw new RangeError(`attribute ${type} too long (${v.pos} bytes)`);
  attrHeader(w, flags, type, v.pos);
  w.bytes(v.buf.subarray(0, v.pos));
}

function putAsPath(v: Writer, segs: AsPathSegment[], four: boolean): void {
  for (const s of segs) {
    // RFC 4271 §4.3: a segment holds at most 255 ASes; longer runs are split.
    for (let i = 0; i < s.asns.length; i += 255) {
      const chunk = s.asns.slice(i, i + 255);
      v.u8(s.type);
      v.u8(chunk.length);
      for (const a of chunk) {
        if (four) v.u32(a);
        else v.u16(a);
      }
    }
  }
}

function putMpReach(v: Writer, m: MpReach): void {
  v.u16(m.afi);
  v.u8(m.safi);
  const nh = m.nextHops.map(addressBytes);
  v.u8(nh.reduce((n, b) => n + b.length, 0));
  for (const b of nh) v.bytes(b);
  v.u8(0); // reserved (RFC 4760 §3)
  for (const p of m.nlri) encodePrefix(v, p, m.afi);
}

/** Encodes attributes in type-code order (RFC 4271 §5 recommends ascending order). */
export function encodeAttributes(w: Writer, a: PathAttributes, ctx: CodecContext): void {
  const four = ctx.fourOctetAs;
  if (a.origin !== undefined) put(w, WELL_KNOWN, AttrType.ORIGIN, (v) => v.u8(a.origin as number));
  if (a.asPath !== undefined) put(w, WELL_KNOWN, AttrType.AS_PATH, (v) => putAsPath(v, a.asPath as AsPathSegment[], four));
  if (a.nextHop !== undefined) put(w, WELL_KNOWN, AttrType.NEXT_HOP, (v) => v.bytes(addressBytes(a.nextHop as string)));
  if (a.med !== undefined) put(w, OPT_NON_TRANSITIVE, AttrType.MULTI_EXIT_DISC, (v) => v.u32(a.med as number));
  if (a.localPref !== undefined) put(w, WELL_KNOWN, AttrType.LOCAL_PREF, (v) => v.u32(a.localPref as number));
  if (a.atomicAggregate) put(w, WELL_KNOWN, AttrType.ATOMIC_AGGREGATE, () => undefined);
  if (a.aggregator !== undefined) {
    const g = a.aggregator;
    put(w, OPT_TRANSITIVE, AttrType.AGGREGATOR, (v) => {
      if (four) v.u32(g.asn);
      else v.u16(g.asn);
      v.bytes(addressBytes(g.address));
    });
  }
  if (a.communities !== undefined) {
    const c = a.communities;
    put(w, OPT_TRANSITIVE, AttrType.COMMUNITIES, (v) => { for (const x of c) v.u32(x); });
  }
  if (a.originatorId !== undefined) put(w, OPT_NON_TRANSITIVE, AttrType.ORIGINATOR_ID, (v) => v.bytes(addressBytes(a.originatorId as string)));
  if (a.clusterList !== undefined) {
    const c = a.clusterList;
    put(w, OPT_NON_TRANSITIVE, AttrType.CLUSTER_LIST, (v) => { for (const x of c) v.bytes(addressBytes(x)); });
  }
  if (a.mpReach !== undefined) put(w, OPT_NON_TRANSITIVE, AttrType.MP_REACH_NLRI, (v) => putMpReach(v, a.mpReach as MpReach));
  if (a.mpUnreach !== undefined) {
    const m = a.mpUnreach;
    put(w, OPT_NON_TRANSITIVE, AttrType.MP_UNREACH_NLRI, (v) => {
      v.u16(m.afi);
      v.u8(m.safi);
      for (const p of m.withdrawn) encodePrefix(v, p, m.afi);
    });
  }
  if (a.as4Path !== undefined) put(w, OPT_TRANSITIVE, AttrType.AS4_PATH, (v) => putAsPath(v, a.as4Path as AsPathSegment[], true));
  if (a.as4Aggregator !== undefined) {
    const g = a.as4Aggregator;
    put(w, OPT_TRANSITIVE, AttrType.AS4_AGGREGATOR, (v) => {
      v.u32(g.asn);
      v.bytes(addressBytes(g.address));
    });
  }
  for (const u of a.unknown ?? []) {
    if (u.value.length > 0xffff) throw new RangeError('unknown attribute too long');
    attrHeader(w, u.flags, u.type, u.value.length);
    w.bytes(u.value);
  }
}

// ---------------------------------------------------------------- decode

export interface DecodedAttributes {
  attributes: PathAttributes;
  /** Tolerated errors (attribute-discard, treat-as-withdraw), strongest kept in `worst`. */
  errors: BgpMessageError[];
  worst: BgpMessageError | undefined;
}

function decodeAsPath(b: Uint8Array, o: number, end: number, asLen: 2 | 4, type: number): AsPathSegment[] {
  const segs: AsPathSegment[] = [];
  while (o < end) {
    if (o + 2 > end) throw updateError(UpdateSubcode.MALFORMED_AS_PATH, 'truncated segment header', type);
    const st = b[o];
    const n = b[o + 1];
    o += 2;
    // RFC 7606 §7.2: unknown segment type, zero-length segment or overrun = malformed.
    if (st < 1 || st > 4) throw updateError(UpdateSubcode.MALFORMED_AS_PATH, `bad segment type ${st}`, type);
    if (n === 0) throw updateError(UpdateSubcode.MALFORMED_AS_PATH, 'empty segment', type);
    if (o + n * asLen > end) throw updateError(UpdateSubcode.MALFORMED_AS_PATH, 'segment overruns attribute', type);
    const asns: number[] = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      asns[i] = asLen === 4 ? u32(b, o) : u16(b, o);
      o += asLen;
    }
    segs.push({ type: st as 1 | 2 | 3 | 4, asns });
  }
  return segs;
}

function isSupportedFamily(afi: number, safi: number): boolean {
  return (afi === Afi.IPV4 || afi === Afi.IPV6) && safi === Safi.UNICAST;
}

function decodeNextHops(b: Uint8Array, o: number, len: number, afi: number): string[] | undefined {
  if (afi === Afi.IPV4 && len === 4) return [formatV4(b, o)];
  if (afi === Afi.IPV6 && len === 16) return [formatV6(b, o)];
  if (afi === Afi.IPV6 && len === 32) return [formatV6(b, o), formatV6(b, o + 16)];
  return undefined;
}

/**
 * Decodes the Path Attributes field `b[start, end)`. Throws BgpMessageError only for errors whose
 * handling is session-reset; weaker ones are returned so the caller can apply them.
 */
export function decodeAttributes(b: Uint8Array, start: number, end: number, ctx: CodecContext): DecodedAttributes {
  const a: PathAttributes = {};
  const errors: BgpMessageError[] = [];
  let worst: BgpMessageError | undefined;
  const seen = new Set<number>();
  const note = (e: BgpMessageError): void => {
    if (e.handling === 'session-reset') throw e;
    errors.push(e);
    if (e.stronger(worst)) worst = e;
  };
  let o = start;
  while (o < end) {
    // RFC 7606 §4: an attribute header or length overrunning the field cannot be parsed further;
    // the NLRI are still locatable (Total Path Attribute Length), so treat-as-withdraw.
    if (o + 3 > end) {
      note(updateError(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, 'truncated attribute header', undefined, undefined, 'treat-as-withdraw'));
      break;
    }
    const flags = b[o];
    const type = b[o + 1];
    const ext = (flags & AttrFlag.EXTENDED_LENGTH) !== 0;
    if (ext && o + 4 > end) {
      note(updateError(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, 'truncated attribute header', undefined, undefined, 'treat-as-withdraw'));
      break;
    }
    const len = ext ? u16(b, o + 2) : b[o + 2];
    const vo = o + (ext ? 4 : 3);
    const ve = vo + len;
    if (ve > end) {
      note(updateError(UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `attribute ${type} overruns attribute field`, undefined, b.slice(o, end), 'treat-as-withdraw'));
      break;
    }
    const raw = (): Uint8Array => b.slice(o, ve);
    o = ve;
    if (seen.has(type)) {
      // RFC 7606 §3g: duplicate MP_(UN)REACH is fatal, other duplicates are discarded.
      if (type === AttrType.MP_REACH_NLRI || type === AttrType.MP_UNREACH_NLRI) {
        throw updateError(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, `duplicate attribute ${type}`, type, undefined, 'session-reset');
      }
      note(updateError(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, `duplicate attribute ${type}`, type, undefined, 'attribute-discard'));
      continue;
    }
    seen.add(type);
    const want = expectedFlags[type];
    if (want === undefined) {
      // RFC 4271 §6.3: unrecognised well-known attribute is fatal; unknown optional ones are kept.
      if ((flags & AttrFlag.OPTIONAL) === 0) {
        throw updateError(UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE, `unknown well-known attribute ${type}`, type, raw(), 'session-reset');
      }
      const u: UnknownAttribute = { flags: flags & 0xe0, type, value: b.slice(vo, ve) };
      (a.unknown ??= []).push(u);
      continue;
    }
    const checkFlags = want === OPT_TRANSITIVE ? flags & 0xc0 : flags & 0xe0;
    if (checkFlags !== want) {
      note(updateError(UpdateSubcode.ATTRIBUTE_FLAGS_ERROR, `attribute ${type} flags 0x${flags.toString(16)}`, type, raw()));
      continue;
    }
    const lenErr = (what: string): BgpMessageError => updateError(UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `attribute ${type}: ${what}`, type, raw());
    try {
      switch (type) {
        case AttrType.ORIGIN:
          if (len !== 1) throw lenErr('length != 1');
          if (b[vo] > 2) throw updateError(UpdateSubcode.INVALID_ORIGIN_ATTRIBUTE, `origin ${b[vo]}`, type, raw());
          a.origin = b[vo];
          break;
        case AttrType.AS_PATH:
          a.asPath = decodeAsPath(b, vo, ve, ctx.fourOctetAs ? 4 : 2, type);
          break;
        case AttrType.NEXT_HOP:
          if (len !== 4) throw lenErr('length != 4');
          a.nextHop = formatV4(b, vo);
          break;
        case AttrType.MULTI_EXIT_DISC:
          if (len !== 4) throw lenErr('length != 4');
          a.med = u32(b, vo);
          break;
        case AttrType.LOCAL_PREF:
          if (len !== 4) throw lenErr('length != 4');
          a.localPref = u32(b, vo);
          break;
        case AttrType.ATOMIC_AGGREGATE:
          if (len !== 0) throw lenErr('length != 0');
          a.atomicAggregate = true;
          break;
        case AttrType.AGGREGATOR: {
          const asLen = ctx.fourOctetAs ? 4 : 2;
          if (len !== asLen + 4) throw lenErr(`length != ${asLen + 4}`);
          a.aggregator = { asn: asLen === 4 ? u32(b, vo) : u16(b, vo), address: formatV4(b, vo + asLen) };
          break;
        }
        case AttrType.COMMUNITIES: {
          if (len === 0 || len % 4 !== 0) throw lenErr('length not a positive multiple of 4');
          const c: number[] = [];
          for (let i = vo; i < ve; i += 4) c.push(u32(b, i));
          a.communities = c;
          break;
        }
        case AttrType.ORIGINATOR_ID:
          if (len !== 4) throw lenErr('length != 4');
          a.originatorId = formatV4(b, vo);
          break;
        case AttrType.CLUSTER_LIST: {
          if (len === 0 || len % 4 !== 0) throw lenErr('length not a positive multiple of 4');
          const c: string[] = [];
          for (let i = vo; i < ve; i += 4) c.push(formatV4(b, i));
          a.clusterList = c;
          break;
        }
        case AttrType.MP_REACH_NLRI: {
          if (len < 5) throw lenErr('shorter than 5');
          const afi = u16(b, vo);
          const safi = b[vo + 2];
          const nhLen = b[vo + 3];
          if (!isSupportedFamily(afi, safi)) {
            // RFC 4760 §7: a family we did not negotiate is ignored, not an error.
            (a.unknown ??= []).push({ flags: flags & 0xe0, type, value: b.slice(vo, ve) });
            break;
          }
          if (vo + 4 + nhLen + 1 > ve) throw updateError(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, 'next hop overruns MP_REACH_NLRI', type, raw());
          const nextHops = decodeNextHops(b, vo + 4, nhLen, afi);
          if (!nextHops) throw updateError(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `next hop length ${nhLen} for AFI ${afi}`, type, raw());
          const nlri = decodePrefixes(b, vo + 4 + nhLen + 1, ve, afi, type);
          a.mpReach = { afi, safi, nextHops, nlri };
          break;
        }
        case AttrType.MP_UNREACH_NLRI: {
          if (len < 3) throw lenErr('shorter than 3');
          const afi = u16(b, vo);
          const safi = b[vo + 2];
          if (!isSupportedFamily(afi, safi)) {
            (a.unknown ??= []).push({ flags: flags & 0xe0, type, value: b.slice(vo, ve) });
            break;
          }
          const m: MpUnreach = { afi, safi, withdrawn: decodePrefixes(b, vo + 3, ve, afi, type) };
          a.mpUnreach = m;
          break;
        }
        case AttrType.AS4_PATH:
          a.as4Path = decodeAsPath(b, vo, ve, 4, type);
          break;
        case AttrType.AS4_AGGREGATOR:
          if (len !== 8) throw lenErr('length != 8');
          a.as4Aggregator = { asn: u32(b, vo), address: formatV4(b, vo + 4) };
          break;
      }
    } catch (e) {
      if (e instanceof BgpMessageError) note(e);
      else throw e;
    }
  }
  return { attributes: a, errors, worst };
}
