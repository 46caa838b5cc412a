import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import YAML from 'yaml';
import { isWeftError } from '../lib/errors.ts';
import { cidrOverlaps, formatCIDR, formatIP, mask, parseCIDR } from '../lib/ip.ts';
import { KINDS } from './kinds.ts';
import { parseManifests } from './manifest.ts';
import { V1_KINDS } from './v1.ts';
import { checkDocument, validateAll } from './resources.ts';
import { formatResources } from './format.ts';
import type { Resource } from './validate.ts';
import { cidrToName, normalizeName, workloadEndpointName, checkSubdomainName } from './names.ts';
import { convertV1 } from './resources.ts';

const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
const dnsName = fc.array(label, { minLength: 1, maxLength: 3 }).map((ls) => ls.join('.'));

/** A pool CIDR: v4 prefix 8..26 or v6 prefix 48..116, host bits zero, not overlapping link-local. */
const poolCidr = fc.oneof(
  fc.tuple(fc.bigInt({ min: 0n, max: 0xffffffffn }), fc.integer({ min: 8, max: 26 })).map(([a, p]) => ({ version: 4 as const, addr: a & mask(4, p), prefix: p })),
  fc.tuple(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.integer({ min: 48, max: 116 })).map(([a, p]) => ({ version: 6 as const, addr: a & mask(6, p), prefix: p })),
).filter((c) => !cidrOverlaps(c, parseCIDR(c.version === 4 ? '169.254.0.0/16' : 'fe80::/10')!));

const selectorText = fc.constantFrom('all()', "role == 'db'", 'has(zone) && zone != "b"', "env in {'a', 'b'}", '!has(x) || y starts with "p"');
const mode = fc.constantFrom('Never', 'Always', 'CrossSubnet');

const validPool = fc
  .record({
    name: dnsName,
    cidr: poolCidr,
    blockSizeDelta: fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined }),
    ipipMode: fc.option(mode, { nil: undefined }),
    vxlanMode: fc.option(mode, { nil: undefined }),
    natOutgoing: fc.option(fc.boolean(), { nil: undefined }),
    disabled: fc.option(fc.boolean(), { nil: undefined }),
    nodeSelector: fc.option(selectorText, { nil: undefined }),
    allowedUses: fc.option(fc.subarray(['Workload', 'Tunnel'], { minLength: 1 }), { nil: undefined }),
    labels: fc.option(fc.dictionary(label, label, { maxKeys: 3 }), { nil: undefined }),
  })
  .map((r) => {
    const v6 = r.cidr.version === 6;
    const [lo, hi] = v6 ? [116, 128] : [26, 32];
    const spec: Record<string, unknown> = { cidr: formatCIDR(r.cidr) };
    if (r.blockSizeDelta !== undefined) spec.blockSize = Math.min(hi, lo + r.blockSizeDelta);
    // IPIP is IPv4-only, and IPIP and VXLAN are exclusive.
    if (r.ipipMode !== undefined && !v6) spec.ipipMode = r.ipipMode;
    if (r.vxlanMode !== undefined && (spec.ipipMode === undefined || spec.ipipMode === 'Never')) spec.vxlanMode = r.vxlanMode;
    for (const k of ['natOutgoing', 'disabled', 'nodeSelector', 'allowedUses'] as const) if (r[k] !== undefined) spec[k] = r[k];
    return {
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPPool',
      metadata: { name: r.name, ...(r.labels !== undefined ? { labels: r.labels } : {}) },
      spec,
    };
  });

function validOnce(doc: unknown): Resource {
  const r = checkDocument(doc);
  if (!r.ok) throw new Error(`generator produced an invalid pool: ${JSON.stringify(r.issues)} for ${JSON.stringify(doc)}`);
  return r.resource;
}

/** Only these outcomes are allowed for arbitrary input. */
function onlyExpectedErrors(run: () => void): void {
  try {
    run();
  } catch (e) {
    if (!isWeftError(e, 'ERR_VALIDATION', 'ERR_PARSE')) throw e;
  }
}

describe('properties', () => {
  test('valid IPPools survive serialize → parse → validate unchanged (YAML and JSON)', () => {
    fc.assert(
      fc.property(validPool, fc.constantFrom<'yaml' | 'json'>('yaml', 'json'), (doc, fmt) => {
        const once = validOnce(doc);
        const text = formatResources([once], fmt);
        const [again] = validateAll(parseManifests(text, 'p'));
        assert.deepEqual(again, once);
      }),
      { numRuns: 300 },
    );
  });

  test('several pools survive a List round trip', () => {
    fc.assert(
      fc.property(fc.uniqueArray(validPool, { minLength: 2, maxLength: 5, selector: (d) => d.metadata.name }), (docs) => {
        const once = docs.map(validOnce);
        const again = validateAll(parseManifests(formatResources(once, 'yaml'), 'p'));
        assert.deepEqual(again, once);
      }),
      { numRuns: 100 },
    );
  });

  test('regressions found by property runs: strings YAML 1.1 or 1.2 would read as numbers or booleans', () => {
    // Seed -221755061 found label key "0o0" printed plain (a 1.1 string) and read back as the
    // 1.2 octal 0: the label became "0". Every such text now round-trips, as a key and a value.
    const tricky = ['0o0', '0o17', '0x1f', '1e3', '1.5', '08', '0b1', 'yes', 'no', 'on', 'off', 'y', 'true', 'null', '2001-12-14'];
    const labels = Object.fromEntries(tricky.map((t, i) => [t, tricky[(i + 1) % tricky.length]!]));
    const pool = (name: string) => validOnce({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name, labels }, spec: { cidr: '198.51.100.0/24' } });
    const once = pool('00');
    const again = validateAll(parseManifests(formatResources([once, pool('0')], 'yaml'), 'p'));
    assert.deepEqual(again[0], once);
    assert.deepEqual(again[0]!.metadata.labels, labels);
    // What a YAML 1.1 reader (calicoctl, kubectl: go-yaml v2) makes of the same text.
    assert.deepEqual(YAML.parse(formatResources([once], 'yaml'), { version: '1.1' }).metadata.labels, labels);
  });

  test('arbitrary text only ever yields documents or ERR_PARSE / ERR_VALIDATION', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        onlyExpectedErrors(() => validateAll(parseManifests(text, 'junk')));
      }),
      { numRuns: 500 },
    );
  });

  test('junk documents only ever yield ERR_VALIDATION / ERR_PARSE', () => {
    const kind = fc.oneof(fc.constantFrom(...KINDS), fc.constantFrom(...V1_KINDS), fc.string({ maxLength: 12 }));
    const apiVersion = fc.oneof(fc.constantFrom('projectcalico.org/v3', 'v1'), fc.string({ maxLength: 8 }));
    const junk = fc.oneof(
      fc.jsonValue(),
      fc.record({ apiVersion, kind, metadata: fc.jsonValue(), spec: fc.jsonValue() }, { requiredKeys: [] }),
      fc.record({
        apiVersion,
        kind,
        metadata: fc.record({ name: fc.oneof(dnsName, fc.string()), cidr: fc.string(), namespace: fc.string() }, { requiredKeys: [] }),
        spec: fc.dictionary(
          fc.constantFrom('cidr', 'blockSize', 'ipipMode', 'ingress', 'egress', 'selector', 'asNumber', 'peerIP', 'nets', 'types', 'tier', 'node', 'order', 'ports'),
          fc.jsonValue({ maxDepth: 3 }),
        ),
      }),
    );
    fc.assert(
      fc.property(fc.array(junk, { maxLength: 4 }), (docs) => {
        let text: string;
        try {
          text = docs.map((d) => YAML.stringify(d)).join('---\n');
        } catch {
          return; // not representable as YAML: nothing to test
        }
        onlyExpectedErrors(() => validateAll(parseManifests(text, 'junk')));
        for (const d of docs) onlyExpectedErrors(() => void checkDocument(d));
      }),
      { numRuns: 300 },
    );
  });

  test('v1 ipPool: name from the (masked) CIDR, v3 defaults', () => {
    fc.assert(
      fc.property(poolCidr, fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (c, noise) => {
        const text = formatCIDR(c);
        // Names like "---48" (from ::/48) are invalid in Calico too; conversion then fails cleanly.
        fc.pre(!cidrToName(text).startsWith('-'));
        const bitsLen = c.version === 4 ? 32 : 128;
        const hostBits = noise & ((1n << BigInt(bitsLen)) - 1n) & ~mask(c.version, c.prefix);
        const withHost = `${formatIP(c.version, c.addr | hostBits)}/${c.prefix}`;
        const r = convertV1({ apiVersion: 'v1', kind: 'ipPool', metadata: { cidr: withHost } });
        assert.equal(r.kind, 'IPPool');
        if (r.kind !== 'IPPool') return;
        assert.equal(r.spec.cidr, text);
        assert.equal(r.metadata.name, cidrToName(text));
        assert.equal(r.spec.blockSize, c.version === 4 ? 26 : 122);
        assert.equal(checkSubdomainName(r.metadata.name), undefined);
      }),
      { numRuns: 200 },
    );
  });

  test('workloadEndpointName is injective (the -- escaping is unambiguous)', () => {
    const seg = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,6}[a-z0-9])?$/);
    const ids = fc.record({ node: seg, orchestrator: fc.constantFrom('k8s', 'cni', 'openstack', 'my-orch'), mid: seg, endpoint: seg });
    const name = (i: { node: string; orchestrator: string; mid: string; endpoint: string }) =>
      workloadEndpointName({ node: i.node, orchestrator: i.orchestrator, endpoint: i.endpoint, pod: i.mid, containerID: i.mid, workload: i.mid });
    fc.assert(
      fc.property(ids, ids, (a, b) => {
        if (name(a) === name(b)) assert.deepEqual(a, b);
      }),
      { numRuns: 1000 },
    );
  });

  test('normalizeName is idempotent and yields a valid name (or empty)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        const n = normalizeName(s);
        assert.equal(normalizeName(n), n);
        if (n !== '' && n.length <= 253) assert.equal(checkSubdomainName(n), undefined, n);
      }),
      { numRuns: 1000 },
    );
  });
});
