/**
 * Host endpoint applyOnForward, preDNAT and doNotTrack policy in a real kernel, and the policy
 * core's evaluator agreeing with every probe:
 *
 *   outside ns (198.18.0.254) ──up1═up0── host ns (198.18.0.1, HostEndpoint on up0, Weft table)
 *                                           └── cali… ══ workload ns (192.0.2.2)
 *
 * Calico resources → calc graph → HostModel → nftables dataplane; probes from `outside` to the
 * host itself and forwarded to the workload. Every probe is asserted twice: against the expected
 * Calico behaviour written down here, and against `evaluateHost`/`evaluateWorkload` on the same
 * HostModel (as kernel-model.test.ts does for workloads). Only namespaces this test creates are
 * touched; they are deleted (and whatever runs in them killed by PID) in `finally`.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { MemoryBackend } from '../../src/datastore/index.ts';
import { ResourceClient } from '../../src/api/index.ts';
import { computeFromScratch } from '../../src/agent/calc/index.ts';
import { evaluateHost, evaluateWorkload, type EndpointVerdict, type HostModel } from '../../src/policy/index.ts';
import { Dataplane, fromHostModel } from '../../src/agent/dataplane/index.ts';
import { ExecRunner, IpLinkOps, IpRouteTable, NftCli } from '../../src/agent/netlink/index.ts';
import { plumbWorkload } from '../../src/agent/plumbing/index.ts';
import { createNetns, deleteNetns, netnsSkipReason, nsExec, ping, probe, startListener, uniqueNetnsName } from '../helpers/netns.ts';

const HOST_IP = '198.18.0.1';
const OUT_IP = '198.18.0.254';
const WL_IP = '192.0.2.2';
const API = 'projectcalico.org/v3';
/** Source port the evaluator assumes for probes (the kernel picks an ephemeral one, never a failsafe port). */
const EPHEMERAL = 40000;

type Target = 'host' | 'workload';
interface Probe { to: Target; proto: 'tcp' | 'icmp'; port: number }

const gnp = (name: string, spec: Record<string, unknown>): Record<string, unknown> =>
  ({ apiVersion: API, kind: 'GlobalNetworkPolicy', metadata: { name }, spec: { selector: "role == 'edge'", ...spec } });

const POLICIES = {
  /** Normal host policy (not applyOnForward): traffic to the host only. */
  normal: gnp('hep-normal', { ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [8080] } }] }),
  forward: gnp('hep-fwd', { applyOnForward: true, ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [8080] } }] }),
  preDnatDeny80: gnp('prednat-80', { preDNAT: true, applyOnForward: true, ingress: [{ action: 'Deny', protocol: 'TCP', destination: { ports: [80] } }] }),
  preDnatDenyAll: gnp('prednat-all', { preDNAT: true, applyOnForward: true, ingress: [{ action: 'Deny' }] }),
  untracked: gnp('untracked', {
    doNotTrack: true, applyOnForward: true,
    ingress: [
      { action: 'Allow', protocol: 'TCP', destination: { ports: [9090] } },
      { action: 'Deny', protocol: 'TCP', destination: { ports: [8080] } },
      { action: 'Deny', protocol: 'TCP', destination: { ports: [80] } },
    ],
    // Untracked policy must be symmetric: the replies are not conntrack-established.
    egress: [{ action: 'Allow', protocol: 'TCP', source: { ports: [9090] } }],
  }),
};

async function modelFor(policies: readonly Record<string, unknown>[], wlIface: string): Promise<HostModel> {
  const backend = new MemoryBackend();
  const client = new ResourceClient(backend);
  await client.create({ apiVersion: API, kind: 'Profile', metadata: { name: 'allow' }, spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] } });
  await client.create({
    apiVersion: API, kind: 'WorkloadEndpoint', metadata: { namespace: 'default', labels: { app: 'web' } },
    spec: { node: 'h1', orchestrator: 'lab', workload: 'w', endpoint: 'eth0', interfaceName: wlIface, ipNetworks: [`${WL_IP}/32`], profiles: ['allow'] },
  });
  // No profiles: traffic to the host itself is denied unless policy or a failsafe port allows it.
  await client.create({
    apiVersion: API, kind: 'HostEndpoint', metadata: { name: 'h1-up0', labels: { role: 'edge' } },
    spec: { node: 'h1', interfaceName: 'up0', expectedIPs: [HOST_IP] },
  });
  for (const p of policies) await client.create(p);
  const { items } = await backend.list('/calico/');
  return computeFromScratch(items, 'h1');
}

/**
 * The evaluator's verdict for one probe from `outside`. Forwarded: host endpoint ingress (forward)
 * and workload ingress must both allow. To the host: host endpoint ingress; if it was allowed by
 * untracked policy the connection is not tracked, so the host's reply is policed as a packet of
 * its own (host endpoint egress) instead of passing as conntrack-established.
 */
function modelAllows(m: HostModel, p: Probe): { allow: boolean; why: EndpointVerdict[] } {
  const hep = m.hostEndpoints['h1-up0']!;
  const dst = p.to === 'host' ? HOST_IP : WL_IP;
  const pkt = p.proto === 'icmp'
    ? { src: OUT_IP, dst, protocol: 'ICMP', icmpType: 8, icmpCode: 0 }
    : { src: OUT_IP, dst, protocol: 'TCP', srcPort: EPHEMERAL, dstPort: p.port };
  if (p.to === 'workload') {
    const wep = Object.values(m.endpoints)[0]!;
    const h = evaluateHost(m, hep, 'ingress', pkt, { forwarded: true });
    const w = evaluateWorkload(m, wep, 'ingress', pkt);
    return { allow: h.verdict === 'allow' && w.verdict === 'allow', why: [h, w] };
  }
  const h = evaluateHost(m, hep, 'ingress', pkt);
  const by = h.decidedBy;
  if (h.verdict === 'allow' && by.kind === 'policy-rule' && by.stage === 'untracked') {
    const reply = p.proto === 'icmp'
      ? { src: HOST_IP, dst: OUT_IP, protocol: 'ICMP', icmpType: 0, icmpCode: 0 }
      : { src: HOST_IP, dst: OUT_IP, protocol: 'TCP', srcPort: p.port, dstPort: EPHEMERAL };
    const r = evaluateHost(m, hep, 'egress', reply);
    return { allow: r.verdict === 'allow', why: [h, r] };
  }
  return { allow: h.verdict === 'allow', why: [h] };
}

function kernelAllows(outside: string, p: Probe): boolean {
  const dst = p.to === 'host' ? HOST_IP : WL_IP;
  return p.proto === 'icmp' ? ping(outside, dst, 1) : probe(outside, dst, p.port, { timeoutMs: 1000 });
}

const label = (p: Probe): string => `outside → ${p.to} ${p.proto === 'icmp' ? 'icmp' : `tcp/${p.port}`}`;

/** Counters of the test's own observation table (not Weft's): untracked vs tracked packets to tcp/9090. */
function obsCounters(host: string): { untracked: number; tracked: number } {
  const j = JSON.parse(nsExec(host, ['nft', '-j', 'list', 'table', 'inet', 'weftobs'])) as { nftables: Record<string, unknown>[] };
  const out = { untracked: -1, tracked: -1 };
  for (const o of j.nftables) {
    const r = o.rule as { comment?: string; expr?: Record<string, unknown>[] } | undefined;
    if (r === undefined) continue;
    const c = r.expr?.find((e) => 'counter' in e)?.counter as { packets: number } | undefined;
    if (r.comment === 'untracked' && c) out.untracked = c.packets;
    if (r.comment === 'tracked' && c) out.tracked = c.packets;
  }
  return out;
}

describe('host endpoint applyOnForward / preDNAT / doNotTrack (kernel, fresh namespaces)', { skip: netnsSkipReason() }, () => {
  test('real probes agree with Calico semantics and with the evaluator', { timeout: 300_000 }, async () => {
    const H = uniqueNetnsName('heph');
    const O = uniqueNetnsName('hepo');
    const W = uniqueNetnsName('hepw');
    const all = [H, O, W];
    const children: ChildProcess[] = [];
    let dp: Dataplane | undefined;
    for (const n of all) createNetns(n);
    try {
      nsExec(H, ['ip', 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up1', 'netns', O]);
      nsExec(H, ['ip', 'addr', 'add', `${HOST_IP}/24`, 'dev', 'up0']);
      nsExec(H, ['ip', 'link', 'set', 'up0', 'up']);
      nsExec(O, ['ip', 'addr', 'add', `${OUT_IP}/24`, 'dev', 'up1']);
      nsExec(O, ['ip', 'link', 'set', 'up1', 'up']);
      nsExec(O, ['ip', 'route', 'add', '192.0.2.0/24', 'via', HOST_IP]);
      // A default route makes the workloads' proxy-ARP gateway (169.254.1.1) routable on the host.
      nsExec(H, ['ip', 'route', 'add', 'default', 'via', OUT_IP]);
      nsExec(H, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
      const hr = new ExecRunner(H);
      const wlIface = (await plumbWorkload({ host: new IpLinkOps(hr), workload: new IpLinkOps(new ExecRunner(W)) },
        { workloadId: W, netns: W, addresses: [WL_IP] })).hostInterface;
      for (const port of [22, 80, 8080]) children.push(await startListener(W, port));
      for (const port of [22, 8080, 9090]) children.push(await startListener(H, port));
      // The test's own observer, in its own table (Weft sweeps only `table inet weft`).
      nsExec(H, ['nft', '-f', '-'], [
        'add table inet weftobs',
        'add chain inet weftobs in { type filter hook input priority 100; policy accept; }',
        'add rule inet weftobs in tcp dport 9090 ct state untracked counter comment "untracked"',
        'add rule inet weftobs in tcp dport 9090 ct state != untracked counter comment "tracked"',
      ].join('\n') + '\n');

      dp = new Dataplane({ nft: new NftCli(hr), routes: new IpRouteTable(hr), refreshIntervalMs: 0 });
      let inSync = false;
      const mismatches: string[] = [];
      let cases = 0;
      /** Programs `policies`, then runs every probe: kernel vs expectation vs evaluator. */
      const phase = async (name: string, policies: Record<string, unknown>[], expect: [Probe, boolean][]): Promise<HostModel> => {
        const m = await modelFor(policies, wlIface);
        dp!.update(fromHostModel(m));
        if (!inSync) { dp!.setInSync(); inSync = true; }
        await dp!.flush();
        for (const [p, want] of expect) {
          const got = kernelAllows(O, p);
          const model = modelAllows(m, p);
          cases++;
          if (got !== want || model.allow !== want) {
            mismatches.push(`[${name}] ${label(p)}: expected ${want ? 'allow' : 'deny'}, kernel ${got ? 'allow' : 'deny'}, evaluator ${model.allow ? 'allow' : 'deny'} ` +
              `(${model.why.map((v) => `${v.endpoint} ${v.direction}: ${JSON.stringify(v.decidedBy)}`).join('; ')})`);
          }
        }
        return m;
      };
      const wl = (port: number): Probe => ({ to: 'workload', proto: 'tcp', port });
      const host = (port: number): Probe => ({ to: 'host', proto: 'tcp', port });
      const wlPing: Probe = { to: 'workload', proto: 'icmp', port: 0 };

      // Host endpoint without policy: the host is closed except failsafe ports; forwarded traffic
      // is allowed (no applyOnForward policy applies: not default deny).
      await phase('no policy', [], [[wl(80), true], [wl(8080), true], [wlPing, true], [host(8080), false], [host(22), true]]);

      // (b) a normal (non-applyOnForward) policy polices the host only, never forwarded traffic.
      await phase('normal policy', [POLICIES.normal], [[host(8080), true], [host(9090), false], [wl(80), true], [wl(8080), true], [wlPing, true]]);
      // (b) an applyOnForward policy polices forwarded traffic: allow 8080, end of tier drops the rest.
      await phase('applyOnForward', [POLICIES.normal, POLICIES.forward], [[wl(8080), true], [wl(80), false], [wlPing, false], [host(8080), true], [host(22), true]]);
      await phase('applyOnForward removed', [POLICIES.normal], [[wl(80), true], [wlPing, true]]);

      // (a) pre-DNAT deny on the host endpoint blocks forwarded traffic; removing it restores it.
      await phase('preDNAT deny tcp/80', [POLICIES.normal, POLICIES.preDnatDeny80], [[wl(80), false], [wl(8080), true], [wlPing, true], [host(8080), true]]);
      await phase('preDNAT removed', [POLICIES.normal], [[wl(80), true]]);

      // (d) pre-DNAT deny-all: failsafe tcp/22 still reaches the host (and, as in felix, skips the
      // pre-DNAT stage for forwarded traffic too); a normal allow no longer helps.
      await phase('preDNAT deny all', [POLICIES.normal, POLICIES.preDnatDenyAll], [[host(22), true], [host(8080), false], [wl(80), false], [wlPing, false], [wl(22), true]]);

      // (c) doNotTrack: allow bypasses conntrack and the (default-deny) normal policy; deny drops
      // traffic to the host and forwarded traffic, even where normal policy would allow.
      const before = obsCounters(H);
      const mUntracked = await phase('doNotTrack', [POLICIES.normal, POLICIES.untracked], [[host(9090), true], [host(8080), false], [wl(80), false], [wl(8080), false], [wlPing, true], [host(22), true]]);
      const after = obsCounters(H);
      assert.ok(after.untracked > before.untracked, `tcp/9090 packets reached the host untracked (${JSON.stringify({ before, after })})`);
      assert.equal(after.tracked, before.tracked, 'no tcp/9090 packet was conntrack-tracked');
      const ct = nsExec(H, ['cat', '/proc/net/nf_conntrack']);
      assert.doesNotMatch(ct, /dport=9090\b/, 'no conntrack entry for the untracked flow');
      assert.match(ct, /dport=22\b/, 'conntrack is on: the failsafe tcp/22 flow is tracked');
      // A restarted agent with the same model reads the new chains and maps back (goto/accept
      // verdicts, notrack rules) as exactly what it renders: no transaction at all.
      const scripts: string[] = [];
      const dp2 = new Dataplane({ nft: new NftCli(hr), routes: new IpRouteTable(hr), refreshIntervalMs: 0, onScript: (sc) => scripts.push(sc) });
      try {
        dp2.update(fromHostModel(mUntracked));
        dp2.setInSync();
        await dp2.flush();
      } finally {
        await dp2.stop();
      }
      assert.deepEqual(scripts, [], 'no transaction needed after restart');
      await phase('doNotTrack removed', [POLICIES.normal], [[host(9090), false], [host(8080), true], [wl(80), true]]);

      assert.ok(cases >= 30, `only ${cases} probes`);
      assert.deepEqual(mismatches, [], `${mismatches.length}/${cases} probes disagree`);
    } finally {
      await dp?.stop();
      for (const c of children) c.kill('SIGKILL');
      for (const n of all) deleteNetns(n);
    }
  });
});
