/**
 * e2e: a 2-host lab (agents on one SQLite file), 2 workloads per host. Cross-host pings via the
 * routes the agents program for each other's IPAM blocks; a GlobalNetworkPolicy denies TCP/80 from
 * `role == bad` to `role == web` (not ICMP, not other ports) and removing it restores traffic;
 * `kill -9` of an agent loses no packets and the restarted agent does not rewrite the ruleset.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { labDown, labUp, loadTopologyText, startAgent, stopAgent, waitProgrammed, type LabState } from '../../src/lab/index.ts';
import { SqliteBackend } from '../../src/datastore/index.ts';
import { ResourceClient } from '../../src/api/index.ts';
import { listNetns, netnsSkipReason, nsExec, ping, probe, startListener } from '../helpers/netns.ts';

const TOPOLOGY = (name: string): string => `
name: ${name}
hosts: [{name: h1}, {name: h2}]
pools: [{cidr: 192.0.2.0/24, blockSize: 26}]
resources:
  - {apiVersion: projectcalico.org/v3, kind: Profile, metadata: {name: p1}, spec: {ingress: [{action: Allow}], egress: [{action: Allow}]}}
  - apiVersion: projectcalico.org/v3
    kind: GlobalNetworkPolicy
    metadata: {name: deny-80-from-bad}
    spec:
      selector: role == 'web'
      types: [Ingress]
      ingress:
        - {action: Deny, protocol: TCP, source: {selector: role == 'bad'}, destination: {ports: [80]}}
        - {action: Pass}
workloads:
  - {name: w1, host: h1, ip: 192.0.2.2, labels: {role: bad}, profiles: [p1]}
  - {name: w2, host: h1, ip: 192.0.2.3, labels: {role: good}, profiles: [p1]}
  - {name: w3, host: h2, ip: 192.0.2.66, labels: {role: web}, profiles: [p1]}
  - {name: w4, host: h2, labels: {role: db}, profiles: [p1]}
`;

async function eventually(what: string, fn: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const ns = (s: LabState, w: string): string => s.workloads.find((x) => x.name === w)!.ns;

describe('lab e2e: two hosts, SQLite, routes + policy', { skip: netnsSkipReason() }, () => {
  test('cross-host connectivity, policy enforcement, policy removal, kill -9 restart', { timeout: 300_000 }, async () => {
    const name = `e${process.pid.toString(36)}`.slice(0, 12);
    const stateRoot = mkdtempSync(join(tmpdir(), 'weft-lab-e2e-'));
    const children: ChildProcess[] = [];
    try {
      const s = await labUp(loadTopologyText(TOPOLOGY(name)), { stateRoot, readyTimeoutMs: 90_000 });
      const w4ip = s.workloads.find((w) => w.name === 'w4')!.ipv4[0]!.split('/')[0]!;
      assert.ok(w4ip.startsWith('192.0.2.'));

      // Same host and across hosts.
      await eventually('w1 → w2 (same host)', () => ping(ns(s, 'w1'), '192.0.2.3'));
      await eventually('w1 → w3 (h1 → h2)', () => ping(ns(s, 'w1'), '192.0.2.66'));
      await eventually('w3 → w2 (h2 → h1)', () => ping(ns(s, 'w3'), '192.0.2.3'));
      await eventually('w2 → w4 (IPAM address)', () => ping(ns(s, 'w2'), w4ip));

      children.push(await startListener(ns(s, 'w3'), 80), await startListener(ns(s, 'w3'), 81), await startListener(ns(s, 'w4'), 80));
      // Policy: TCP/80 from role=bad to role=web is denied; ICMP, other ports, other sources pass.
      assert.equal(probe(ns(s, 'w1'), '192.0.2.66', 80, { timeoutMs: 800 }), false, 'bad → web tcp/80 denied');
      assert.ok(probe(ns(s, 'w1'), '192.0.2.66', 81), 'bad → web tcp/81 allowed');
      assert.ok(probe(ns(s, 'w2'), '192.0.2.66', 80), 'good → web tcp/80 allowed');
      assert.ok(probe(ns(s, 'w1'), w4ip, 80), 'bad → db tcp/80 allowed (policy does not select db)');
      assert.ok(ping(ns(s, 'w1'), '192.0.2.66'), 'bad → web ICMP allowed');

      // kill -9 the agent of h2 while a ping runs: the kernel state stays, nothing is lost, and
      // the restarted agent reconverges without rewriting the ruleset (same rule handles).
      const h2 = s.hosts.find((h) => h.name === 'h2')!;
      const handles = (): string => nsExec(h2.ns, ['nft', '-a', 'list', 'chain', 'inet', 'weft', 'filter-forward']);
      const before = handles();
      const pinger = spawn('ip', ['netns', 'exec', ns(s, 'w1'), 'ping', '-n', '-q', '-i', '0.1', '-c', '40', '192.0.2.66'], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(pinger);
      let out = '';
      pinger.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
      const pingDone = new Promise<void>((r) => pinger.once('exit', () => r()));
      await new Promise((r) => setTimeout(r, 500));
      await stopAgent(s, h2, 'SIGKILL');
      startAgent(s, h2);
      await pingDone;
      const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
      assert.ok(m, out);
      assert.ok(Number(m[1]) - Number(m[2]) <= 10, `lost ${Number(m[1]) - Number(m[2])} of ${m[1]} (≤ 1 s allowed)`);
      await waitProgrammed(s, 60_000);
      assert.equal(handles(), before, 'restarted agent did not rewrite filter-forward');

      // Removing the policy restores tcp/80 from bad → web.
      const backend = new SqliteBackend({ path: s.dbPath });
      try {
        await new ResourceClient(backend).delete({ kind: 'GlobalNetworkPolicy', name: 'deny-80-from-bad' });
      } finally {
        await backend.close();
      }
      await eventually('bad → web tcp/80 after policy removal', () => probe(ns(s, 'w1'), '192.0.2.66', 80));
    } finally {
      for (const c of children) c.kill('SIGKILL');
      await labDown(name, { stateRoot });
      rmSync(stateRoot, { recursive: true, force: true });
      assert.deepEqual(listNetns(`weft-${name}-`), [], 'lab left namespaces behind');
    }
  });
});
