/**
 * Interop with FRR bgpd (Debian frr, run without zebra): eBGP/iBGP both ways, Weft as route
 * reflector between a BIRD client and an FRR client, and Weft as route-reflector client of FRR.
 */
import { skipUnlessAllowed } from '../helpers/skip.ts';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Lab, canUseNetns, which } from '../helpers/netns.ts';
import { Bird, Frr, WeftChild, until } from '../helpers/bgp.ts';

const skip = skipUnlessAllowed(canUseNetns() ?? (existsSync('/usr/lib/frr/bgpd') && which('vtysh') ? false : 'FRR bgpd not found (apt-get install frr)'));

function frrConf(o: { as: number; id: string; neighbors: { addr: string; as: number; rrClient?: boolean }[]; v4?: string; v6?: string; nh6?: string }): string {
  const n = o.neighbors;
  return `frr defaults traditional
hostname frr
no ipv6 forwarding
route-map NH6 permit 10
 set ipv6 next-hop global ${o.nh6 ?? '2001:db8:ff::3'}
router bgp ${o.as}
 bgp router-id ${o.id}
 bgp cluster-id ${o.id}
 no bgp ebgp-requires-policy
 no bgp network import-check
${n.map((x) => ` neighbor ${x.addr} remote-as ${x.as}\n neighbor ${x.addr} timers 3 9\n neighbor ${x.addr} timers connect 1`).join('\n')}
 address-family ipv4 unicast
${o.v4 ? `  network ${o.v4}\n` : ''}${n.filter((x) => x.rrClient).map((x) => `  neighbor ${x.addr} route-reflector-client`).join('\n')}
 exit-address-family
 address-family ipv6 unicast
${o.v6 ? `  network ${o.v6}\n` : ''}${n.map((x) => `  neighbor ${x.addr} activate\n  neighbor ${x.addr} route-map NH6 out`).join('\n')}
${n.filter((x) => x.rrClient).map((x) => `  neighbor ${x.addr} route-reflector-client`).join('\n')}
 exit-address-family
line vty
`;
}

describe('interop: FRR', { skip }, () => {
  for (const mode of ['ebgp', 'ibgp'] as const) {
    test(`${mode}: IPv4 and IPv6 both ways, withdraw, session drop`, async () => {
      const lab = new Lab(mode === 'ebgp' ? 'fe' : 'fi');
      let f: Frr | undefined;
      try {
        const weftNs = lab.addNode('w', '198.18.0.1');
        const fNs = lab.addNode('f', '198.18.0.3');
        lab.addAddress6(weftNs, '2001:db8:ff::1');
        lab.addAddress6(fNs, '2001:db8:ff::3');
        const fAs = mode === 'ebgp' ? 65003 : 64512;
        f = new Frr(lab, fNs, '198.18.0.3', frrConf({ as: fAs, id: '198.18.0.3', neighbors: [{ addr: '198.18.0.1', as: 64512 }], v4: '203.0.113.0/24', v6: '2001:db8:203::/48' }));
        await f.ready();
        const frr = f;
        const w = new WeftChild(lab, weftNs, {
          speaker: { asn: 64512, routerId: '198.18.0.1', listen: { port: 179, address: '198.18.0.1' }, holdTime: 9, connectRetryTime: 1, nextHop6: '2001:db8:ff::1' },
          peers: [{ address: '198.18.0.3', asn: fAs, localAddress: '198.18.0.1' }],
          announce: ['192.0.2.0/24', '2001:db8:1::/48'],
        });
        await w.established('198.18.0.3');
        await until(() => w.routes.get('203.0.113.0/24') === '198.18.0.3' && w.routes.get('2001:db8:203::/48') === '2001:db8:ff::3', 'FRR routes at Weft');
        await until(() => frr.rib('ipv4').get('192.0.2.0/24') === '198.18.0.1' && frr.rib('ipv6').get('2001:db8:1::/48') === '2001:db8:ff::1', 'Weft routes at FRR');
        w.send({ cmd: 'withdraw', prefix: '2001:db8:1::/48' });
        await until(() => !frr.rib('ipv6').has('2001:db8:1::/48'), 'withdraw at FRR');
        f.vtysh('configure terminal\nrouter bgp ' + fAs + '\naddress-family ipv4 unicast\nno network 203.0.113.0/24');
        await until(() => !w.routes.has('203.0.113.0/24'), 'withdraw at Weft');
        f.vtysh(`configure terminal\nrouter bgp ${fAs}\nneighbor 198.18.0.1 shutdown`);
        await until(() => w.routes.size === 0, 'routes removed after session drop');
      } finally {
        await lab.cleanup();
        f?.cleanup();
      }
    });
  }

  test('Weft as route reflector between a BIRD client and an FRR client', async (t) => {
    if (!which('bird') && skipUnlessAllowed('bird not found')) return t.skip('bird not found');
    const lab = new Lab('rr');
    let f: Frr | undefined;
    let b: Bird | undefined;
    try {
      const weftNs = lab.addNode('w', '198.18.0.1');
      const bNs = lab.addNode('b', '198.18.0.2');
      const fNs = lab.addNode('f', '198.18.0.3');
      b = new Bird(lab, bNs, `
log stderr all;
router id 198.18.0.2;
protocol device { scan time 10; }
protocol direct { ipv4; interface "eth0"; }
protocol static s4 { ipv4; route 203.0.113.0/24 blackhole; }
protocol bgp upstream { local 198.18.0.2 as 64512; neighbor 198.18.0.1 as 64512; hold time 9; connect retry time 1; connect delay time 0;
  ipv4 { import all; export where source = RTS_STATIC; }; }
`);
      f = new Frr(lab, fNs, '198.18.0.3', frrConf({ as: 64512, id: '198.18.0.3', neighbors: [{ addr: '198.18.0.1', as: 64512 }], v4: '198.51.100.0/24' }));
      await b.ready();
      await f.ready();
      const w = new WeftChild(lab, weftNs, {
        speaker: { asn: 64512, routerId: '198.18.0.1', clusterId: '198.18.0.100', listen: { port: 179, address: '198.18.0.1' }, holdTime: 9, connectRetryTime: 1, families: ['ipv4'] },
        peers: [
          { address: '198.18.0.2', asn: 64512, rrClient: true, localAddress: '198.18.0.1' },
          { address: '198.18.0.3', asn: 64512, rrClient: true, localAddress: '198.18.0.1' },
        ],
      });
      await w.established('198.18.0.2');
      await w.established('198.18.0.3');
      const bird = b;
      const frr = f;
      await until(() => bird.routesFrom('upstream').includes('198.51.100.0/24'), 'FRR route reflected to BIRD');
      const d = bird.birdc('show route 198.51.100.0/24 all');
      assert.match(d, /BGP.originator_id: 198\.18\.0\.3/);
      assert.match(d, /BGP.cluster_list: 198\.18\.0\.100/);
      assert.match(d, /BGP.next_hop: 198\.18\.0\.3/);
      await until(() => frr.rib('ipv4').get('203.0.113.0/24') === '198.18.0.2', 'BIRD route reflected to FRR');
      const j = JSON.parse(frr.vtysh('show bgp ipv4 unicast 203.0.113.0/24 json')) as { paths: { originatorId?: string; clusterList?: { list: string[] } }[] };
      assert.equal(j.paths[0].originatorId, '198.18.0.2');
      assert.deepStrictEqual(j.paths[0].clusterList?.list, ['198.18.0.100']);
    } finally {
      await lab.cleanup();
      f?.cleanup();
      b?.cleanup();
    }
  });

  test('Weft as route-reflector client of FRR', async (t) => {
    if (!which('bird') && skipUnlessAllowed('bird not found')) return t.skip('bird not found');
    const lab = new Lab('rc');
    let f: Frr | undefined;
    let b: Bird | undefined;
    try {
      const weftNs = lab.addNode('w', '198.18.0.1');
      const bNs = lab.addNode('b', '198.18.0.2');
      const fNs = lab.addNode('f', '198.18.0.3');
      f = new Frr(lab, fNs, '198.18.0.3', frrConf({ as: 64512, id: '198.18.0.3', neighbors: [{ addr: '198.18.0.1', as: 64512, rrClient: true }, { addr: '198.18.0.2', as: 64512, rrClient: true }] }));
      b = new Bird(lab, bNs, `
log stderr all;
router id 198.18.0.2;
protocol device { scan time 10; }
protocol direct { ipv4; interface "eth0"; }
protocol static s4 { ipv4; route 203.0.113.0/24 blackhole; }
protocol bgp upstream { local 198.18.0.2 as 64512; neighbor 198.18.0.3 as 64512; hold time 9; connect retry time 1; connect delay time 0;
  ipv4 { import all; export where source = RTS_STATIC; }; }
`);
      await f.ready();
      await b.ready();
      const w = new WeftChild(lab, weftNs, {
        speaker: { asn: 64512, routerId: '198.18.0.1', listen: { port: 179, address: '198.18.0.1' }, holdTime: 9, connectRetryTime: 1, families: ['ipv4'] },
        peers: [{ address: '198.18.0.3', asn: 64512, localAddress: '198.18.0.1' }],
        announce: ['192.0.2.0/24'],
      });
      await w.established('198.18.0.3');
      const bird = b;
      await until(() => w.routes.get('203.0.113.0/24') === '198.18.0.2', 'BIRD route at Weft via the FRR reflector');
      await until(() => bird.routesFrom('upstream').includes('192.0.2.0/24'), 'Weft route at BIRD via the FRR reflector');
      const d = bird.birdc('show route 192.0.2.0/24 all');
      assert.match(d, /BGP.originator_id: 198\.18\.0\.1/);
      assert.match(d, /BGP.next_hop: 198\.18\.0\.1/);
    } finally {
      await lab.cleanup();
      f?.cleanup();
      b?.cleanup();
    }
  });
});
