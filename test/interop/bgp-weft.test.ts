/**
 * Weft ↔ Weft: a three-node iBGP full mesh as Calico builds it (the higher address of each pair is
 * passive), each node originating its block. Then one node freezes (SIGSTOP: TCP stays open, no
 * keepalives) and the others drop its routes when the hold timer expires.
 */
import { skipUnlessAllowed } from '../helpers/skip.ts';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, canUseNetns } from '../helpers/netns.ts';
import { WeftChild, until } from '../helpers/bgp.ts';

const skip = skipUnlessAllowed(canUseNetns() ?? false);

describe('interop: Weft node-to-node mesh', { skip }, () => {
  test('3-node mesh exchanges blocks; a frozen node is dropped after the hold time', async () => {
    const lab = new Lab('wm');
    try {
      const nodes = [
        { ip: '198.18.0.1', block: '192.0.2.0/26' },
        { ip: '198.18.0.2', block: '192.0.2.64/26' },
        { ip: '198.18.0.3', block: '192.0.2.128/26' },
      ];
      const children = nodes.map((n, i) => {
        const ns = lab.addNode(`n${i}`, n.ip);
        return new WeftChild(lab, ns, {
          speaker: { asn: 64512, routerId: n.ip, listen: { port: 179, address: n.ip }, holdTime: 3, connectRetryTime: 1, families: ['ipv4'] },
          peers: nodes.filter((m) => m.ip !== n.ip).map((m) => ({
            address: m.ip, asn: 64512, localAddress: n.ip, type: 'node-to-node mesh',
            // Calico: "passive on" towards peers with a lower address, so each pair dials once.
            passive: m.ip < n.ip,
          })),
          announce: [n.block],
        });
      });
      for (const [i, c] of children.entries()) {
        for (const [j, n] of nodes.entries()) {
          if (i === j) continue;
          await until(() => c.routes.get(n.block) === n.ip, `${nodes[i].ip} learns ${n.block} via ${n.ip}`);
        }
      }
      const st = await children[0].peerStates();
      assert.deepStrictEqual(st.map((s) => [s.type, s.state, s.prefixesReceived, s.prefixesAdvertised]), [
        ['node-to-node mesh', 'established', 1, 1], ['node-to-node mesh', 'established', 1, 1],
      ]);
      // Freeze node 3: its sessions stay open at TCP level but go silent.
      process.kill(children[2].pid, 'SIGSTOP');
      await until(() => !children[0].routes.has(nodes[2].block) && !children[1].routes.has(nodes[2].block), 'frozen node routes removed after hold time', 20_000);
      assert.ok(children[0].routes.has(nodes[1].block));
      const info = (await children[0].peerStates()).find((s) => s.address === nodes[2].ip)?.info ?? '';
      assert.match(info, /hold timer expired/);
      process.kill(children[2].pid, 'SIGCONT');
    } finally {
      await lab.cleanup();
    }
  });
});
