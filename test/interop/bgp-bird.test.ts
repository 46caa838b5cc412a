/**
 * Interop with BIRD 2 (Debian bird2): our speaker runs in a child process in one namespace, BIRD
 * in another, over a bridge on 198.18.0.0/24. IPv6 routes ride the IPv4 session (MP-BGP) with
 * next hops on a 2001:db8:ff::/64 link subnet.
 */
import { skipUnlessAllowed } from '../helpers/skip.ts';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, canUseNetns, which } from '../helpers/netns.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Bird, WeftChild, until } from '../helpers/bgp.ts';

const skip = skipUnlessAllowed(canUseNetns() ?? (which('bird') ? false : 'bird not found on PATH (apt-get install bird2)'));

function birdConf(o: { as: number; weftAs: number; gr?: boolean; extra?: string }): string {
  return `
log stderr all;
router id 198.18.0.2;
protocol device { scan time 10; }
protocol direct { ipv4; ipv6; interface "eth0"; }
protocol static s4 { ipv4; route 203.0.113.0/24 blackhole; }
protocol static s6 { ipv6; route 2001:db8:203::/48 blackhole; }
protocol bgp weft {
  local 198.18.0.2 as ${o.as};
  neighbor 198.18.0.1 as ${o.weftAs};
  hold time 9; keepalive time 3; connect retry time 1; connect delay time 0; error wait time 1, 5;
  graceful restart ${o.gr === false ? 'off' : 'on'};
  ipv4 { import all; export where source = RTS_STATIC; };
  ipv6 { import all; export where source = RTS_STATIC; next hop address 2001:db8:ff::2; };
  ${o.extra ?? ''}
}
`;
}

async function topo(t: string): Promise<{ lab: Lab; weftNs: string; birdNs: string }> {
  const lab = new Lab(t);
  const weftNs = lab.addNode('w', '198.18.0.1');
  const birdNs = lab.addNode('b', '198.18.0.2');
  lab.addAddress6(weftNs, '2001:db8:ff::1');
  lab.addAddress6(birdNs, '2001:db8:ff::2');
  return { lab, weftNs, birdNs };
}

function weft(lab: Lab, ns: string, peerAs: number, opts: { asn?: number; restarting?: boolean } = {}): WeftChild {
  return new WeftChild(lab, ns, {
    speaker: {
      asn: opts.asn ?? 64512, routerId: '198.18.0.1', listen: { port: 179, address: '198.18.0.1' }, holdTime: 9,
      connectRetryTime: 1, nextHop6: '2001:db8:ff::1',
      gracefulRestart: { restartTime: 60, restarting: !!opts.restarting },
    },
    peers: [{ address: '198.18.0.2', asn: peerAs, localAddress: '198.18.0.1' }],
    announce: ['192.0.2.0/24', '198.51.100.0/25', '2001:db8:1::/48'],
  });
}

describe('interop: BIRD 2', { skip }, () => {
  for (const mode of ['ebgp', 'ibgp'] as const) {
    test(`${mode}: IPv4 and IPv6 both ways, withdraw, session drop`, async () => {
      const { lab, weftNs, birdNs } = await topo(mode === 'ebgp' ? 'be' : 'bi');
      let bird: Bird | undefined;
      try {
        const birdAs = mode === 'ebgp' ? 65001 : 64512;
        bird = new Bird(lab, birdNs, birdConf({ as: birdAs, weftAs: 64512 }));
        await bird.ready();
        const w = weft(lab, weftNs, birdAs);
        await w.established('198.18.0.2');
        // BIRD → Weft
        await until(() => w.routes.get('203.0.113.0/24') === '198.18.0.2' && w.routes.get('2001:db8:203::/48') === '2001:db8:ff::2', 'BIRD routes at Weft');
        // Weft → BIRD
        const b = bird;
        await until(() => {
          const r = b.routesFrom('weft');
          return r.includes('192.0.2.0/24') && r.includes('198.51.100.0/25') && r.includes('2001:db8:1::/48');
        }, 'Weft routes at BIRD');
        const detail = bird.birdc('show route 192.0.2.0/24 all');
        assert.match(detail, /BGP.next_hop: 198\.18\.0\.1/);
        if (mode === 'ebgp') assert.match(detail, /BGP.as_path: 64512/);
        else assert.match(detail, /BGP.local_pref: 100/);
        assert.match(bird.birdc('show route 2001:db8:1::/48 all'), /2001:db8:ff::1/);
        const st = (await w.peerStates())[0];
        assert.equal(st.state, 'established');
        assert.equal(st.prefixesReceived, 2);
        assert.equal(st.prefixesAdvertised, 3);
        // Withdraw from Weft
        w.send({ cmd: 'withdraw', prefix: '198.51.100.0/25' });
        await until(() => !b.routesFrom('weft').includes('198.51.100.0/25'), 'withdraw at BIRD');
        // Withdraw from BIRD (drop the static route)
        bird.configure(birdConf({ as: birdAs, weftAs: 64512 }).replace('route 203.0.113.0/24 blackhole;', ''));
        await until(() => !w.routes.has('203.0.113.0/24'), 'withdraw at Weft');
        assert.ok(w.routes.has('2001:db8:203::/48'));
        // Session drop (administrative: NOTIFICATION Cease, so no graceful-restart retention)
        bird.birdc('disable weft');
        await until(() => w.routes.size === 0, 'routes removed after session drop');
        await until(() => w.lastPeerState('198.18.0.2')?.state !== 'established', 'session down');
        bird.birdc('enable weft');
        await w.established('198.18.0.2');
        await until(() => w.routes.has('2001:db8:203::/48'), 'routes back after re-enable');
      } finally {
        await lab.cleanup();
        bird?.cleanup();
      }
    });
  }

  test('wrong peer AS gets OPEN error Bad Peer AS (2/2)', async () => {
    const { lab, weftNs, birdNs } = await topo('bw');
    let bird: Bird | undefined;
    try {
      bird = new Bird(lab, birdNs, birdConf({ as: 65001, weftAs: 64512 }));
      await bird.ready();
      const w = weft(lab, weftNs, 65002); // we expect 65002, BIRD is 65001
      const b = bird;
      await until(() => /Bad peer AS/i.test(b.birdc('show protocols all weft')), 'BIRD reports Bad peer AS');
      const st = await until(() => w.lastPeerState('198.18.0.2'), 'weft state');
      assert.notEqual(st.state, 'established');
      assert.match((await w.peerStates())[0].info, /bad-peer-as/);
    } finally {
      await lab.cleanup();
      bird?.cleanup();
    }
  });

  test('graceful restart: BIRD keeps our routes while Weft restarts (RFC 4724)', async () => {
    const { lab, weftNs, birdNs } = await topo('bg');
    let bird: Bird | undefined;
    try {
      bird = new Bird(lab, birdNs, birdConf({ as: 65001, weftAs: 64512, extra: 'graceful restart time 60;' }));
      await bird.ready();
      const w1 = weft(lab, weftNs, 65001);
      await w1.established('198.18.0.2');
      const b = bird;
      await until(() => b.routesFrom('weft').includes('192.0.2.0/24'), 'route at BIRD');
      w1.kill('SIGKILL'); // the agent dies: no NOTIFICATION, TCP reset
      await w1.exited();
      // BIRD notices the loss (socket closed) and keeps the routes, flagged stale.
      await until(() => /Graceful restart|Connect|Active|Idle/.test(b.birdc('show protocols weft')) && !/Established/.test(b.birdc('show protocols weft')), 'BIRD sees session loss', 20_000);
      assert.ok(bird.routesFrom('weft').includes('192.0.2.0/24'), 'route kept during restart');
      const w2 = weft(lab, weftNs, 65001, { restarting: true });
      await w2.established('198.18.0.2', 30_000);
      await until(() => b.routesFrom('weft').includes('192.0.2.0/24') && !/stale/i.test(b.birdc('show route 192.0.2.0/24 all')), 'route refreshed after restart');
    } finally {
      await lab.cleanup();
      bird?.cleanup();
    }
  });

  test('graceful restart helper: Weft keeps a restarting BIRD\'s routes as stale, sweeps after End-of-RIB', async () => {
    const { lab, weftNs, birdNs } = await topo('bh');
    let bird: Bird | undefined;
    let bird2: Bird | undefined;
    try {
      const conf = birdConf({ as: 65001, weftAs: 64512, extra: 'graceful restart time 30;' });
      bird = new Bird(lab, birdNs, conf);
      await bird.ready();
      const w = weft(lab, weftNs, 65001);
      await w.established('198.18.0.2');
      await until(() => w.routes.has('203.0.113.0/24') && w.routes.has('2001:db8:203::/48'), 'BIRD routes at Weft');
      // BIRD dies without a NOTIFICATION (SIGKILL): Weft must keep its routes, marked stale.
      const pid = Number(readFileSync(join(bird.dir, 'bird.pid'), 'utf8').trim());
      process.kill(pid, 'SIGKILL');
      await until(() => w.lastPeerState('198.18.0.2')?.state !== 'established', 'Weft sees the session drop', 20_000);
      const s1 = (await w.peerStates())[0];
      assert.equal(s1.prefixesStale, 2);
      assert.ok(w.routes.has('203.0.113.0/24'), 'route kept while the peer restarts');
      // BIRD comes back announcing only the IPv6 route: after its End-of-RIB the IPv4 one is swept.
      bird2 = new Bird(lab, birdNs, conf.replace('route 203.0.113.0/24 blackhole;', ''));
      await bird2.ready();
      await until(() => !w.routes.has('203.0.113.0/24'), 'stale IPv4 route swept after End-of-RIB', 30_000);
      assert.ok(w.routes.has('2001:db8:203::/48'));
      const s2 = (await w.peerStates())[0];
      assert.equal(s2.state, 'established');
      assert.equal(s2.prefixesStale, 0);
    } finally {
      await lab.cleanup();
      bird?.cleanup();
      bird2?.cleanup();
    }
  });
});
