/**
 * Addresses and NLRI prefixes (RFC 4271 §4.3, RFC 4760 §5): <length, prefix> with the prefix
 * truncated to whole octets. Hot path on receive, so IPv4 is formatted without bigint.
 */
import { Afi, UpdateSubcode } from './constants.ts';
import { updateError } from './errors.ts';
import type { Writer } from './writer.ts';
import type { Prefix } from './types.ts';

export function formatV4(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** RFC 5952 text of 16 bytes. */
export function formatV6(b: Uint8Array, o: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[o + 2 * i] << 8) | b[o + 2 * i + 1]);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  // RFC 5952 §5: IPv4-mapped addresses print the low 32 bits dotted.
  if (bestStart === 0 && bestLen === 5 && g[5] === 0xffff) return `::ffff:${formatV4(b, o + 12)}`;
  const hex = g.map((x) => x.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Parses dotted IPv4 into 4 bytes at `out[o]`; false when invalid. */
export function parseV4Into(s: string, out: Uint8Array, o: number): boolean {
  let part = 0;
  let val = 0;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || val > 255 || part > 3) return false;
      out[o + part++] = val;
      val = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      val = val * 10 + (c - 48);
      if (++digits > 3) return false;
    } else return false;
  }
  return part === 4;
}

/** Parses IPv6 text (RFC 4291 §2.2, including embedded IPv4) into 16 bytes; false when invalid. */
export function parseV6Into(s: string, out: Uint8Array, o: number): boolean {
  if (s.length < 2 || s.length > 45) return false;
  let text = s;
  const tail = new Uint8Array(4);
  let hasV4 = false;
  if (text.includes('.')) {
    const lc = text.lastIndexOf(':');
    if (!parseV4Into(text.slice(lc + 1), tail, 0)) return false;
    hasV4 = true;
    text = text.slice(0, lc + 1) + '0:0';
  }
  const dbl = text.indexOf('::');
  if (dbl !== -1 && text.indexOf('::', dbl + 1) !== -1) return false;
  const groups = (t: string): number[] | undefined => {
    if (t === '') return [];
    const r: number[] = [];
    for (const h of t.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(h)) return undefined;
      r.push(parseInt(h, 16));
    }
    return r;
  };
  let g: number[];
  if (dbl !== -1) {
    const head = groups(text.slice(0, dbl));
    const tl = groups(text.slice(dbl + 2));
    if (!head || !tl || head.length + tl.length > 7) return false;
    g = [...head, ...new Array<number>(8 - head.length - tl.length).fill(0), ...tl];
  } else {
    const all = groups(text);
    if (!all || all.length !== 8) return false;
    g = all;
  }
  for (let i = 0; i < 8; i++) {
    out[o + 2 * i] = g[i] >> 8;
    out[o + 2 * i + 1] = g[i] & 0xff;
  }
  if (hasV4) out.set(tail, o + 12);
  return true;
}

export function addressFamily(addr: string): 1 | 2 {
  return addr.includes(':') ? Afi.IPV6 : Afi.IPV4;
}

/** Bytes of an IPv4 or IPv6 address; throws TypeError on bad input (an encoder-side caller bug). */
export function addressBytes(addr: string): Uint8Array {
  const v6 = addr.includes(':');
  const out = new Uint8Array(v6 ? 16 : 4);
  if (!(v6 ? parseV6Into(addr, out, 0) : parseV4Into(addr, out, 0))) throw new TypeError(`bad IP address ${addr}`);
  return out;
}

/** Parses `addr/len` into family, length and full-width bytes; undefined if invalid. */
export function parsePrefix(p: string): { afi: 1 | 2; len: number; bytes: Uint8Array } | undefined {
  const slash = p.indexOf('/');
  if (slash < 0) return undefined;
  const lenText = p.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(lenText)) return undefined;
  const len = Number(lenText);
  const a = p.slice(0, slash);
  const v6 = a.includes(':');
  const bytes = new Uint8Array(v6 ? 16 : 4);
  if (!(v6 ? parseV6Into(a, bytes, 0) : parseV4Into(a, bytes, 0))) return undefined;
  if (len > bytes.length * 8) return undefined;
  return { afi: v6 ? 2 : 1, len, bytes };
}

/** Canonical text (host bits cleared) of a prefix, or undefined if invalid. */
export function canonicalPrefix(p: string): Prefix | undefined {
  const r = parsePrefix(p);
  if (!r) return undefined;
  maskBytes(r.bytes, r.len);
  return `${r.afi === 1 ? formatV4(r.bytes, 0) : formatV6(r.bytes, 0)}/${r.len}`;
}

function maskBytes(b: Uint8Array, len: number): void {
  for (let i = 0; i < b.length; i++) {
    const bitsHere = len - i * 8;
    if (bitsHere >= 8) continue;
    b[i] &= bitsHere <= 0 ? 0 : (0xff << (8 - bitsHere)) & 0xff;
  }
}

export function encodePrefix(w: Writer, p: Prefix, afi: number): void {
  const r = parsePrefix(p);
  if (!r || r.afi !== afi) throw new TypeError(`bad ${afi === 1 ? 'IPv4' : 'IPv6'} prefix ${p}`);
  const n = (r.len + 7) >> 3;
  maskBytes(r.bytes, r.len);
  w.u8(r.len);
  w.bytes(r.bytes.subarray(0, n));
}

const scratch = new Uint8Array(16);
/** Text is assembled here and sliced out as one flat latin1 string (see decodePrefixes). */
const textBuf = Buffer.alloc(64);
// Buffer#latin1Slice is Node's fast native path behind toString('latin1'); untyped in @types/node.
const latin1 = (textBuf as unknown as { latin1Slice(start: number, end: number): string }).latin1Slice.bind(textBuf);
const HEX = '0123456789abcdef';

function putDec(o: number, v: number): number {
  if (v >= 100) textBuf[o++] = 48 + Math.floor(v / 100);
  if (v >= 10) textBuf[o++] = 48 + (Math.floor(v / 10) % 10);
  textBuf[o++] = 48 + (v % 10);
  return o;
}

function putHex(o: number, v: number): number {
  let started = false;
  for (let sh = 12; sh >= 0; sh -= 4) {
    const d = (v >>> sh) & 15;
    if (d || started || sh === 0) {
      textBuf[o++] = HEX.charCodeAt(d);
      started = true;
    }
  }
  return o;
}

/** RFC 5952 text of the 16 bytes in `b[o..]` followed by `/len`, as one flat string. */
function v6PrefixText(b: Uint8Array, o: number, len: number): string {
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (b[o + 2 * i] !== 0 || b[o + 2 * i + 1] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && b[o + 2 * j] === 0 && b[o + 2 * j + 1] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  if (bestStart === 0 && bestLen === 5 && b[o + 10] === 0xff && b[o + 11] === 0xff) return `${formatV6(b, o)}/${len}`;
  let w = 0;
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      textBuf[w++] = 58;
      textBuf[w++] = 58;
      i += bestLen - 1;
      continue;
    }
    if (i > 0 && i !== bestStart + bestLen) textBuf[w++] = 58;
    w = putHex(w, (b[o + 2 * i] << 8) | b[o + 2 * i + 1]);
  }
  textBuf[w++] = 47;
  w = putDec(w, len);
  return latin1(0, w);
}

/**
 * Decodes a run of NLRI from `b[start, end)`. An invalid length or a prefix overrunning the field is
 * an Invalid Network Field error (RFC 4271 §6.3); RFC 7606 §5.3 makes it a session reset because the
 * remaining NLRI cannot be located.
 *
 * Prefix text is written into a scratch buffer and sliced out as one flat string: template
 * literals of 13+ characters become V8 cons-strings whose pieces stay alive next to the flattened
 * copy once used as a Map key — several times the memory for a 1M-route table.
 */
export function decodePrefixes(b: Uint8Array, start: number, end: number, afi: number, attrType?: number): Prefix[] {
  const out: Prefix[] = [];
  const max = afi === Afi.IPV4 ? 32 : 128;
  let o = start;
  while (o < end) {
    const len = b[o++];
    if (len > max) throw updateError(UpdateSubcode.INVALID_NETWORK_FIELD, `prefix length ${len} > ${max}`, attrType, undefined, 'session-reset');
    const n = (len + 7) >> 3;
    if (o + n > end) throw updateError(UpdateSubcode.INVALID_NETWORK_FIELD, 'prefix overruns NLRI field', attrType, undefined, 'session-reset');
    if (afi === Afi.IPV4) {
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      if (n > 0) a0 = b[o];
      if (n > 1) a1 = b[o + 1];
      if (n > 2) a2 = b[o + 2];
      if (n > 3) a3 = b[o + 3];
      // RFC 4271 §4.3: trailing bits are irrelevant; clear them so the key is canonical.
      const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
      const v = ((((a0 << 24) | (a1 << 16) | (a2 << 8) | a3) >>> 0) & m) >>> 0;
      let w = putDec(0, v >>> 24);
      textBuf[w++] = 46;
      w = putDec(w, (v >>> 16) & 255);
      textBuf[w++] = 46;
      w = putDec(w, (v >>> 8) & 255);
      textBuf[w++] = 46;
      w = putDec(w, v & 255);
      textBuf[w++] = 47;
      w = putDec(w, len);
      out.push(latin1(0, w));
    } else {
      scratch.fill(0);
      for (let i = 0; i < n; i++) scratch[i] = b[o + i];
      maskBytes(scratch, len);
      out.push(v6PrefixText(scratch, 0, len));
    }
    o += n;
  }
  return out;
}
