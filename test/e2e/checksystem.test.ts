/**
 * Issue 11 acceptance: each seed failure reproduced in a lab host, `weft node checksystem` naming it
 * with its fix and exiting 1, then exiting 0 once fixed. An etcd lab, as in seed 002:
 *   - DATASTORE_TYPE=etcdv3 without ETCD_ENDPOINTS ("no etcd endpoints specified");
 *   - the host's default route removed (seed 001's "100 % packet loss": no route covering 169.254.1.1);
 *   - TCP 179 dropped between the two hosts in the underlay.
 * (The Docker plugin spec case runs in docker-lab.test.ts, which has dockerd.)
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { netnsSkipReason, nsExec, which } from '../helpers/netns.ts';
import { withLab } from '../helpers/lab.ts';
import { checksystemIn, failures, type CheckRun } from '../helpers/checksystem.ts';

const skip = netnsSkipReason() || (which('etcd') ? false : 'etcd not found on PATH');
const ETCD = { DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: 'http://198.18.0.254:2379' };

function failed(c: CheckRun, name: string): { evidence: string; hint?: string } {
  const f = c.report.checks.find((x) => x.name === name && x.status === 'fail');
  assert.ok(f, `${name} should FAIL:\n${c.text}`);
  return f;
}

/** Waits (bounded) until checksystem exits 0: BGP needs a ConnectRetry to come back. */
async function untilClean(ns: string, node: string): Promise<CheckRun> {
  let c = checksystemIn(ns, node, { env: ETCD });
  for (let i = 0; i < 60 && c.code !== 0; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    c = checksystemIn(ns, node, { env: ETCD });
  }
  return c;
}

describe('checksystem in lab hosts (seed failures)', { skip }, () => {
  test('names each failure with its fix, exits 1, and 0 once fixed', { timeout: 400_000 }, async () => {
    await withLab(`cs${process.pid.toString(36)}`.slice(0, 12), (name) => `
name: ${name}
datastore: etcd
hosts: [{name: h1}, {name: h2}]
pools: [{cidr: 198.51.100.0/24, blockSize: 26}]
resources:
  - {apiVersion: projectcalico.org/v3, kind: Profile, metadata: {name: p1}, spec: {ingress: [{action: Allow}], egress: [{action: Allow}]}}
workloads:
  - {name: a, host: h1, ip: 198.51.100.10, profiles: [p1]}
  - {name: b, host: h2, ip: 198.51.100.70, profiles: [p1]}
`, { dumpLogsOf: ['h1', 'h2'] }, async (lab) => {
      const h1 = lab.host('h1').ns;
      const clean = await untilClean(h1, 'h1');
      assert.equal(clean.code, 0, `a healthy lab host:\n${failures(clean)}\n${clean.text}`);
      for (const n of ['datastore-reachable', 'agent-status', 'weft-table', 'proxy-arp-gateway-route', 'bgp-peer-tcp', 'bgp-sessions', 'routes-to-other-hosts']) {
        assert.ok(clean.report.checks.some((c) => c.name === n && c.status === 'ok'), `${n} ok:\n${clean.text}`);
      }

      // Seed 002: DATASTORE_TYPE=etcdv3, ETCD_ENDPOINTS unset.
      const noEp = checksystemIn(h1, 'h1', { env: { DATASTORE_TYPE: 'etcdv3' } });
      assert.equal(noEp.code, 1);
      const f = failed(noEp, 'datastore-config');
      assert.match(f.evidence, /no etcd endpoints specified/);
      assert.match(f.hint ?? '', /ETCD_ENDPOINTS/);

      // Seed 001: no default route → no route covering the proxy-ARP gateway.
      nsExec(h1, ['ip', 'route', 'del', 'default']);
      try {
        const noGw = checksystemIn(h1, 'h1', { env: ETCD });
        assert.equal(noGw.code, 1);
        assert.match(failed(noGw, 'proxy-arp-gateway-route').hint ?? '', /default route/);
      } finally {
        nsExec(h1, ['ip', 'route', 'add', 'default', 'via', '198.18.0.254']);
      }
      const back = checksystemIn(h1, 'h1', { env: ETCD });
      assert.equal(back.code, 0, failures(back));

      // TCP 179 dropped on the underlay bridge between the hosts.
      const ul = lab.state.underlay;
      const nft = (script: string): void => {
        const r = spawnSync('ip', ['netns', 'exec', ul, 'nft', '-f', '-'], { input: script, encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
      };
      nft('table bridge csdrop {\n chain drop179 {\n  type filter hook forward priority 0;\n  tcp dport 179 drop\n  tcp sport 179 drop\n }\n}\n');
      try {
        const dropped = checksystemIn(h1, 'h1', { env: ETCD });
        assert.equal(dropped.code, 1);
        const t = failed(dropped, 'bgp-peer-tcp');
        assert.match(t.evidence, /198\.18\.0\.2:179 \(node h2\)/);
        assert.match(t.hint ?? '', /TCP 179/);
      } finally {
        nft('delete table bridge csdrop\n');
      }
      const fixed = await untilClean(h1, 'h1');
      assert.equal(fixed.code, 0, failures(fixed));
    });
  });
});
