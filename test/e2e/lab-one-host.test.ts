/**
 * e2e acceptance: one host, three workloads in a pool from 192.0.2.0/24. Connectivity is allowed
 * by their profile; a (namespaced) NetworkPolicy denying TCP/80 from one label is enforced for TCP
 * and not for ICMP; removing it restores traffic. Also: workload → host is dropped by default
 * except failsafe ports, and a deleted rule / route is repaired by the agent's periodic resync.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { labDown, labUp, loadTopologyText, type LabState } from '../../src/lab/index.ts';
import { SqliteBackend } from '../../src/datastore/index.ts';
import { ResourceClient } from '../../src/api/index.ts';
import { listNetns, netnsSkipReason, nsExec, ping, probe, startListener } from '../helpers/netns.ts';

const TOPOLOGY = (name: string): string => `
name: ${name}
hosts: [{name: h1}]
pools: [{cidr: 192.0.2.0/24, blockSize: 26}]
resources:
  - {apiVersion: projectcalico.org/v3, kind: Profile, metadata: {name: web-ok}, spec: {ingress: [{action: Allow}], egress: [{action: Allow}]}}
  - apiVersion: projectcalico.org/v3
    kind: NetworkPolicy
    metadata: {name: no-80-from-untrusted, namespace: default}
    spec:
      selector: app == 'server'
      ingress:
        - {action: Deny, protocol: TCP, source: {selector: trust == 'no'}, destination: {ports: [80]}}
        - {action: Allow}
workloads:
  - {name: srv, host: h1, ip: 192.0.2.10, labels: {app: server}, profiles: [web-ok]}
  - {name: good, host: h1, ip: 192.0.2.11, labels: {trust: 'yes'}, profiles: [web-ok]}
  - {name: bad, host: h1, ip: 192.0.2.12, labels: {trust: 'no'}, profiles: [web-ok]}
`;

async function eventually(what: string, fn: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const ns = (s: LabState, w: string): string => s.workloads.find((x) => x.name === w)!.ns;

describe('lab e2e: one host, NetworkPolicy', { skip: netnsSkipReason() }, () => {
  test('profile connectivity, TCP/80 deny by label (not ICMP), removal, host protection, drift repair', { timeout: 300_000 }, async () => {
    const name = `o${process.pid.toString(36)}`.slice(0, 12);
    const stateRoot = mkdtempSync(join(tmpdir(), 'weft-lab-e2e-'));
    const children: ChildProcess[] = [];
    try {
      const s = await labUp(loadTopologyText(TOPOLOGY(name)), { stateRoot, readyTimeoutMs: 90_000, refreshIntervalSecs: 3 });
      children.push(await startListener(ns(s, 'srv'), 80), await startListener(ns(s, 'srv'), 8080));
      const h1 = s.hosts[0]!;
      children.push(await startListener(h1.ns, 22), await startListener(h1.ns, 9999));

      await eventually('good → srv ICMP', () => ping(ns(s, 'good'), '192.0.2.10'));
      assert.ok(probe(ns(s, 'good'), '192.0.2.10', 80), 'good → srv tcp/80');
      assert.equal(probe(ns(s, 'bad'), '192.0.2.10', 80, { timeoutMs: 800 }), false, 'bad → srv tcp/80 denied');
      assert.ok(probe(ns(s, 'bad'), '192.0.2.10', 8080), 'bad → srv tcp/8080 allowed');
      assert.ok(ping(ns(s, 'bad'), '192.0.2.10'), 'bad → srv ICMP allowed');
      assert.ok(ping(ns(s, 'srv'), '192.0.2.12'), 'srv → bad ICMP (profile)');

      // Workload → host: default drop, failsafe tcp/22 allowed.
      assert.equal(probe(ns(s, 'good'), '198.18.0.1', 9999, { timeoutMs: 800 }), false, 'workload → host tcp/9999 dropped');
      assert.ok(probe(ns(s, 'good'), '198.18.0.1', 22), 'workload → host tcp/22 (failsafe)');

      // Drift: delete srv's route and the policy chain's rules by hand; the agent's resync (3 s) repairs.
      const srvIf = s.workloads.find((w) => w.name === 'srv')!.iface;
      nsExec(h1.ns, ['ip', 'route', 'del', '192.0.2.10/32']);
      nsExec(h1.ns, ['nft', 'flush', 'chain', 'inet', 'weft', `tw-${srvIf}`]);
      await eventually('route and chain repaired by resync', () =>
        nsExec(h1.ns, ['ip', 'route', 'show', '192.0.2.10']).includes(srvIf) &&
        nsExec(h1.ns, ['nft', 'list', 'chain', 'inet', 'weft', `tw-${srvIf}`]).includes('drop'));
      assert.equal(probe(ns(s, 'bad'), '192.0.2.10', 80, { timeoutMs: 800 }), false, 'deny enforced again after repair');

      const backend = new SqliteBackend({ path: s.dbPath });
      try {
        await new ResourceClient(backend).delete({ kind: 'NetworkPolicy', name: 'no-80-from-untrusted', namespace: 'default' });
      } finally {
        await backend.close();
      }
      await eventually('bad → srv tcp/80 after removal', () => probe(ns(s, 'bad'), '192.0.2.10', 80));
    } finally {
      for (const c of children) c.kill('SIGKILL');
      await labDown(name, { stateRoot });
      rmSync(stateRoot, { recursive: true, force: true });
      assert.deepEqual(listNetns(`weft-${name}-`), [], 'lab left namespaces behind');
    }
  });
});
