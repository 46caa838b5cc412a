/** Interop with GoBGP (Debian gobgpd): eBGP and iBGP, IPv4 and IPv6 both ways, withdraw, drop. */
import { skipUnlessAllowed } from '../helpers/skip.ts';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, canUseNetns, which } from '../helpers/netns.ts';
import { GoBgp, WeftChild, until } from '../helpers/bgp.ts';

const skip = skipUnlessAllowed(canUseNetns() ?? (which('gobgpd') && which('gobgp') ? false : 'gobgpd not found on PATH (apt-get install gobgpd)'));

function toml(as: number, weftAs: number): string {
  return `
[global.config]
  as = ${as}
  router-id = "198.18.0.2"
  port = 179
  local-address-list = ["198.18.0.2"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.0.1"
    peer-as = ${weftAs}
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
`;
}

describe('interop: GoBGP', { skip }, () => {
  for (const mode of ['ebgp', 'ibgp'] as const) {
    test(`${mode}: IPv4 and IPv6 both ways, withdraw, session drop`, async () => {
      const lab = new Lab(mode === 'ebgp' ? 'ge' : 'gi');
      let g: GoBgp | undefined;
      try {
        const weftNs = lab.addNode('w', '198.18.0.1');
        const gNs = lab.addNode('g', '198.18.0.2');
        lab.addAddress6(weftNs, '2001:db8:ff::1');
        lab.addAddress6(gNs, '2001:db8:ff::2');
        const gAs = mode === 'ebgp' ? 65002 : 64512;
        g = new GoBgp(lab, gNs, toml(gAs, 64512));
        await g.ready();
        const gob = g;
        g.gobgp(['global', 'rib', 'add', '203.0.113.0/24', 'nexthop', '198.18.0.2', '-a', 'ipv4']);
        g.gobgp(['global', 'rib', 'add', '2001:db8:203::/48', 'nexthop', '2001:db8:ff::2', '-a', 'ipv6']);
        const w = new WeftChild(lab, weftNs, {
          speaker: { asn: 64512, routerId: '198.18.0.1', listen: { port: 179, address: '198.18.0.1' }, holdTime: 9, connectRetryTime: 1, nextHop6: '2001:db8:ff::1' },
          peers: [{ address: '198.18.0.2', asn: gAs, localAddress: '198.18.0.1' }],
          announce: ['192.0.2.0/24', '2001:db8:1::/48'],
        });
        await w.established('198.18.0.2');
        await until(() => w.routes.get('203.0.113.0/24') === '198.18.0.2' && w.routes.has('2001:db8:203::/48'), 'GoBGP routes at Weft');
        assert.equal(w.routes.get('2001:db8:203::/48'), '2001:db8:ff::2');
        await until(() => gob.rib('ipv4').get('192.0.2.0/24') === '198.18.0.1' && gob.rib('ipv6').has('2001:db8:1::/48'), 'Weft routes at GoBGP');
        assert.equal(gob.rib('ipv6').get('2001:db8:1::/48'), '2001:db8:ff::1');
        w.send({ cmd: 'withdraw', prefix: '192.0.2.0/24' });
        await until(() => !gob.rib('ipv4').has('192.0.2.0/24'), 'withdraw at GoBGP');
        g.gobgp(['global', 'rib', 'del', '203.0.113.0/24', '-a', 'ipv4']);
        await until(() => !w.routes.has('203.0.113.0/24'), 'withdraw at Weft');
        g.gobgp(['neighbor', '198.18.0.1', 'disable']);
        await until(() => w.routes.size === 0, 'routes removed after session drop');
      } finally {
        await lab.cleanup();
        g?.cleanup();
      }
    });
  }
});
