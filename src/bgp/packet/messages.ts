/**
 * Message codec (RFC 4271 §4): `encodeMessage(msg, ctx)` → bytes with header, and
 * `decodeMessage(bytes, ctx)` for one whole message as produced by the framer. Pure: no I/O.
 * Every decode checks the declared lengths before reading; the only exception a decoder throws is
 * BgpMessageError.
 */
import {
  AttrType, BGP_HEADER_LEN, BGP_MAX_MESSAGE_LEN, CapabilityCode, ErrorCode, HeaderSubcode, MessageType, OpenSubcode,
  RouteRefreshSubcode, UpdateSubcode,
} from './constants.ts';
import { BgpMessageError, isBgpMessageError, updateError } from './errors.ts';
import { decodeAttributes, encodeAttributes } from './attributes.ts';
import { addressBytes, decodePrefixes, encodePrefix, formatV4 } from './prefix.ts';
import { Writer, u16, u32 } from './writer.ts';
import type {
  BgpMessage, Capability, CodecContext, NotificationMessage, OpenMessage, RouteRefreshMessage, UpdateMessage,
} from './types.ts';

const MARKER = new Uint8Array(16).fill(0xff);

function withHeader(type: number, body: (w: Writer) => void, size = 64): Uint8Array {
  const w = new Writer(size);
  w.bytes(MARKER);
  const lenAt = w.skip(2);
  w.u8(type);
  body(w);
  if (w.pos > BGP_MAX_MESSAGE_LEN) throw new RangeError(`message of ${w.pos} bytes exceeds ${BGP_MAX_MESSAGE_LEN}`);
  w.patch16(lenAt, w.pos);
  return w.result();
}

// ---------------------------------------------------------------- capabilities (RFC 5492)

function encodeCapability(w: Writer, c: Capability): void {
  w.u8(c.code);
  const lenAt = w.skip(1);
  const start = w.pos;
  if ('unknown' in c) w.bytes(c.value);
  else if (c.code === CapabilityCode.MULTIPROTOCOL) {
    w.u16(c.afi);
    w.u8(0);
    w.u8(c.safi);
  } else if (c.code === CapabilityCode.FOUR_OCTET_AS) w.u32(c.asn);
  else if (c.code === CapabilityCode.GRACEFUL_RESTART) {
    // RFC 4724 §3: R bit (0x8) + 12-bit restart time, then <AFI, SAFI, flags(F=0x80)>.
    w.u16(((c.restartState ? 0x8 : 0) << 12) | (c.restartTime & 0xfff));
    for (const f of c.families) {
      w.u16(f.afi);
      w.u8(f.safi);
      w.u8(f.forwardingPreserved ? 0x80 : 0);
    }
  }
  const len = w.pos - start;
  if (len > 255) throw new RangeError('capability too long');
  w.buf[lenAt] = len;
}

function decodeCapabilities(b: Uint8Array, o: number, end: number): Capability[] {
  const caps: Capability[] = [];
  while (o < end) {
    if (o + 2 > end) throw openError(OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, 'truncated capability');
    const code = b[o];
    const len = b[o + 1];
    const vo = o + 2;
    if (vo + len > end) throw openError(OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, 'capability overruns parameter');
    o = vo + len;
    if (code === CapabilityCode.MULTIPROTOCOL && len === 4) caps.push({ code, afi: u16(b, vo), safi: b[vo + 3] });
    else if (code === CapabilityCode.ROUTE_REFRESH && len === 0) caps.push({ code });
    else if (code === CapabilityCode.FOUR_OCTET_AS && len === 4) caps.push({ code, asn: u32(b, vo) });
    else if (code === CapabilityCode.GRACEFUL_RESTART && len >= 2 && (len - 2) % 4 === 0) {
      const h = u16(b, vo);
      const families: { afi: number; safi: number; forwardingPreserved: boolean }[] = [];
      for (let i = vo + 2; i < vo + len; i += 4) {
        families.push({ afi: u16(b, i), safi: b[i + 2], forwardingPreserved: (b[i + 3] & 0x80) !== 0 });
      }
      caps.push({ code, restartState: (h & 0x8000) !== 0, restartTime: h & 0xfff, families });
    } else caps.push({ code, value: b.slice(vo, vo + len), unknown: true });
  }
  return caps;
}

// ---------------------------------------------------------------- OPEN

function openError(subcode: number, message: string, data?: Uint8Array): BgpMessageError {
  return new BgpMessageError(ErrorCode.OPEN_MESSAGE, subcode, message, { data });
}

function encodeOpen(m: OpenMessage): Uint8Array {
  return withHeader(MessageType.OPEN, (w) => {
    w.u8(m.version);
    w.u16(m.myAs);
    w.u16(m.holdTime);
    w.bytes(addressBytes(m.bgpId));
    const lenAt = w.skip(1);
    const start = w.pos;
    if (m.capabilities.length > 0) {
      // One Capabilities optional parameter (type 2) holding all capabilities (RFC 5492 §4).
      w.u8(2);
      const pl = w.skip(1);
      const ps = w.pos;
      for (const c of m.capabilities) encodeCapability(w, c);
      if (w.pos - ps > 255) throw new RangeError('capabilities too long');
      w.buf[pl] = w.pos - ps;
    }
    w.buf[lenAt] = w.pos - start;
  });
}

function decodeOpen(b: Uint8Array, o: number, end: number): OpenMessage {
  if (end - o < 10) throw new BgpMessageError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH, 'OPEN too short', { data: lenData(end) });
  const version = b[o];
  const myAs = u16(b, o + 1);
  const holdTime = u16(b, o + 3);
  const bgpId = formatV4(b, o + 5);
  const optLen = b[o + 9];
  let p = o + 10;
  if (p + optLen !== end) throw openError(OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, 'optional parameters length mismatch');
  const capabilities: Capability[] = [];
  while (p < end) {
    if (p + 2 > end) throw openError(OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, 'truncated optional parameter');
    const t = b[p];
    const l = b[p + 1];
    if (p + 2 + l > end) throw openError(OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, 'optional parameter overruns');
    // RFC 5492: type 2 carries capabilities; others (e.g. deprecated authentication) are unsupported.
    if (t !== 2) throw openError(OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, `optional parameter type ${t}`);
    capabilities.push(...decodeCapabilities(b, p + 2, p + 2 + l));
    p += 2 + l;
  }
  return { type: 'open', version, myAs, holdTime, bgpId, capabilities };
}

// ---------------------------------------------------------------- UPDATE

/**
 * Encodes one UPDATE. The caller keeps it under 4096 bytes (see `packUpdates`); throws RangeError
 * otherwise.
 */
function encodeUpdate(m: UpdateMessage, ctx: CodecContext): Uint8Array {
  return withHeader(MessageType.UPDATE, (w) => {
    const wl = w.skip(2);
    for (const p of m.withdrawn) encodePrefix(w, p, 1);
    w.patch16(wl, w.pos - wl - 2);
    const al = w.skip(2);
    encodeAttributes(w, m.attributes, ctx);
    w.patch16(al, w.pos - al - 2);
    for (const p of m.nlri) encodePrefix(w, p, 1);
  }, 256);
}

function decodeUpdate(b: Uint8Array, o: number, end: number, ctx: CodecContext): UpdateMessage {
  // RFC 4271 §6.3 / RFC 7606 §5.3: inconsistent length fields → Malformed Attribute List, reset.
  if (o + 2 > end) throw updateError(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, 'no withdrawn length', undefined);
  const wl = u16(b, o);
  if (o + 2 + wl + 2 > end) throw updateError(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, 'withdrawn routes length overruns', undefined);
  const withdrawn = decodePrefixes(b, o + 2, o + 2 + wl, 1);
  const ao = o + 2 + wl + 2;
  const al = u16(b, ao - 2);
  if (ao + al > end) throw updateError(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, 'total path attribute length overruns', undefined);
  const nlri = decodePrefixes(b, ao + al, end, 1);
  const d = decodeAttributes(b, ao, ao + al, ctx);
  const a = d.attributes;
  const msg: UpdateMessage = { type: 'update', withdrawn, attributes: a, nlri };
  const errors = d.errors;
  // RFC 4271 §6.3 / RFC 7606 §3d: missing well-known mandatory attributes → treat-as-withdraw.
  if (nlri.length > 0 || a.mpReach !== undefined) {
    const missing = a.origin === undefined ? AttrType.ORIGIN
      : a.asPath === undefined ? AttrType.AS_PATH
        : nlri.length > 0 && a.nextHop === undefined ? AttrType.NEXT_HOP : undefined;
    if (missing !== undefined && !errors.some((e) => e.attrType === missing)) {
      errors.push(updateError(UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE, `missing attribute ${missing}`, missing, new Uint8Array([missing]), 'treat-as-withdraw'));
    }
  }
  if (errors.length > 0) {
    msg.errors = errors;
    if (errors.some((e) => e.handling === 'treat-as-withdraw')) msg.treatAsWithdraw = true;
    // Attribute-discard: drop what was malformed (it was never stored) — nothing else to do.
  }
  return msg;
}

// ---------------------------------------------------------------- NOTIFICATION / ROUTE-REFRESH

function encodeNotification(m: NotificationMessage): Uint8Array {
  return withHeader(MessageType.NOTIFICATION, (w) => {
    w.u8(m.code);
    w.u8(m.subcode);
    w.bytes(m.data);
  });
}

function encodeRouteRefresh(m: RouteRefreshMessage): Uint8Array {
  return withHeader(MessageType.ROUTE_REFRESH, (w) => {
    w.u16(m.afi);
    w.u8(m.subtype);
    w.u8(m.safi);
  });
}

function lenData(len: number): Uint8Array {
  return new Uint8Array([(len >> 8) & 0xff, len & 0xff]);
}

// ---------------------------------------------------------------- public

export function encodeMessage(m: BgpMessage, ctx: CodecContext): Uint8Array {
  switch (m.type) {
    case 'open': return encodeOpen(m);
    case 'update': return encodeUpdate(m, ctx);
    case 'notification': return encodeNotification(m);
    case 'keepalive': return withHeader(MessageType.KEEPALIVE, () => undefined, BGP_HEADER_LEN);
    case 'route-refresh': return encodeRouteRefresh(m);
  }
}

/** Per-type minimum (and for KEEPALIVE/ROUTE-REFRESH exact) lengths, RFC 4271 §4 / RFC 2918 §3. */
const MIN_LEN: Record<number, number> = { 1: 29, 2: 23, 3: 21, 4: 19, 5: 23 };

/**
 * Validates a message header (RFC 4271 §6.1): marker, length, type. Returns the declared length.
 * Used by the framer before buffering the body, so a bad length cannot make it wait forever.
 */
export function checkHeader(b: Uint8Array, o: number): { length: number; type: number } {
  for (let i = 0; i < 16; i++) {
    if (b[o + i] !== 0xff) throw new BgpMessageError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED, 'marker is not all ones');
  }
  const length = u16(b, o + 16);
  const type = b[o + 18];
  if (length < BGP_HEADER_LEN || length > BGP_MAX_MESSAGE_LEN) {
    throw new BgpMessageError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH, `length ${length}`, { data: lenData(length) });
  }
  const min = MIN_LEN[type];
  if (min === undefined) {
    throw new BgpMessageError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_TYPE, `type ${type}`, { data: new Uint8Array([type]) });
  }
  if (length < min || ((type === MessageType.KEEPALIVE) && length !== 19)) {
    throw new BgpMessageError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH, `length ${length} for type ${type}`, { data: lenData(length) });
  }
  if (type === MessageType.ROUTE_REFRESH && length !== 23) {
    // RFC 7313 §5: a ROUTE-REFRESH of the wrong length gets its own error code.
    throw new BgpMessageError(ErrorCode.ROUTE_REFRESH, RouteRefreshSubcode.INVALID_MESSAGE_LENGTH, `length ${length}`, { data: b.slice(o, o + Math.min(length, 19)) });
  }
  return { length, type };
}

/**
 * Decodes exactly one message occupying all of `b` (as emitted by BgpFramer). Throws only
 * BgpMessageError; any other exception would be a codec bug and is wrapped as one so a peer can
 * never crash the speaker.
 */
export function decodeMessage(b: Uint8Array, ctx: CodecContext): BgpMessage {
  try {
    if (b.length < BGP_HEADER_LEN) {
      throw new BgpMessageError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH, 'shorter than header', { data: lenData(b.length) });
    }
    const { length, type } = checkHeader(b, 0);
    if (length !== b.length) {
      throw new BgpMessageError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH, `declared ${length}, got ${b.length}`, { data: lenData(length) });
    }
    const o = BGP_HEADER_LEN;
    switch (type) {
      case MessageType.OPEN: return decodeOpen(b, o, length);
      case MessageType.UPDATE: return decodeUpdate(b, o, length, ctx);
      case MessageType.NOTIFICATION: return { type: 'notification', code: b[o], subcode: b[o + 1], data: b.slice(o + 2, length) };
      case MessageType.KEEPALIVE: return { type: 'keepalive' };
      default: return { type: 'route-refresh', afi: u16(b, o), subtype: b[o + 2], safi: b[o + 3] };
    }
  } catch (e) {
    if (isBgpMessageError(e)) throw e;
    throw new BgpMessageError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, `internal decode error: ${String(e)}`);
  }
}

export { decodeCapabilities };
