import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  canonicalCIDR, canonicalIP, cidrContains, cidrContainsIP, cidrSize, formatIP, parseCIDR, parseIP, type IPVersion,
} from './ip.ts';

test('IPv4 parsing accepts dotted quads only', () => {
  assert.deepEqual(parseIP('192.0.2.1'), { version: 4, value: 0xc0000201n });
  for (const bad of ['192.0.2', '192.0.2.256', '01.2.3.4', '1.2.3.4.5', '', ' 1.2.3.4', '1.2.3.-1', 'a.b.c.d']) {
    assert.equal(parseIP(bad), undefined, bad);
  }
});

test('IPv6 parsing and RFC 5952 output', () => {
  const cases: [string, string][] = [
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:db8:0:0:0:0:0:1', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8::0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2:3:4:5:6'],
  ];
  for (const [i, o] of cases) assert.equal(canonicalIP(i), o, i);
  for (const bad of [':::', '1::2::3', '2001:db8:1:2:3:4:5:6:7', '12345::', 'g::1', '2001:db8::1::']) {
    assert.equal(parseIP(bad), undefined, bad);
  }
});

test('CIDRs: strict host bits, masking, containment', () => {
  assert.equal(parseCIDR('192.0.2.1/24', { strict: true }), undefined);
  assert.equal(canonicalCIDR('192.0.2.1/24'), '192.0.2.0/24');
  assert.equal(parseCIDR('192.0.2.0/33'), undefined);
  assert.equal(parseCIDR('2001:db8::/129'), undefined);
  assert.equal(parseCIDR('192.0.2.0'), undefined);
  assert.equal(canonicalCIDR('192.0.2.7', { allowBare: true }), '192.0.2.7/32');
  const pool = parseCIDR('192.0.2.0/24')!;
  const block = parseCIDR('192.0.2.64/26')!;
  assert.ok(cidrContains(pool, block));
  assert.ok(!cidrContains(block, pool));
  assert.ok(cidrContainsIP(block, parseIP('192.0.2.127')!));
  assert.ok(!cidrContainsIP(block, parseIP('192.0.2.128')!));
  assert.equal(cidrSize(block), 64n);
  assert.equal(cidrSize(parseCIDR('2001:db8::/122')!), 64n);
});

const v4 = fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }).map((value) => ({ version: 4 as IPVersion, value }));
const v6 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map((value) => ({ version: 6 as IPVersion, value }));

test('property: format → parse round-trips every address', () => {
  fc.assert(fc.property(fc.oneof(v4, v6), (a) => {
    assert.deepEqual(parseIP(formatIP(a.version, a.value)), a);
  }), { numRuns: 2000 });
});

test('property: parsers never throw on arbitrary strings', () => {
  fc.assert(fc.property(fc.string({ maxLength: 60 }), (s) => {
    parseIP(s);
    parseCIDR(s);
    parseCIDR(s, { strict: true, allowBare: true });
  }), { numRuns: 5000 });
  const alphabet = fc.constantFrom(...'0123456789abcdef:./'.split(''));
  fc.assert(fc.property(fc.array(alphabet, { maxLength: 45 }).map((a) => a.join('')), (s) => {
    const p = parseIP(s);
    if (p) assert.deepEqual(parseIP(formatIP(p.version, p.value)), p);
  }), { numRuns: 5000 });
});
