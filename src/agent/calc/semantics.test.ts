/**
 * Table-driven semantics: Calico's rule model end to end (resources → calc graph → model →
 * evaluator). Each case is a set of resources plus packets with the expected verdict and, where it
 * matters, what decided it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { computeFromScratch } from './graph.ts';
import { evaluateWorkload, evaluateHost, tracePolicy } from '../../policy/index.ts';
import type { DecidedBy, Direction, Packet, PolicySpec } from '../../policy/index.ts';
import * as t from './testing.ts';
import type { KV } from './testing.ts';

const H = 'n1';
const S = '192.0.2.1'; // source workload, app=src, ns default
const D = '192.0.2.2'; // destination workload, app=dst, ns default
const P = '192.0.2.3'; // workload in namespace prod, app=src
const O = '192.0.2.4'; // workload app=other
const EXT = '198.51.100.7'; // not a Calico endpoint

function base(opts: { dstProfiles?: string[]; srcProfiles?: string[]; dstLabels?: Record<string, string> } = {}): KV[] {
  return [
    t.wep('src', { node: H, ips: [S], labels: { app: 'src' }, profiles: opts.srcProfiles ?? ['allow-all'] }),
    t.wep('dst', {
      node: H, ips: [D, '2001:db8::2'], labels: opts.dstLabels ?? { app: 'dst' }, profiles: opts.dstProfiles ?? [],
      ports: [{ name: 'http', protocol: 'TCP', port: 8080 }, { name: 'dns', protocol: 'UDP', port: 53 }],
    }),
    t.wep('psrc', { ns: 'prod', node: 'n2', ips: [P], labels: { app: 'src' } }),
    t.wep('other', { node: 'n2', ips: [O], labels: { app: 'other' } }),
    t.profile('allow-all', { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] }),
    t.profile('deny-all', { ingress: [{ action: 'Deny' }], egress: [{ action: 'Deny' }] }),
    t.profile('empty', {}),
  ];
}

interface Check {
  p: Partial<Packet> & { src?: string; dst?: string };
  dir?: Direction;
  ep?: string;
  want: 'allow' | 'deny';
  by?: Partial<DecidedBy> & { kind: DecidedBy['kind'] };
}

interface Case { name: string; kvs: KV[]; checks: Check[] }

const tcp = (dstPort: number, src = S): Check['p'] => ({ src, protocol: 'TCP', dstPort, srcPort: 40000 });
const gnpIn = (name: string, spec: Omit<PolicySpec, 'selector'> & { selector?: string }): KV =>
  t.gnp(name, { selector: "app == 'dst'", ...spec });

const cases: Case[] = [
  {
    name: 'no policy and no profile: denied',
    kvs: base(),
    checks: [{ p: tcp(80), want: 'deny', by: { kind: 'no-profile-accepted' } }],
  },
  {
    name: 'profile allows when no policy applies',
    kvs: base({ dstProfiles: ['allow-all'] }),
    checks: [{ p: tcp(80), want: 'allow', by: { kind: 'profile-rule', profile: 'allow-all', ruleIndex: 0 } }],
  },
  {
    name: 'missing profile is fail-closed; profiles apply in order',
    kvs: [...base({ dstProfiles: ['ghost'] })],
    checks: [{ p: tcp(80), want: 'deny', by: { kind: 'missing-profile', profile: 'ghost' } }],
  },
  {
    name: 'an earlier allowing profile decides before a missing one',
    kvs: base({ dstProfiles: ['empty', 'allow-all', 'ghost'] }),
    checks: [{ p: tcp(80), want: 'allow', by: { kind: 'profile-rule', profile: 'allow-all' } }],
  },
  {
    name: 'a missing profile before an allowing one denies',
    kvs: base({ dstProfiles: ['ghost', 'allow-all'] }),
    checks: [{ p: tcp(80), want: 'deny', by: { kind: 'missing-profile', profile: 'ghost' } }],
  },
  {
    name: 'protocol + ports + selector; end of tier denies',
    kvs: [...base({ dstProfiles: ['allow-all'] }), gnpIn('web', { ingress: [{ action: 'Allow', protocol: 'TCP', source: { selector: "app == 'src'" }, destination: { ports: [80] } }] })],
    checks: [
      { p: tcp(80), want: 'allow', by: { kind: 'policy-rule', policy: 'web', ruleIndex: 0 } },
      { p: tcp(81), want: 'deny', by: { kind: 'tier-default', tier: 'default' } },
      { p: { src: S, protocol: 'UDP', dstPort: 80, srcPort: 1 }, want: 'deny', by: { kind: 'tier-default' } },
      { p: tcp(80, O), want: 'deny', by: { kind: 'tier-default' } },
      { p: tcp(80, EXT), want: 'deny' },
    ],
  },
  {
    name: 'protocol numbers and notProtocol',
    kvs: [...base(), gnpIn('p', { ingress: [{ action: 'Allow', protocol: 6 }, { action: 'Allow', notProtocol: 'UDP', protocol: 'SCTP' }, { action: 'Allow', protocol: 'UDPLite' }, { action: 'Allow', protocol: 'ICMPv6' }] })],
    checks: [
      { p: tcp(1), want: 'allow', by: { kind: 'policy-rule', ruleIndex: 0 } },
      { p: { src: S, protocol: 132, dstPort: 9 }, want: 'allow', by: { kind: 'policy-rule', ruleIndex: 1 } },
      { p: { src: S, protocol: 136, dstPort: 9 }, want: 'allow', by: { kind: 'policy-rule', ruleIndex: 2 } },
      { p: { src: S, protocol: 'udp', dstPort: 9 }, want: 'deny' },
      { p: { src: '2001:db8::9', dst: '2001:db8::2', protocol: 58, icmpType: 128 }, want: 'allow', by: { kind: 'policy-rule', ruleIndex: 3 } },
    ],
  },
  {
    name: 'notProtocol alone',
    kvs: [...base(), gnpIn('p', { ingress: [{ action: 'Allow', notProtocol: 'UDP' }] })],
    checks: [
      { p: tcp(1), want: 'allow' },
      { p: { src: S, protocol: 'ICMP', icmpType: 8 }, want: 'allow' },
      { p: { src: S, protocol: 'UDP', dstPort: 1 }, want: 'deny' },
    ],
  },
  {
    name: 'icmp type/code and notICMP',
    kvs: [...base(), gnpIn('p', { ingress: [
      { action: 'Allow', protocol: 'ICMP', icmp: { type: 8 } },
      { action: 'Allow', protocol: 'ICMP', icmp: { type: 3, code: 4 } },
      { action: 'Deny', protocol: 'ICMP', notICMP: { type: 13 } },
      { action: 'Allow', protocol: 'ICMP' },
    ] })],
    checks: [
      { p: { src: S, protocol: 'ICMP', icmpType: 8, icmpCode: 0 }, want: 'allow', by: { kind: 'policy-rule', ruleIndex: 0 } },
      { p: { src: S, protocol: 'ICMP', icmpType: 3, icmpCode: 4 }, want: 'allow', by: { kind: 'policy-rule', ruleIndex: 1 } },
      { p: { src: S, protocol: 'ICMP', icmpType: 3, icmpCode: 1 }, want: 'deny', by: { kind: 'policy-rule', ruleIndex: 2 } },
      { p: { src: S, protocol: 'ICMP', icmpType: 13, icmpCode: 0 }, want: 'allow', by: { kind: 'policy-rule', ruleIndex: 3 } },
    ],
  },
  {
    name: 'port ranges and notPorts',
    kvs: [...base(), gnpIn('p', { ingress: [
      { action: 'Deny', protocol: 'TCP', destination: { notPorts: ['1:1023', 8080] } },
      { action: 'Allow', protocol: 'TCP', destination: { ports: ['1000:2000', 443] } },
    ] })],
    checks: [
      { p: tcp(5000), want: 'deny', by: { kind: 'policy-rule', ruleIndex: 0 } },
      { p: tcp(443), want: 'allow', by: { kind: 'policy-rule', ruleIndex: 1 } },
      { p: tcp(1000), want: 'allow', by: { kind: 'policy-rule', ruleIndex: 1 } },
      { p: tcp(1500), want: 'deny', by: { kind: 'policy-rule', ruleIndex: 0 } },
      { p: tcp(999), want: 'deny', by: { kind: 'tier-default' } },
      { p: tcp(8080), want: 'deny', by: { kind: 'tier-default' } },
    ],
  },
  {
    name: 'source ports',
    kvs: [...base(), gnpIn('p', { ingress: [{ action: 'Allow', protocol: 'UDP', source: { ports: [53] } }] })],
    checks: [
      { p: { src: S, protocol: 'UDP', srcPort: 53, dstPort: 3333 }, want: 'allow' },
      { p: { src: S, protocol: 'UDP', srcPort: 54, dstPort: 53 }, want: 'deny' },
    ],
  },
  {
    name: 'named ports resolve from endpoints',
    kvs: [...base(), gnpIn('p', { ingress: [
      { action: 'Allow', protocol: 'TCP', destination: { ports: ['http'] } },
      { action: 'Allow', protocol: 'UDP', destination: { selector: "app == 'dst'", ports: ['dns'] } },
    ] })],
    checks: [
      { p: tcp(8080), want: 'allow', by: { kind: 'policy-rule', ruleIndex: 0 } },
      { p: tcp(80), want: 'deny' },
      { p: { src: S, protocol: 'UDP', dstPort: 53, srcPort: 1 }, want: 'allow', by: { kind: 'policy-rule', ruleIndex: 1 } },
      { p: { src: S, protocol: 'UDP', dstPort: 8080, srcPort: 1 }, want: 'deny' },
      { p: { src: S, protocol: 'TCP', dstPort: 53, srcPort: 1 }, want: 'deny' },
    ],
  },
  {
    name: 'named notPorts',
    kvs: [...base(), gnpIn('p', { ingress: [{ action: 'Allow', protocol: 'TCP', destination: { notPorts: ['http'] } }] })],
    checks: [{ p: tcp(8080), want: 'deny' }, { p: tcp(80), want: 'allow' }],
  },
  {
    name: 'nets and notNets',
    kvs: [...base(), gnpIn('p', { ingress: [
      { action: 'Deny', source: { nets: ['198.51.100.0/25'], notNets: ['198.51.100.0/30'] } },
      { action: 'Allow', source: { notNets: ['203.0.113.0/24', '2001:db8:ffff::/48'] } },
    ] })],
    checks: [
      { p: tcp(80, EXT), want: 'deny', by: { kind: 'policy-rule', ruleIndex: 0 } },
      { p: tcp(80, '198.51.100.2'), want: 'allow', by: { kind: 'policy-rule', ruleIndex: 1 } },
      { p: tcp(80, '203.0.113.9'), want: 'deny', by: { kind: 'tier-default' } },
      { p: tcp(80, '198.51.100.200'), want: 'allow', by: { kind: 'policy-rule', ruleIndex: 1 } },
    ],
  },
  {
    name: 'destination nets (egress) and ipVersion',
    kvs: [...base(), t.gnp('e', { selector: "app == 'src'", egress: [
      { action: 'Allow', ipVersion: 6 },
      { action: 'Allow', destination: { nets: ['192.0.2.0/30'] } },
    ] })],
    checks: [
      { ep: 'src', dir: 'egress', p: { src: S, dst: D, protocol: 'TCP', dstPort: 1 }, want: 'allow', by: { kind: 'policy-rule', ruleIndex: 1 } },
      { ep: 'src', dir: 'egress', p: { src: S, dst: O, protocol: 'TCP', dstPort: 1 }, want: 'deny', by: { kind: 'tier-default' } },
    ],
  },
  {
    name: 'notSelector also matches non-Calico sources; !has() only Calico ones',
    kvs: [...base(), gnpIn('p', { ingress: [
      { action: 'Allow', protocol: 'TCP', destination: { ports: [1] }, source: { notSelector: "app == 'src'" } },
      { action: 'Allow', protocol: 'TCP', destination: { ports: [2] }, source: { selector: '!has(app)' } },
    ] })],
    checks: [
      { p: tcp(1, S), want: 'deny' },
      { p: tcp(1, O), want: 'allow' },
      { p: tcp(1, EXT), want: 'allow' },
      { p: tcp(2, EXT), want: 'deny' },
      { p: tcp(2, O), want: 'deny' },
    ],
  },
  {
    name: 'NetworkPolicy: selectors are scoped to the policy namespace',
    kvs: [
      ...base(),
      t.wep('pdst', { ns: 'prod', node: H, ips: ['192.0.2.5'], labels: { app: 'dst' } }),
      t.np('prod', 'p', { selector: "app == 'dst'", ingress: [{ action: 'Allow', source: { selector: "app == 'src'" } }] }),
    ],
    checks: [
      { ep: 'prod/pdst', p: { src: P, dst: '192.0.2.5', protocol: 'TCP', dstPort: 1 }, want: 'allow' },
      { ep: 'prod/pdst', p: { src: S, dst: '192.0.2.5', protocol: 'TCP', dstPort: 1 }, want: 'deny' },
      // The NetworkPolicy does not select default/dst (other namespace): its profile-less default applies.
      { p: tcp(1, P), want: 'deny', by: { kind: 'no-profile-accepted' } },
    ],
  },
  {
    name: 'namespaceSelector on a rule and on a global policy',
    kvs: [
      ...base(),
      gnpIn('p', { ingress: [{ action: 'Allow', source: { namespaceSelector: "projectcalico.org/name == 'prod'", selector: "app == 'src'" } }] }),
      t.gnp('nsonly', { namespaceSelector: "projectcalico.org/name == 'prod'", ingress: [{ action: 'Deny' }] }),
    ],
    checks: [
      { p: tcp(1, P), want: 'allow' },
      { p: tcp(1, S), want: 'deny', by: { kind: 'tier-default' } },
    ],
  },
  {
    name: 'namespaceSelector global() selects global network sets; network sets are selectable',
    kvs: [
      ...base(),
      t.gns('partners', ['203.0.113.0/24'], { kind: 'partner' }),
      t.netset('default', 'office', ['198.51.100.0/24'], { kind: 'office' }),
      t.np('default', 'p', { selector: "app == 'dst'", ingress: [
        { action: 'Allow', source: { namespaceSelector: 'global()', selector: "kind == 'partner'" } },
        { action: 'Allow', source: { selector: "kind == 'office'" } },
      ] }),
    ],
    checks: [
      { p: tcp(1, '203.0.113.50'), want: 'allow', by: { kind: 'policy-rule', ruleIndex: 0 } },
      { p: tcp(1, EXT), want: 'allow', by: { kind: 'policy-rule', ruleIndex: 1 } },
      { p: tcp(1, S), want: 'deny' },
    ],
  },
  {
    name: 'types default: egress-only rules do not police ingress; no rules = ingress',
    kvs: [...base({ dstProfiles: ['allow-all'] }), gnpIn('eg', { egress: [{ action: 'Deny' }] })],
    checks: [
      { p: tcp(1), want: 'allow', by: { kind: 'profile-rule' } },
      { ep: 'dst', dir: 'egress', p: { src: D, dst: S, protocol: 'TCP', dstPort: 1 }, want: 'deny', by: { kind: 'policy-rule', policy: 'eg' } },
    ],
  },
  {
    name: 'types default: a policy without rules polices ingress only',
    kvs: [...base({ dstProfiles: ['allow-all'] }), gnpIn('none', {})],
    checks: [
      { p: tcp(1), want: 'deny', by: { kind: 'tier-default' } },
      { ep: 'dst', dir: 'egress', p: { src: D, dst: S, protocol: 'TCP', dstPort: 1 }, want: 'allow', by: { kind: 'profile-rule' } },
    ],
  },
  {
    name: 'explicit types: Egress listed without rules denies egress; ingress rules ignored when type absent',
    kvs: [...base({ dstProfiles: ['allow-all'] }), gnpIn('t', { types: ['Egress'], ingress: [{ action: 'Deny' }] })],
    checks: [
      { p: tcp(1), want: 'allow', by: { kind: 'profile-rule' } },
      { ep: 'dst', dir: 'egress', p: { src: D, dst: S, protocol: 'TCP', dstPort: 1 }, want: 'deny', by: { kind: 'tier-default' } },
    ],
  },
  {
    name: 'tiers by order; Pass skips to the next tier; profiles after policies',
    kvs: [
      ...base({ dstProfiles: ['allow-all'] }),
      t.tier('security', 100), t.tier('platform', 500),
      gnpIn('sec', { tier: 'security', ingress: [
        { action: 'Deny', protocol: 'TCP', destination: { ports: [23] } },
        { action: 'Pass', protocol: 'TCP', destination: { ports: [80, 443, 8443] } },
        { action: 'Allow', protocol: 'TCP', destination: { ports: [22] } },
      ] }),
      gnpIn('plat', { tier: 'platform', ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80] } }, { action: 'Pass', protocol: 'TCP', destination: { ports: [443] } }] }),
    ],
    checks: [
      { p: tcp(23), want: 'deny', by: { kind: 'policy-rule', tier: 'security', policy: 'sec' } },
      { p: tcp(22), want: 'allow', by: { kind: 'policy-rule', tier: 'security' } },
      { p: tcp(80), want: 'allow', by: { kind: 'policy-rule', tier: 'platform', policy: 'plat' } },
      // Passed by every tier → profiles decide.
      { p: tcp(443), want: 'allow', by: { kind: 'profile-rule', profile: 'allow-all' } },
      // Passed by security, platform's end of tier drops before profiles.
      { p: tcp(8443), want: 'deny', by: { kind: 'tier-default', tier: 'platform' } },
      { p: tcp(9999), want: 'deny', by: { kind: 'tier-default', tier: 'security' } },
    ],
  },
  {
    name: 'tier defaultAction Pass; a tier without a policy for the direction is skipped',
    kvs: [
      ...base({ dstProfiles: ['allow-all'] }),
      t.tier('audit', 10, 'Pass'), t.tier('egress-only', 20),
      gnpIn('a', { tier: 'audit', ingress: [{ action: 'Deny', protocol: 'TCP', destination: { ports: [23] } }] }),
      gnpIn('b', { tier: 'egress-only', egress: [{ action: 'Deny' }] }),
    ],
    checks: [
      { p: tcp(23), want: 'deny', by: { kind: 'policy-rule', tier: 'audit' } },
      { p: tcp(80), want: 'allow', by: { kind: 'profile-rule' } },
    ],
  },
  {
    name: 'missing Tier resource: default tier is implicit; an unknown tier sorts last and fails closed',
    kvs: [
      ...base({ dstProfiles: ['allow-all'] }),
      gnpIn('d', { ingress: [{ action: 'Pass' }] }),
      gnpIn('u', { tier: 'nonexistent', ingress: [{ action: 'Deny', protocol: 'TCP', destination: { ports: [1] } }] }),
    ],
    checks: [
      { p: tcp(1), want: 'deny', by: { kind: 'policy-rule', tier: 'nonexistent' } },
      { p: tcp(2), want: 'deny', by: { kind: 'tier-default', tier: 'nonexistent' } },
    ],
  },
  {
    name: 'within a tier: order ascending, missing order last, ties by name',
    kvs: [
      ...base(),
      gnpIn('z-first', { order: 1, ingress: [{ action: 'Deny', protocol: 'TCP', destination: { ports: [1] } }] }),
      gnpIn('a-second', { order: 2, ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [1, 2, 3] } }] }),
      gnpIn('b-tie', { order: 5, ingress: [{ action: 'Deny', protocol: 'TCP', destination: { ports: [4] } }] }),
      gnpIn('a-tie', { order: 5, ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [4] } }] }),
      gnpIn('a-noorder', { ingress: [{ action: 'Deny', protocol: 'TCP', destination: { ports: [5] } }] }),
      gnpIn('c-late', { order: 1000, ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [5] } }] }),
    ],
    checks: [
      { p: tcp(1), want: 'deny', by: { kind: 'policy-rule', policy: 'z-first' } },
      { p: tcp(2), want: 'allow', by: { kind: 'policy-rule', policy: 'a-second' } },
      { p: tcp(4), want: 'allow', by: { kind: 'policy-rule', policy: 'a-tie' } },
      { p: tcp(5), want: 'allow', by: { kind: 'policy-rule', policy: 'c-late' } },
    ],
  },
  {
    name: 'Log continues to the next rule',
    kvs: [...base(), gnpIn('p', { ingress: [{ action: 'Log' }, { action: 'Allow' }] })],
    checks: [{ p: tcp(1), want: 'allow', by: { kind: 'policy-rule', ruleIndex: 1 } }],
  },
  {
    name: 'profile labelsToApply are inherited; endpoint labels win',
    kvs: [
      ...base({ dstProfiles: ['team'] }),
      t.profile('team', { labelsToApply: { team: 'blue', app: 'ignored' } }),
      t.gnp('p', { selector: "team == 'blue' && app == 'dst'", ingress: [{ action: 'Allow', source: { selector: "app == 'src'" } }] }),
    ],
    checks: [{ p: tcp(1), want: 'allow', by: { kind: 'policy-rule', policy: 'p' } }],
  },
  {
    name: 'egress anti-spoofing and allowSpoofedSourcePrefixes',
    kvs: [
      ...base(),
      t.wep('spoofer', { node: H, ips: ['192.0.2.9'], profiles: ['allow-all'], allowSpoofedSourcePrefixes: ['203.0.113.0/24'] }),
    ],
    checks: [
      { ep: 'spoofer', dir: 'egress', p: { src: '192.0.2.99', dst: D, protocol: 'TCP', dstPort: 1 }, want: 'deny', by: { kind: 'anti-spoofing' } },
      { ep: 'spoofer', dir: 'egress', p: { src: '203.0.113.5', dst: D, protocol: 'TCP', dstPort: 1 }, want: 'allow' },
      { ep: 'spoofer', dir: 'egress', p: { src: '192.0.2.9', dst: D, protocol: 'TCP', dstPort: 1 }, want: 'allow' },
    ],
  },
  {
    name: 'an invalid policy is treated as absent',
    kvs: [...base({ dstProfiles: ['allow-all'] }), gnpIn('bad', { ingress: [{ action: 'Allow', destination: { ports: [80] } }] })],
    checks: [{ p: tcp(80), want: 'allow', by: { kind: 'profile-rule' } }],
  },
  {
    name: 'an invalid profile is treated as missing (fail closed)',
    kvs: [...base({ dstProfiles: ['broken'] }), t.profile('broken', { ingress: [{ action: 'Maybe' }] })],
    checks: [{ p: tcp(80), want: 'deny', by: { kind: 'missing-profile' } }],
  },
];

describe('policy semantics (resources → calc graph → evaluator)', () => {
  for (const c of cases) {
    test(c.name, () => {
      const model = computeFromScratch(c.kvs, H);
      for (const ch of c.checks) {
        const epName = ch.ep ?? 'dst';
        const epId = epName.includes('/') ? epName : `default/${epName}`;
        const ep = model.endpoints[epId];
        assert.ok(ep, `endpoint ${epId} is in the model`);
        const dir = ch.dir ?? 'ingress';
        const packet: Packet = { src: ch.p.src ?? S, dst: ch.p.dst ?? D, ...ch.p };
        const v = evaluateWorkload(model, ep, dir, packet);
        const label = `${c.name}: ${JSON.stringify(packet)} ${dir}`;
        assert.equal(v.verdict, ch.want, `${label} → ${JSON.stringify(v.decidedBy)} ${JSON.stringify(v.steps)}`);
        if (ch.by) {
          for (const [k, val] of Object.entries(ch.by)) {
            assert.deepEqual((v.decidedBy as unknown as Record<string, unknown>)[k], val, `${label}: decidedBy.${k} (${JSON.stringify(v.decidedBy)})`);
          }
        }
      }
    });
  }

  test('missing profile appears in the model as a fail-closed stand-in', () => {
    const model = computeFromScratch(base({ dstProfiles: ['ghost'] }), H);
    assert.deepEqual(model.profiles.ghost, { id: 'ghost', inbound: [{ action: 'deny' }], outbound: [{ action: 'deny' }], missing: true });
  });
});

describe('host endpoints, failsafe ports and workload→host', () => {
  const hostKvs = (extra: KV[] = []): KV[] => [
    ...base(), t.nodeRes(H, '198.18.0.1/24'),
    t.hep('n1-eth0', { node: H, iface: 'eth0', expectedIPs: ['198.18.0.1'], labels: { role: 'host' } }),
    ...extra,
  ];

  test('a host endpoint with no policy drops all but failsafe ports', () => {
    const m = computeFromScratch(hostKvs(), H);
    const h = m.hostEndpoints['n1-eth0'];
    assert.ok(h);
    const inb = (port: number, proto = 'TCP'): string => evaluateHost(m, h, 'ingress', { src: EXT, dst: '198.18.0.1', protocol: proto, dstPort: port }).verdict;
    assert.equal(inb(22), 'allow');
    assert.equal(inb(179), 'allow');
    assert.equal(inb(68, 'UDP'), 'allow');
    assert.equal(inb(80), 'deny');
    assert.equal(evaluateHost(m, h, 'egress', { src: '198.18.0.1', dst: EXT, protocol: 'UDP', dstPort: 53 }).verdict, 'allow');
    assert.equal(evaluateHost(m, h, 'egress', { src: '198.18.0.1', dst: EXT, protocol: 'TCP', dstPort: 80 }).verdict, 'deny');
  });

  test('FelixConfiguration overrides failsafe ports (per-host over default)', () => {
    const m = computeFromScratch(hostKvs([
      t.felixConfig('default', { failsafeInboundHostPorts: [{ protocol: 'TCP', port: 2222 }] }),
      t.felixConfig(`node.${H}`, { failsafeInboundHostPorts: [{ protocol: 'TCP', port: 3333 }] }),
    ]), H);
    const h = m.hostEndpoints['n1-eth0'];
    const inb = (port: number): string => evaluateHost(m, h, 'ingress', { src: EXT, dst: '198.18.0.1', protocol: 'TCP', dstPort: port }).verdict;
    assert.equal(inb(22), 'deny');
    assert.equal(inb(2222), 'deny');
    assert.equal(inb(3333), 'allow');
  });

  test('host endpoint policy applies by selector', () => {
    const m = computeFromScratch(hostKvs([t.gnp('h', { selector: "role == 'host'", ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80] } }] })]), H);
    const h = m.hostEndpoints['n1-eth0'];
    assert.equal(evaluateHost(m, h, 'ingress', { src: EXT, dst: '198.18.0.1', protocol: 'TCP', dstPort: 80 }).verdict, 'allow');
    assert.equal(evaluateHost(m, h, 'ingress', { src: EXT, dst: '198.18.0.1', protocol: 'TCP', dstPort: 81 }).verdict, 'deny');
  });

  test('untracked and pre-DNAT policy: explicit verdicts win, no verdict continues', () => {
    const m = computeFromScratch(hostKvs([
      t.gnp('untracked', { selector: "role == 'host'", doNotTrack: true, applyOnForward: true, ingress: [{ action: 'Allow', protocol: 'UDP', destination: { ports: [4789] } }] }),
      t.gnp('prednat', { selector: "role == 'host'", preDNAT: true, applyOnForward: true, ingress: [{ action: 'Deny', protocol: 'TCP', destination: { ports: [30080] } }, { action: 'Allow', protocol: 'TCP', destination: { ports: [30443] } }] }),
      t.gnp('normal', { selector: "role == 'host'", applyOnForward: true, ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [30080, 8080] } }] }),
    ]), H);
    const h = m.hostEndpoints['n1-eth0'];
    assert.deepEqual(h.untrackedTiers.map((x) => x.ingressPolicies), [['untracked']]);
    assert.deepEqual(h.preDNATTiers.map((x) => x.ingressPolicies), [['prednat']]);
    assert.deepEqual(h.tiers.map((x) => x.ingressPolicies), [['normal']]);
    assert.deepEqual(h.forwardTiers.map((x) => x.ingressPolicies), [['normal']]);
    const inb = (proto: string, port: number, forwarded = false) => evaluateHost(m, h, 'ingress', { src: EXT, dst: '198.18.0.1', protocol: proto, dstPort: port }, { forwarded });
    assert.deepEqual(inb('UDP', 4789).decidedBy, { kind: 'policy-rule', tier: 'default', policy: 'untracked', ruleIndex: 0, action: 'allow', stage: 'untracked' });
    assert.equal(inb('TCP', 30080).verdict, 'deny', 'pre-DNAT deny wins over a normal allow');
    assert.equal(inb('TCP', 30443).verdict, 'allow', 'pre-DNAT allow skips normal policy (which would deny)');
    assert.equal(inb('TCP', 8080).verdict, 'allow', 'no pre-DNAT verdict: normal policy decides');
    assert.equal(inb('TCP', 9999).verdict, 'deny');
    assert.equal(inb('TCP', 30080, true).verdict, 'deny', 'pre-DNAT applies to forwarded traffic too');
    // Calico: untracked ingress rules apply to all traffic arriving through the host endpoint,
    // wherever it goes; an untracked Allow skips forward policy too (felix raw PREROUTING).
    assert.equal(inb('UDP', 4789, true).verdict, 'allow', 'untracked allow applies to forwarded traffic too');
  });

  test('workload → host: defaultEndpointToHostAction Drop (default), Accept, Return', () => {
    let m = computeFromScratch(hostKvs(), H);
    let r = tracePolicy(m, 'default/src', { address: '198.18.0.1' }, { dstPort: 80 });
    assert.equal(r.verdict, 'deny');
    assert.equal(r.ingress.evaluated && r.ingress.decidedBy.kind, 'endpoint-to-host');
    m = computeFromScratch(hostKvs([t.felixConfig('default', { defaultEndpointToHostAction: 'Accept' })]), H);
    assert.equal(tracePolicy(m, 'default/src', '198.18.0.1', { dstPort: 80 }).verdict, 'allow');
    m = computeFromScratch(hostKvs([t.felixConfig('default', { defaultEndpointToHostAction: 'Return' })]), H);
    r = tracePolicy(m, 'default/src', '198.18.0.1', { dstPort: 80 });
    assert.equal(r.verdict, 'allow', 'Return: Weft\'s rules end after egress policy');
    m = computeFromScratch(hostKvs([
      t.felixConfig('default', { defaultEndpointToHostAction: 'Return' }),
      t.hep('n1-all', { node: H, iface: '*', labels: { role: 'host' } }),
    ]), H);
    r = tracePolicy(m, 'default/src', '198.18.0.1', { dstPort: 80 });
    // felix: cali-INPUT does `goto cali-wl-to-host`; its RETURN skips host endpoint dispatch, even `*`.
    assert.equal(r.verdict, 'allow', 'Return skips host endpoint policy, even an all-interfaces one');
    assert.equal(r.ingress.evaluated, false);
  });
});
