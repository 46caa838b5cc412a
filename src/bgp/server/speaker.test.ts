import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { Registry } from 'prom-client';
import { BgpSpeaker } from './index.ts';
import { BgpFramer, decodeMessage, DEFAULT_CONTEXT } from '../packet/index.ts';
import type { OpenMessage } from '../packet/index.ts';

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('server: two speakers over loopback TCP', () => {
  test('eBGP: routes both ways (IPv4 + IPv6), withdraw, session loss removes routes', async () => {
    const registry = new Registry();
    const a = new BgpSpeaker({ asn: 64512, routerId: '198.18.0.1', listen: { port: 0, address: '127.0.0.1' }, holdTime: 9, nextHop6: '2001:db8::1', registry });
    await a.start();
    const b = new BgpSpeaker({ asn: 65001, routerId: '198.18.0.2', listen: false, holdTime: 9, connectRetryTime: 1, nextHop6: '2001:db8::2' });
    try {
      a.addPeer({ address: '127.0.0.2', asn: 65001, passive: true, type: 'global' });
      b.addPeer({ address: '127.0.0.1', asn: 64512, port: a.port, localAddress: '127.0.0.2' });
      const gotB = new Map<string, string>();
      b.on('routeAdded', (p, nh) => gotB.set(p, nh));
      b.on('routeRemoved', (p) => gotB.delete(p));
      const gotA = new Map<string, string>();
      a.on('routeAdded', (p, nh) => gotA.set(p, nh));
      a.on('routeRemoved', (p) => gotA.delete(p));
      a.announce('192.0.2.0/24');
      a.announce('2001:db8:1::/48');
      b.announce('198.51.100.0/24');
      const synced = once(b, 'synced');
      await b.start();
      await until(() => gotB.size === 2 && gotA.size === 1, 'routes');
      assert.equal(gotB.get('192.0.2.0/24'), '127.0.0.1');
      assert.equal(gotB.get('2001:db8:1::/48'), '2001:db8::1');
      assert.equal(gotA.get('198.51.100.0/24'), '127.0.0.2');
      // Without graceful restart no End-of-RIB is owed: synced as soon as every peer is up.
      assert.deepStrictEqual(await synced, [{ timedOut: false }]);
      const st = a.peerStates()[0];
      assert.equal(st.state, 'established');
      assert.equal(st.type, 'global');
      assert.equal(st.prefixesReceived, 1);
      assert.equal(st.prefixesAdvertised, 2);
      const metrics = await registry.metrics();
      assert.match(metrics, /weft_bgp_peers\{state="established"\} 1/);
      assert.match(metrics, /weft_bgp_prefixes_received\{peer="127.0.0.2"\} 1/);
      a.withdraw('192.0.2.0/24');
      await until(() => !gotB.has('192.0.2.0/24'), 'withdraw');
      const removed = once(a, 'routeRemoved');
      await b.stop();
      const [prefix] = await removed;
      assert.equal(prefix, '198.51.100.0/24');
      await until(() => a.peerStates()[0].state !== 'established', 'session down');
      assert.match(a.peerStates()[0].info, /administrative-shutdown/);
    } finally {
      await b.stop();
      await a.stop();
    }
  });

  test('wrong AS is refused with Bad Peer AS and shown in peerStates', async () => {
    const a = new BgpSpeaker({ asn: 64512, routerId: '198.18.0.1', listen: { port: 0, address: '127.0.0.1' } });
    await a.start();
    const b = new BgpSpeaker({ asn: 65001, routerId: '198.18.0.2', listen: false, connectRetryTime: 1 });
    try {
      a.addPeer({ address: '127.0.0.3', asn: 65002, passive: true });
      b.addPeer({ address: '127.0.0.1', asn: 64512, port: a.port, localAddress: '127.0.0.3' });
      await b.start();
      await until(() => /bad-peer-as/.test(b.peerStates()[0].info), 'notification at b');
      assert.match(a.peerStates()[0].info, /bad-peer-as/);
    } finally {
      await b.stop();
      await a.stop();
    }
  });

  test('per-peer graceful-restart time: each peer is sent its own Restart Time, others the speaker default', async () => {
    const socks: net.Socket[] = [];
    /** Connects to `sp` from `from` as that peer; the graceful-restart capability of the OPEN it is sent first. */
    const grSentTo = async (sp: BgpSpeaker, from: string): Promise<{ restartTime: number; restartState: boolean } | undefined> => {
      const s = net.connect({ host: '127.0.0.1', port: sp.port, localAddress: from });
      socks.push(s);
      const framer = new BgpFramer();
      for await (const chunk of s) {
        const msgs = framer.push(chunk as Buffer);
        if (msgs.length === 0) continue;
        const m = decodeMessage(msgs[0], DEFAULT_CONTEXT) as OpenMessage;
        return m.capabilities.find((c) => c.code === 64) as { restartTime: number; restartState: boolean } | undefined;
      }
      throw new Error('closed before OPEN');
    };
    const a = new BgpSpeaker({ asn: 64512, routerId: '198.18.0.1', listen: { port: 0, address: '127.0.0.1' }, gracefulRestart: { restartTime: 120 } });
    // A per-peer restart time advertises the capability even when the speaker itself has none.
    const c = new BgpSpeaker({ asn: 64512, routerId: '198.18.0.1', listen: { port: 0, address: '127.0.0.1' } });
    try {
      await a.start();
      await c.start();
      a.addPeer({ address: '127.0.0.5', asn: 65001, passive: true, restartTime: 77 });
      a.addPeer({ address: '127.0.0.6', asn: 65002, passive: true });
      c.addPeer({ address: '127.0.0.7', asn: 65001, passive: true, restartTime: 30 });
      c.addPeer({ address: '127.0.0.8', asn: 65001, passive: true });
      assert.deepStrictEqual(await grSentTo(a, '127.0.0.5'), { code: 64, restartState: false, restartTime: 77, families: [{ afi: 1, safi: 1, forwardingPreserved: false }, { afi: 2, safi: 1, forwardingPreserved: false }] });
      assert.equal((await grSentTo(a, '127.0.0.6'))?.restartTime, 120);
      assert.equal((await grSentTo(c, '127.0.0.7'))?.restartTime, 30);
      assert.equal(await grSentTo(c, '127.0.0.8'), undefined);
    } finally {
      for (const s of socks) s.destroy();
      await a.stop();
      await c.stop();
    }
  });

  test('allowLocalAs per peer: one occurrence of our AS accepted, two dropped', async () => {
    const a = new BgpSpeaker({ asn: 64512, routerId: '198.18.0.1', listen: { port: 0, address: '127.0.0.1' } });
    await a.start();
    const b = new BgpSpeaker({ asn: 65001, routerId: '198.18.0.9', listen: false, connectRetryTime: 1, families: ['ipv4'] });
    try {
      a.addPeer({ address: '127.0.0.9', asn: 65001, passive: true, allowLocalAs: 1 });
      b.addPeer({ address: '127.0.0.1', asn: 64512, port: a.port, localAddress: '127.0.0.9' });
      b.announce('203.0.113.0/24');
      b.announce('192.0.2.0/24', { asPath: [{ type: 2, asns: [64512] }] }); // arrives as 65001 64512
      b.announce('198.51.100.0/24', { asPath: [{ type: 2, asns: [64512, 64512] }] }); // 65001 64512 64512
      const eor = once(a, 'endOfRib'); // b's initial table is complete once its End-of-RIB arrives
      await b.start();
      await eor;
      assert.deepStrictEqual(a.routes().map((r) => r.prefix).sort(), ['192.0.2.0/24', '203.0.113.0/24']);
    } finally {
      await b.stop();
      await a.stop();
    }
  });

  test('graceful restart: synced waits for End-of-RIB of every family', async () => {
    const gr = { restartTime: 30 };
    const a = new BgpSpeaker({ asn: 64512, routerId: '198.18.0.1', listen: { port: 0, address: '127.0.0.1' }, gracefulRestart: gr, nextHop6: '2001:db8::1' });
    await a.start();
    const b = new BgpSpeaker({ asn: 64512, routerId: '198.18.0.4', listen: false, connectRetryTime: 1, gracefulRestart: { ...gr, restarting: true } });
    try {
      a.addPeer({ address: '127.0.0.4', asn: 64512, passive: true });
      b.addPeer({ address: '127.0.0.1', asn: 64512, port: a.port, localAddress: '127.0.0.4' });
      a.announce('192.0.2.0/24');
      const eors: number[] = [];
      b.on('endOfRib', (_p, afi) => eors.push(afi));
      const synced = once(b, 'synced');
      await b.start();
      assert.deepStrictEqual(await synced, [{ timedOut: false }]);
      assert.deepStrictEqual(eors.sort(), [1, 2]);
      // The route arrived before the IPv4 End-of-RIB.
      assert.equal(b.routes()[0]?.prefix, '192.0.2.0/24');
    } finally {
      await b.stop();
      await a.stop();
    }
  });
});
