import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  BgpFramer, decodeMessage, encodeMessage, endOfRib, fromTwoOctet, isBgpMessageError, isEndOfRib,
  packAnnouncements, packWithdrawals, toTwoOctet, canonicalPrefix, AS_TRANS, asPathContains,
} from './index.ts';
import type { BgpMessage, BgpMessageError, CodecContext, PathAttributes, UpdateMessage, OpenMessage } from './index.ts';
import { formatV6 } from './prefix.ts';

const C4: CodecContext = { fourOctetAs: true };
const C2: CodecContext = { fourOctetAs: false };
const CORPUS = fileURLToPath(new URL('../../../testdata/bgp/', import.meta.url));

function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

function roundTrip(m: BgpMessage, ctx = C4): void {
  assert.deepStrictEqual(decodeMessage(encodeMessage(m, ctx), ctx), m);
}

function expectError(bytes: Uint8Array, code: number, subcode: number, ctx = C4): BgpMessageError {
  try {
    decodeMessage(bytes, ctx);
  } catch (e) {
    assert.ok(isBgpMessageError(e), `expected BgpMessageError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.subcode, subcode, e.message);
    return e;
  }
  assert.fail('expected an error');
}

const open: OpenMessage = {
  type: 'open', version: 4, myAs: AS_TRANS, holdTime: 90, bgpId: '198.18.0.1',
  capabilities: [
    { code: 1, afi: 1, safi: 1 }, { code: 1, afi: 2, safi: 1 }, { code: 2 }, { code: 65, asn: 4200000001 },
    { code: 64, restartState: true, restartTime: 120, families: [{ afi: 1, safi: 1, forwardingPreserved: true }] },
    { code: 73, value: new Uint8Array([3, 97, 98, 99]), unknown: true },
  ],
};

const fullUpdate: UpdateMessage = {
  type: 'update',
  withdrawn: ['198.51.100.0/24', '0.0.0.0/0'],
  attributes: {
    origin: 0, asPath: [{ type: 2, asns: [64512, 4200000000] }, { type: 1, asns: [1, 2] }], nextHop: '198.18.0.2',
    med: 10, localPref: 200, atomicAggregate: true, aggregator: { asn: 64512, address: '198.18.0.2' },
    communities: [0xfde80001, 0xffffff01], originatorId: '198.18.0.9', clusterList: ['198.18.0.1', '198.18.0.3'],
    mpReach: { afi: 2, safi: 1, nextHops: ['2001:db8::1', 'fe80::1'], nlri: ['2001:db8:1::/48', '2001:db8::/32', '::/0'] },
    mpUnreach: { afi: 2, safi: 1, withdrawn: ['2001:db8:2::/64'] },
    unknown: [{ flags: 0xc0 | 0x20, type: 99, value: new Uint8Array([1, 2, 3]) }],
  },
  nlri: ['192.0.2.0/24', '203.0.113.128/25', '192.0.2.7/32'],
};

describe('packet: examples', () => {
  test('round-trips every message type', () => {
    roundTrip(open);
    roundTrip(fullUpdate);
    roundTrip({ type: 'keepalive' });
    roundTrip({ type: 'notification', code: 6, subcode: 2, data: new Uint8Array([5, 104, 101, 108, 108, 111]) });
    roundTrip({ type: 'route-refresh', afi: 2, safi: 1, subtype: 0 });
    roundTrip({ ...fullUpdate, attributes: { ...fullUpdate.attributes, as4Path: [{ type: 2, asns: [4200000000] }], as4Aggregator: { asn: 4200000000, address: '198.18.0.2' } } });
  });

  test('keepalive is the 19-byte header (RFC 4271 §4.4)', () => {
    assert.deepStrictEqual(encodeMessage({ type: 'keepalive' }, C4), hex('ffffffffffffffffffffffffffffffff 0013 04'));
  });

  test('decodes a captured 2-octet UPDATE byte for byte', () => {
    // ORIGIN IGP, AS_PATH {SEQ 64513}, NEXT_HOP 198.18.0.2, NLRI 198.51.100.0/24
    const b = hex('ffffffffffffffffffffffffffffffff 002e 02 0000 0012 40010100 4002040201fc01 400304c6120002 18c63364');
    // Header length field must match: compute and patch.
    b[17] = b.length;
    assert.deepStrictEqual(decodeMessage(b, C2), {
      type: 'update', withdrawn: [],
      attributes: { origin: 0, asPath: [{ type: 2, asns: [64513] }], nextHop: '198.18.0.2' },
      nlri: ['198.51.100.0/24'],
    });
  });

  test('header errors carry RFC 4271 §6.1 codes', () => {
    const ka = encodeMessage({ type: 'keepalive' }, C4);
    const badMarker = ka.slice(); badMarker[3] = 0;
    expectError(badMarker, 1, 1);
    const badType = ka.slice(); badType[18] = 9;
    assert.deepStrictEqual(expectError(badType, 1, 3).data, new Uint8Array([9]));
    const badLen = new Uint8Array(20).fill(0xff); badLen[16] = 0; badLen[17] = 20; badLen[18] = 4;
    assert.deepStrictEqual(expectError(badLen, 1, 2).data, new Uint8Array([0, 20]));
  });

  test('OPEN with an unknown optional parameter → 2/4', () => {
    const b = encodeMessage({ ...open, capabilities: [] }, C4);
    const x = new Uint8Array(b.length + 3);
    x.set(b);
    x[28] = 3; x[29] = 1; x[30] = 1; x[31] = 0; x[17] = x.length;
    expectError(x, 2, 4);
  });

  test('RFC 7606: malformed ORIGIN → treat-as-withdraw, not a reset', () => {
    const m: UpdateMessage = { type: 'update', withdrawn: [], attributes: { origin: 0, asPath: [], nextHop: '198.18.0.2' }, nlri: ['192.0.2.0/24'] };
    const b = encodeMessage(m, C4);
    const i = b.indexOf(0x01, 23); // ORIGIN type byte after flags 0x40
    assert.equal(b[i - 1], 0x40);
    b[i + 2] = 7; // origin value 7 is invalid
    const d = decodeMessage(b, C4) as UpdateMessage;
    assert.equal(d.treatAsWithdraw, true);
    assert.equal(d.errors?.[0].subcode, 6);
    assert.deepStrictEqual(d.nlri, ['192.0.2.0/24']);
  });

  test('RFC 7606: missing NEXT_HOP → treat-as-withdraw with 3/3', () => {
    const d = decodeMessage(encodeMessage({ type: 'update', withdrawn: [], attributes: { origin: 0, asPath: [] }, nlri: ['192.0.2.0/24'] }, C4), C4) as UpdateMessage;
    assert.equal(d.treatAsWithdraw, true);
    assert.equal(d.errors?.[0].subcode, 3);
    assert.deepStrictEqual(d.errors?.[0].data, new Uint8Array([3]));
  });

  test('RFC 7606: bad AGGREGATOR length → attribute discarded, route kept', () => {
    const good = encodeMessage({ type: 'update', withdrawn: [], attributes: { origin: 0, asPath: [], nextHop: '198.18.0.2', aggregator: { asn: 1, address: '198.18.0.1' } }, nlri: ['192.0.2.0/24'] }, C4);
    // Decoding a 4-octet AGGREGATOR in a 2-octet session gives a length error.
    const d = decodeMessage(good, C2) as UpdateMessage;
    assert.equal(d.treatAsWithdraw, undefined);
    assert.equal(d.attributes.aggregator, undefined);
    assert.equal(d.errors?.[0].handling, 'attribute-discard');
  });

  test('NLRI with length > 32 → 3/10 session reset', () => {
    const b = encodeMessage({ type: 'update', withdrawn: [], attributes: { origin: 0, asPath: [], nextHop: '198.18.0.2' }, nlri: ['192.0.2.0/24'] }, C4);
    b[b.length - 4] = 33;
    assert.equal(expectError(b, 3, 10).handling, 'session-reset');
  });

  test('unknown well-known attribute → 3/2', () => {
    const b = encodeMessage({ type: 'update', withdrawn: [], attributes: { unknown: [{ flags: 0x80, type: 200, value: new Uint8Array([1]) }] }, nlri: [] }, C4);
    const i = b.indexOf(200, 23);
    b[i - 1] = 0x40;
    expectError(b, 3, 2);
  });

  test('End-of-RIB markers (RFC 4724 §2)', () => {
    assert.deepStrictEqual(isEndOfRib(decodeMessage(encodeMessage(endOfRib(1, 1), C4), C4) as UpdateMessage), { afi: 1, safi: 1 });
    assert.deepStrictEqual(isEndOfRib(decodeMessage(encodeMessage(endOfRib(2, 1), C4), C4) as UpdateMessage), { afi: 2, safi: 1 });
    assert.equal(isEndOfRib(fullUpdate), undefined);
  });

  test('RFC 6793: AS4_PATH reconstruction and AS_TRANS', () => {
    const real: PathAttributes = { origin: 0, asPath: [{ type: 2, asns: [64512, 4200000001, 65000] }], aggregator: { asn: 4200000001, address: '198.18.0.1' } };
    const two = toTwoOctet(real);
    assert.deepStrictEqual(two.asPath, [{ type: 2, asns: [64512, AS_TRANS, 65000] }]);
    assert.deepStrictEqual(two.aggregator, { asn: AS_TRANS, address: '198.18.0.1' });
    const wire = decodeMessage(encodeMessage({ type: 'update', withdrawn: [], attributes: two, nlri: [] }, C2), C2) as UpdateMessage;
    assert.deepStrictEqual(fromTwoOctet(wire.attributes), real);
    // A 2-octet speaker prepended its AS in front of the AS4_PATH it passed on.
    const passed: PathAttributes = { asPath: [{ type: 2, asns: [65001, 64512, AS_TRANS, 65000] }], as4Path: [{ type: 2, asns: [64512, 4200000001, 65000] }] };
    assert.deepStrictEqual(fromTwoOctet(passed).asPath, [{ type: 2, asns: [65001] }, { type: 2, asns: [64512, 4200000001, 65000] }]);
  });

  test('graceful restart capability: Restart Time is the low 12 bits, R bit the top one (RFC 4724 §3)', () => {
    const caps = (restartTime: number, restartState: boolean): OpenMessage => ({
      type: 'open', version: 4, myAs: 64512, holdTime: 90, bgpId: '198.18.0.1',
      capabilities: [{ code: 64, restartState, restartTime, families: [{ afi: 1, safi: 1, forwardingPreserved: false }] }],
    });
    // Optional parameter 2 (capabilities), capability 64, length 6, flags+time, AFI 1, SAFI 1, flags 0.
    assert.deepStrictEqual([...encodeMessage(caps(77, false), C4).subarray(29)], [2, 8, 64, 6, 0x00, 77, 0, 1, 1, 0]);
    assert.deepStrictEqual([...encodeMessage(caps(4095, true), C4).subarray(29)], [2, 8, 64, 6, 0x8f, 0xff, 0, 1, 1, 0]);
    roundTrip(caps(77, false));
    roundTrip(caps(4095, true));
  });

  test('asPathContains counts occurrences over every segment type (loop check with allow-local-as)', () => {
    const path = [{ type: 2 as const, asns: [65001, 64512] }, { type: 1 as const, asns: [64512, 65002] }];
    assert.equal(asPathContains(path, 64512), true);
    assert.equal(asPathContains(path, 64512, 2), true);
    assert.equal(asPathContains(path, 64512, 3), false);
    assert.equal(asPathContains(path, 65003), false);
    assert.equal(asPathContains(undefined, 64512), false);
  });

  test('packing 10k prefixes stays under 4096 bytes per UPDATE and loses nothing', () => {
    const pfx: string[] = [];
    for (let i = 0; i < 10000; i++) pfx.push(`198.19.${i >> 8 & 255}.${i & 255}/32`);
    const msgs = packAnnouncements(pfx, { origin: 0, asPath: [{ type: 2, asns: [64512] }], nextHop: '198.18.0.1' }, 1, C4);
    const got: string[] = [];
    for (const m of msgs) {
      assert.ok(m.length <= 4096);
      got.push(...(decodeMessage(m, C4) as UpdateMessage).nlri);
    }
    assert.deepStrictEqual(got, pfx);
    const v6 = pfx.map((_, i) => canonicalPrefix(`2001:db8:${i.toString(16)}::/48`) as string);
    const m6 = packAnnouncements(v6, { origin: 0, asPath: [] }, 2, C4, ['2001:db8::1']);
    assert.deepStrictEqual(m6.flatMap((m) => (decodeMessage(m, C4) as UpdateMessage).attributes.mpReach?.nlri ?? []), v6);
    const w = packWithdrawals(pfx, 1, C4);
    assert.deepStrictEqual(w.flatMap((m) => (decodeMessage(m, C4) as UpdateMessage).withdrawn), pfx);
  });
});

describe('packet: framer', () => {
  const stream = [open, { type: 'keepalive' } as const, fullUpdate, { type: 'route-refresh', afi: 1, safi: 1, subtype: 0 } as const].map((m) => encodeMessage(m, C4));
  const all = Uint8Array.from(Buffer.concat(stream));

  test('byte at a time', () => {
    const f = new BgpFramer();
    const out: Uint8Array[] = [];
    for (const byte of all) out.push(...f.push(new Uint8Array([byte])).map((m) => m.slice()));
    assert.deepStrictEqual(out, stream);
    assert.equal(f.pending, 0);
  });

  test('any chunking yields the same messages (property)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: all.length }), { maxLength: 20 }), (cuts) => {
      const points = [...new Set(cuts)].sort((a, b) => a - b);
      const f = new BgpFramer();
      const out: Uint8Array[] = [];
      let prev = 0;
      for (const p of [...points, all.length]) {
        out.push(...f.push(all.subarray(prev, p)).map((m) => m.slice()));
        prev = p;
      }
      assert.deepStrictEqual(out, stream);
    }));
  });

  test('a garbage header fails immediately instead of waiting for 65535 bytes', () => {
    const f = new BgpFramer();
    const b = new Uint8Array(19).fill(0xff);
    assert.throws(() => f.push(b), (e: unknown) => isBgpMessageError(e) && e.code === 1 && e.subcode === 2);
  });
});

// ---------------------------------------------------------------- properties

const v4addr = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join('.'));
const v6bytes = fc.uint8Array({ minLength: 16, maxLength: 16 });
const v6addr = v6bytes.map((b) => formatV6(b, 0));
const v4prefix = fc.tuple(v4addr, fc.integer({ min: 0, max: 32 })).map(([a, l]) => canonicalPrefix(`${a}/${l}`) as string);
const v6prefix = fc.tuple(v6addr, fc.integer({ min: 0, max: 128 })).map(([a, l]) => canonicalPrefix(`${a}/${l}`) as string);
const u32 = fc.integer({ min: 0, max: 0xffffffff });

function attrsArb(four: boolean): fc.Arbitrary<PathAttributes> {
  const asn = four ? u32 : fc.integer({ min: 0, max: 0xffff });
  const seg = fc.record({ type: fc.constantFrom(1, 2, 3, 4) as fc.Arbitrary<1 | 2 | 3 | 4>, asns: fc.array(asn, { minLength: 1, maxLength: 8 }) });
  const path = fc.array(seg, { maxLength: 3 });
  const agg = fc.record({ asn, address: v4addr });
  const knownTypes = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 17, 18]);
  const unknown = fc.record({
    flags: fc.constantFrom(0x80, 0xc0, 0xe0, 0xa0),
    type: fc.integer({ min: 19, max: 255 }).filter((t) => !knownTypes.has(t)),
    value: fc.uint8Array({ maxLength: 40 }),
  });
  return fc.record({
    origin: fc.integer({ min: 0, max: 2 }),
    asPath: path,
    nextHop: v4addr,
    med: u32,
    localPref: u32,
    atomicAggregate: fc.constant(true as const),
    aggregator: agg,
    communities: fc.array(u32, { minLength: 1, maxLength: 10 }),
    originatorId: v4addr,
    clusterList: fc.array(v4addr, { minLength: 1, maxLength: 5 }),
    mpReach: fc.oneof(
      fc.record({ afi: fc.constant(2), safi: fc.constant(1), nextHops: fc.array(v6addr, { minLength: 1, maxLength: 2 }), nlri: fc.array(v6prefix, { maxLength: 20 }) }),
      fc.record({ afi: fc.constant(1), safi: fc.constant(1), nextHops: fc.array(v4addr, { minLength: 1, maxLength: 1 }), nlri: fc.array(v4prefix, { maxLength: 20 }) }),
    ),
    mpUnreach: fc.record({ afi: fc.constant(2), safi: fc.constant(1), withdrawn: fc.array(v6prefix, { maxLength: 20 }) }),
    as4Path: fc.array(fc.record({ type: fc.constantFrom(1, 2) as fc.Arbitrary<1 | 2>, asns: fc.array(u32, { minLength: 1, maxLength: 5 }) }), { maxLength: 2 }),
    as4Aggregator: fc.record({ asn: u32, address: v4addr }),
    unknown: fc.uniqueArray(unknown, { minLength: 1, maxLength: 3, selector: (u) => u.type }),
  }, { requiredKeys: [] });
}

function messageArb(four: boolean): fc.Arbitrary<BgpMessage> {
  const update = fc.record({
    type: fc.constant('update' as const),
    withdrawn: fc.array(v4prefix, { maxLength: 20 }),
    attributes: attrsArb(four),
    nlri: fc.array(v4prefix, { maxLength: 20 }),
  }).map((u): UpdateMessage => {
    // A valid UPDATE with NLRI carries the mandatory attributes (otherwise treat-as-withdraw is expected).
    if (u.nlri.length > 0 || u.attributes.mpReach) {
      u.attributes.origin ??= 0;
      u.attributes.asPath ??= [];
      if (u.nlri.length > 0) u.attributes.nextHop ??= '198.18.0.1';
    }
    return u;
  });
  const cap = fc.oneof(
    fc.record({ code: fc.constant(1 as const), afi: fc.integer({ min: 0, max: 0xffff }), safi: fc.nat(255) }),
    fc.constant({ code: 2 as const }),
    fc.record({ code: fc.constant(65 as const), asn: u32 }),
    fc.record({
      code: fc.constant(64 as const), restartState: fc.boolean(), restartTime: fc.nat(0xfff),
      families: fc.array(fc.record({ afi: fc.integer({ min: 0, max: 0xffff }), safi: fc.nat(255), forwardingPreserved: fc.boolean() }), { maxLength: 3 }),
    }),
    fc.record({ code: fc.integer({ min: 66, max: 255 }), value: fc.uint8Array({ maxLength: 10 }), unknown: fc.constant(true as const) }),
  );
  const openArb = fc.record({
    type: fc.constant('open' as const), version: fc.nat(255), myAs: fc.nat(0xffff), holdTime: fc.nat(0xffff), bgpId: v4addr,
    capabilities: fc.array(cap, { maxLength: 8 }),
  });
  return fc.oneof(
    update,
    openArb as fc.Arbitrary<BgpMessage>,
    fc.constant({ type: 'keepalive' as const }),
    fc.record({ type: fc.constant('notification' as const), code: fc.nat(255), subcode: fc.nat(255), data: fc.uint8Array({ maxLength: 40 }) }),
    fc.record({ type: fc.constant('route-refresh' as const), afi: fc.nat(0xffff), safi: fc.nat(255), subtype: fc.nat(255) }),
  );
}

/** Decoding must return a message or throw BgpMessageError — nothing else, ever. */
function decodeSafely(b: Uint8Array, ctx: CodecContext): void {
  try {
    decodeMessage(b, ctx);
  } catch (e) {
    if (!isBgpMessageError(e)) throw e;
    assert.ok(e.code >= 1 && e.code <= 7);
    assert.ok(!e.message.includes('internal decode error'), e.message);
  }
  const f = new BgpFramer();
  try {
    for (const m of f.push(b)) decodeMessage(m, ctx);
  } catch (e) {
    if (!isBgpMessageError(e)) throw e;
  }
}

describe('packet: properties', () => {
  test('decode(encode(m)) == m, 4-octet AS session', () => {
    fc.assert(fc.property(messageArb(true), (m) => { roundTrip(structuredClone(m), C4); }), { numRuns: 2000 });
  });

  test('decode(encode(m)) == m, 2-octet AS session', () => {
    fc.assert(fc.property(messageArb(false), (m) => { roundTrip(structuredClone(m), C2); }), { numRuns: 1000 });
  });

  test('random bytes only ever yield BgpMessageError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (body, four) => {
      decodeSafely(body, four ? C4 : C2);
      // Also behind a valid header so the body parsers get exercised.
      const b = new Uint8Array(19 + body.length);
      b.fill(0xff, 0, 16);
      b[16] = b.length >> 8; b[17] = b.length & 255; b[18] = (body[0] ?? 0) % 5 + 1;
      b.set(body, 19);
      decodeSafely(b, four ? C4 : C2);
    }), { numRuns: 5000 });
  });

  test('mutated valid messages only ever yield BgpMessageError', () => {
    const mutation = fc.array(fc.tuple(fc.nat(), fc.nat(255), fc.constantFrom('set', 'insert', 'delete', 'truncate')), { minLength: 1, maxLength: 6 });
    fc.assert(fc.property(messageArb(true), mutation, fc.boolean(), (m, muts, fixLen) => {
      let b = Array.from(encodeMessage(m, C4));
      for (const [pos, val, op] of muts) {
        const i = pos % (b.length + 1);
        if (op === 'set' && i < b.length) b[i] = val;
        else if (op === 'insert') b.splice(i, 0, val);
        else if (op === 'delete') b.splice(i, 1);
        else b = b.slice(0, i);
      }
      const u = Uint8Array.from(b);
      if (fixLen && u.length >= 19) { u[16] = u.length >> 8; u[17] = u.length & 255; }
      decodeSafely(u, C4);
      decodeSafely(u, C2);
    }), { numRuns: 5000 });
  });
});

describe('packet: regression corpus', () => {
  test('every file under testdata/bgp decodes or fails with BgpMessageError', () => {
    const files = readdirSync(CORPUS).filter((f) => f.endsWith('.bin'));
    assert.ok(files.length > 0);
    for (const f of files) {
      const b = Uint8Array.from(readFileSync(CORPUS + f));
      // Files are named by their sha1 so duplicates are obvious (gobgp testdata/bad-len style).
      assert.equal(createHash('sha1').update(b).digest('hex') + '.bin', f, `${f} renamed or edited`);
      decodeSafely(b, C4);
      decodeSafely(b, C2);
    }
  });
});
