/**
 * e2e: a lab on an etcd the lab starts (inside its underlay namespace): two hosts, agents on etcd,
 * cross-host connectivity and a policy deny.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { labDown, labUp, loadTopologyText } from '../../src/lab/index.ts';
import { listNetns, netnsSkipReason, ping, probe, startListener, which } from '../helpers/netns.ts';

const skip = netnsSkipReason() || (which('etcd') ? false : 'etcd not found on PATH');

describe('lab e2e: etcd datastore', { skip }, () => {
  test('agents on the lab etcd route and enforce policy', { timeout: 300_000 }, async () => {
    const name = `t${process.pid.toString(36)}`.slice(0, 12);
    const stateRoot = mkdtempSync(join(tmpdir(), 'weft-lab-e2e-'));
    const children: ChildProcess[] = [];
    try {
      const s = await labUp(loadTopologyText(`
name: ${name}
datastore: etcd
hosts: [{name: h1}, {name: h2}]
pools: [{cidr: 198.51.100.0/24, blockSize: 26}]
resources:
  - {apiVersion: projectcalico.org/v3, kind: GlobalNetworkPolicy, metadata: {name: no-81}, spec: {selector: all(), types: [Ingress], ingress: [{action: Deny, protocol: TCP, destination: {ports: [81]}}, {action: Pass}]}}
workloads:
  - {name: a, host: h1, ip: 198.51.100.10}
  - {name: b, host: h2, ip: 198.51.100.70}
`), { stateRoot, readyTimeoutMs: 90_000 });
      assert.match(s.datastore, /^etcd:\/\/198\.18\.0\.254:2379$/);
      const nsOf = (w: string): string => s.workloads.find((x) => x.name === w)!.ns;
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++) ok = ping(nsOf('a'), '198.51.100.70');
      assert.ok(ok, 'a (h1) → b (h2)');
      children.push(await startListener(nsOf('b'), 80), await startListener(nsOf('b'), 81));
      assert.ok(probe(nsOf('a'), '198.51.100.70', 80), 'tcp/80 allowed');
      assert.equal(probe(nsOf('a'), '198.51.100.70', 81, { timeoutMs: 800 }), false, 'tcp/81 denied');
    } finally {
      for (const c of children) c.kill('SIGKILL');
      await labDown(name, { stateRoot });
      rmSync(stateRoot, { recursive: true, force: true });
      assert.deepEqual(listNetns(`weft-${name}-`), []);
    }
  });
});
