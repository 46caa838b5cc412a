/**
 * Calc-graph benchmark (not a test). Builds a cluster of 100k workload endpoints over 100 hosts
 * (1k on this host), 2k policies, 200 profiles and 10k network-set CIDRs, feeds it to the calc
 * graph for one host as a syncer would (batches of 1000, then in-sync), then measures per-update
 * latency (update + flush, i.e. until the dataplane has its events) for endpoint adds, label
 * changes and policy changes, sustained endpoint update throughput, and peak RSS.
 * The last line of output is JSON.
 *
 *   ./scripts/node bench/calc/main.ts [--endpoints 100000] [--hosts 100] [--policies 2000]
 *
 * Addresses: workloads in 198.18.0.0/15 (the RFC 2544 benchmarking range; each host owns a /22 of
 * /26 IPAM blocks), node addresses in 198.19.255.0/24, network sets in 2001:db8::/32.
 */
import { performance } from 'node:perf_hooks';
import { availableParallelism, loadavg } from 'node:os';
import { CalcGraph } from '../../src/agent/calc/index.ts';
import * as t from '../../src/agent/calc/testing.ts';
import type { KV } from '../../src/agent/calc/testing.ts';
import type { SyncUpdate } from '../../src/datastore/index.ts';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const ENDPOINTS = arg('endpoints', 100_000);
const HOSTS = arg('hosts', 100);
const POLICIES = arg('policies', 2000);
const PROFILES = arg('profiles', 200);
const NETSETS = arg('netsets', 1000);
const CIDRS_PER_SET = arg('cidrs-per-set', 10);
const APPS = 500;
const NAMESPACES = 20;
const ME = 'host-0';

/** Host h owns 198.18.0.0/15 + h·1024 (sixteen /26 IPAM blocks); its m-th endpoint takes offset m. */
function addrOf(n: number): string {
  return `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

function ipOf(i: number): string {
  return addrOf((i % HOSTS) * 1024 + (Math.floor(i / HOSTS) % 1024));
}

/** App label independent of the host, so every host runs a spread of apps (each policy is active somewhere). */
function appOf(i: number): number {
  return Math.floor(i / HOSTS) % APPS;
}

function endpoint(i: number, app = appOf(i), extra: Record<string, string> = {}): KV {
  return t.wep(`wl-${i}`, {
    ns: `ns-${i % NAMESPACES}`, node: `host-${i % HOSTS}`, ips: [ipOf(i)],
    labels: { app: `app-${app}`, tier: ['frontend', 'backend', 'db'][i % 3], env: ['prod', 'dev', 'staging'][i % 3 === 0 ? 0 : (i >> 2) % 3], ...extra },
    profiles: [`prof-${i % PROFILES}`], ports: [{ name: 'http', protocol: 'TCP', port: 8080 }], iface: `cali${i.toString(16).padStart(11, '0')}`,
  });
}

function policy(j: number, variant = 0): KV {
  const app = (j + variant * 37) % APPS;
  const src = (j * 7 + variant) % APPS;
  const broad = j % 100 === 0; // a few policies use cluster-wide selectors (large IP sets)
  const spec = {
    tier: ['platform', 'security', 'default'][j % 3],
    order: j % 10 === 0 ? undefined : (j % 50) * 10,
    selector: `app == 'app-${app}'`,
    ingress: [
      { action: 'Allow', protocol: 'TCP', source: { selector: broad ? "tier == 'frontend'" : `app == 'app-${src}'` }, destination: { ports: ['http', 443 + variant] } },
      { action: 'Deny', source: { selector: `netgroup == 'g${j % 50}'` } },
      { action: 'Pass', protocol: 'UDP', destination: { ports: [53] } },
    ],
    egress: [{ action: 'Allow', destination: { selector: `app == 'app-${(src + 1) % APPS}' && env == 'prod'` } }],
  };
  return j % 4 === 0 ? t.np(`ns-${j % NAMESPACES}`, `pol-${j}`, spec) : t.gnp(`pol-${j}`, spec);
}

function buildCluster(): KV[] {
  const kvs: KV[] = [];
  kvs.push(t.tier('security', 100), t.tier('platform', 200, 'Pass'));
  for (let k = 0; k < PROFILES; k++) {
    kvs.push(t.profile(`prof-${k}`, { labelsToApply: { team: `team-${k % 50}` }, ingress: [{ action: 'Allow', source: { selector: `team == 'team-${k % 50}'` } }], egress: [{ action: 'Allow' }] }));
  }
  for (let j = 0; j < POLICIES; j++) kvs.push(policy(j));
  for (let s = 0; s < NETSETS; s++) {
    const nets: string[] = [];
    for (let c = 0; c < CIDRS_PER_SET; c++) nets.push(`2001:db8:${s.toString(16)}:${c.toString(16)}::/64`);
    kvs.push(t.gns(`netset-${s}`, nets, { netgroup: `g${s % 50}` }));
  }
  for (let h = 0; h < HOSTS; h++) {
    kvs.push(t.nodeRes(`host-${h}`, `198.19.255.${h % 250}/16`));
    for (let b = 0; b < 16; b++) kvs.push(t.block(`${addrOf(h * 1024 + b * 64)}/26`, `host-${h}`));
  }
  kvs.push(t.pool('pool-0', '198.18.0.0/15', true), t.felixConfig('default', { defaultEndpointToHostAction: 'Return' }));
  for (let i = 0; i < ENDPOINTS; i++) kvs.push(endpoint(i));
  return kvs;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function r3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

let rev = 1;
function upd(kv: KV | { key: string; value: undefined }): SyncUpdate {
  return { key: kv.key, value: kv.value, revision: rev++ };
}

function main(): void {
  const kvs = buildCluster();
  let events = 0;
  const g = new CalcGraph({ host: ME, onEvents: (evs) => { events += evs.length; } });

  // ---- in-sync: the whole cluster in syncer-sized batches, one flush at in-sync ----
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < kvs.length; i += 1000) g.onUpdates(kvs.slice(i, i + 1000).map(upd));
  g.onStatus('in-sync');
  g.flush();
  const inSyncMs = performance.now() - t0;
  const inSyncCpu = process.cpuUsage(c0);
  const inSyncCpuMs = (inSyncCpu.user + inSyncCpu.system) / 1000;
  const st = g.stats();
  const snap = g.snapshot();
  const setMembers = Object.values(snap.ipSets).reduce((n, s) => n + s.members.length, 0);
  console.log(`in-sync: ${inSyncMs.toFixed(0)} ms (${inSyncCpuMs.toFixed(0)} ms CPU) for ${kvs.length} resources; local endpoints ${st.localEndpoints}, active policies ${st.activePolicies}, active IP sets ${st.activeIPSets} (${setMembers} members), events ${events}`);

  // Wall time per update (until flush has handed the events over) and CPU time of this thread for
  // the same span: on a shared machine the wall-time tail mostly measures other processes.
  const cpuLat = new Map<number[], number[]>();
  let cur: number[] = [];
  if (process.env.WEFT_BENCH_INSYNC_ONLY) return;
  const time = (fn: () => void): number => {
    const c = process.cpuUsage();
    const s = performance.now();
    fn();
    g.flush();
    const wall = performance.now() - s;
    const u = process.cpuUsage(c);
    cpuLat.get(cur)?.push((u.user + u.system) / 1000);
    return wall;
  };
  const phase = (arr: number[]): number[] => { cur = arr; cpuLat.set(arr, []); return arr; };

  // ---- endpoint add: new endpoints, spread over hosts like the cluster (1 in HOSTS local) ----
  const addLat = phase([]);
  for (let k = 0; k < 2000; k++) {
    const i = ENDPOINTS + k;
    addLat.push(time(() => g.onUpdates([upd(endpoint(i))])));
  }
  // ---- label change: existing endpoints change app (half of them on this host) ----
  const labelLat = phase([]);
  const labelLocal: number[] = [];
  const labelRemote: number[] = [];
  for (let k = 0; k < 2000; k++) {
    const local = k % 2 === 0;
    const i = local ? (k * HOSTS) % ENDPOINTS : ((k * 7919) % ENDPOINTS) | 1;
    const ms = time(() => g.onUpdates([upd(endpoint(i, (appOf(i) + 1 + k) % APPS, { rev: String(k) }))]));
    labelLat.push(ms);
    (local ? labelLocal : labelRemote).push(ms);
  }
  // ---- policy change: existing policies get a new selector/rules ----
  const polLat = phase([]);
  for (let k = 0; k < 500; k++) {
    polLat.push(time(() => g.onUpdates([upd(policy((k * 13) % POLICIES, 1 + (k % 5)))])));
  }

  // ---- sustained endpoint churn: batches of 100 (adds, label changes, deletes), flush per batch ----
  const N = 50_000;
  const churn: SyncUpdate[] = [];
  for (let k = 0; k < N; k++) {
    const kind = k % 3;
    const i = (k * 104729) % ENDPOINTS;
    if (kind === 0) churn.push(upd(endpoint(i, (i + k) % APPS)));
    else if (kind === 1) churn.push(upd({ key: endpoint(ENDPOINTS + (k % 2000)).key, value: undefined }));
    else churn.push(upd(endpoint(ENDPOINTS + (k % 2000))));
  }
  const s0 = performance.now();
  const sc0 = process.cpuUsage();
  for (let k = 0; k < N; k += 100) { g.onUpdates(churn.slice(k, k + 100)); g.flush(); }
  const churnS = (performance.now() - s0) / 1000;
  const churnCpu = process.cpuUsage(sc0);
  const updatesPerSec = N / churnS;
  const updatesPerCpuSec = N / ((churnCpu.user + churnCpu.system) / 1e6);

  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  const result = {
    bench: 'calc',
    endpoints: ENDPOINTS, hosts: HOSTS, localEndpoints: st.localEndpoints, policies: POLICIES, profiles: PROFILES,
    networkSetCidrs: NETSETS * CIDRS_PER_SET, activePolicies: st.activePolicies, activeIPSets: st.activeIPSets, ipSetMembers: setMembers,
    inSyncMs: Math.round(inSyncMs),
    inSyncCpuMs: Math.round(inSyncCpuMs),
    endpointAddMs: { p50: r3(pct(addLat, 50)), p99: r3(pct(addLat, 99)), max: r3(Math.max(...addLat)), cpuP50: r3(pct(cpuLat.get(addLat) ?? [], 50)), cpuP99: r3(pct(cpuLat.get(addLat) ?? [], 99)) },
    labelChangeMs: { p50: r3(pct(labelLat, 50)), p99: r3(pct(labelLat, 99)), max: r3(Math.max(...labelLat)), cpuP50: r3(pct(cpuLat.get(labelLat) ?? [], 50)), cpuP99: r3(pct(cpuLat.get(labelLat) ?? [], 99)) },
    labelChangeLocalMs: { p50: r3(pct(labelLocal, 50)), p99: r3(pct(labelLocal, 99)) },
    labelChangeRemoteMs: { p50: r3(pct(labelRemote, 50)), p99: r3(pct(labelRemote, 99)) },
    policyChangeMs: { p50: r3(pct(polLat, 50)), p99: r3(pct(polLat, 99)), max: r3(Math.max(...polLat)), cpuP50: r3(pct(cpuLat.get(polLat) ?? [], 50)), cpuP99: r3(pct(cpuLat.get(polLat) ?? [], 99)) },
    sustainedEndpointUpdatesPerSec: Math.round(updatesPerSec),
    sustainedEndpointUpdatesPerCpuSec: Math.round(updatesPerCpuSec),
    loadAvg1m: Math.round(loadavg()[0] * 100) / 100,
    cpus: availableParallelism(),
    peakRssMiB: Math.round(peakRssMiB),
    targets: { inSyncMs: 5000, p99Ms: 5, updatesPerSec: 5000, rssMiB: 1024 },
  };
  console.log(`endpoint add p50/p99 ${result.endpointAddMs.p50}/${result.endpointAddMs.p99} ms; label change ${result.labelChangeMs.p50}/${result.labelChangeMs.p99} ms; policy change ${result.policyChangeMs.p50}/${result.policyChangeMs.p99} ms`);
  console.log(`sustained: ${result.sustainedEndpointUpdatesPerSec} endpoint updates/s; peak RSS ${result.peakRssMiB} MiB`);
  console.log(JSON.stringify(result));
}

main();
