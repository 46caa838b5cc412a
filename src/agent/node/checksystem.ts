/**
 * `weft node checksystem`: every failure the seeds hit by hand, named with its evidence and its fix.
 * Each check returns one or more results; a FAIL makes the command exit 1, a WARN does not, a SKIP
 * says what could not be looked at (not root, no agent, no dockerd) so partial results are visible.
 *
 * All I/O goes through `CheckSystemDeps` (commands in this network namespace, files, sockets, the
 * datastore), so the decisions are unit-tested with fakes and the e2e suite runs them for real.
 *
 * Sources for the rules:
 *   - proxy ARP answers only for targets the host can route (Linux `arp_process`, proxy_arp in
 *     Documentation/networking/ip-sysctl.rst), hence the route covering 169.254.1.1;
 *   - rp_filter=1 is strict reverse-path filtering (RFC 3704 §2.2), which drops workload traffic
 *     arriving over an asymmetric underlay path; 2 is loose (§2.3);
 *   - Docker discovers plugins from spec files in /etc/docker/plugins and /usr/lib/docker/plugins
 *     and sockets in /run/docker/plugins, and activates them with POST /Plugin.Activate
 *     (moby docs/extend/plugin_api.md);
 *   - dockerd with iptables on sets the FORWARD chain's policy to DROP (moby
 *     libnetwork/iptables: "setupIPForwarding"), which drops traffic routed to workloads;
 *   - `--cluster-store`/`--cluster-advertise` were removed in Docker 23 (dockerd refuses to start).
 */
import { GATEWAY_V4, HOST_SIDE_MAC, gatewayRouted } from '../plumbing/index.ts';
import type { CommandRunner } from '../netlink/index.ts';
import type { Backend, DatastoreSpec } from '../../datastore/index.ts';
import { felixStatusKey, ipamAffinityPrefix, parseIpamAffinityKey } from '../../datastore/index.ts';
import { ResourceClient } from '../../api/index.ts';
import { computeBgpPlan, nodeFromResource, peerFromResource, configFromResource, type BgpNode } from '../bgp/index.ts';
import { isWeftError } from '../../lib/errors.ts';
import { TABLE_FAMILY, TABLE_NAME } from '../dataplane/index.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  /** What was seen: the value, the command's answer, the file. */
  evidence: string;
  /** The fix, for FAIL and WARN. */
  hint?: string;
}

export interface CheckReport {
  ok: boolean;
  /** Some checks could not run (see `notes`). */
  partial: boolean;
  notes: string[];
  checks: CheckResult[];
}

export interface ResolvedLike {
  spec: DatastoreSpec;
  source: string;
}

export interface DockerdProcess {
  pid: number;
  argv: string[];
}

export interface CheckSystemDeps {
  /** Commands in the namespace being checked. */
  runner: CommandRunner;
  /** Resolves the datastore the way every command does; throws ERR_DATASTORE_CONFIG naming the setting. */
  resolve(): ResolvedLike;
  openBackend(spec: DatastoreSpec): Promise<Backend>;
  nodeName: string;
  env: NodeJS.ProcessEnv;
  isRoot: boolean;
  readFile(path: string): string | undefined;
  listDir(path: string): string[];
  exists(path: string): boolean;
  /** undefined when a TCP connection opened, else why not. */
  tcpConnect(host: string, port: number, timeoutMs: number): Promise<string | undefined>;
  httpGet(url: string, timeoutMs: number): Promise<{ status: number; body: string }>;
  /** POST over a unix socket (Docker plugin protocol). */
  unixPost(socketPath: string, path: string, timeoutMs: number): Promise<{ status: number; body: string }>;
  unixGet(socketPath: string, path: string, timeoutMs: number): Promise<{ status: number; body: string }>;
  /** dockerd processes in this network namespace; 'unknown' when that cannot be read (not root). */
  dockerds(): Promise<DockerdProcess[] | 'unknown'>;
  now(): Date;
  /** The agent's health/status endpoint base, e.g. http://127.0.0.1:9099. */
  healthUrl: string;
  /** calicoctl/Weft config files to inspect for `datastoreType: etcdv2`. */
  configFiles: readonly string[];
}

const DOCKER_SPEC_DIRS = ['/etc/docker/plugins', '/usr/lib/docker/plugins'];
const DOCKER_SOCKET_DIR = '/run/docker/plugins';
const WEFT_PLUGIN_NAMES = ['calico', 'weft'];
const BUILTIN_DOCKER_DRIVERS = new Set(['bridge', 'host', 'null', 'overlay', 'macvlan', 'ipvlan', 'none']);

const ok = (name: string, evidence: string): CheckResult => ({ name, status: 'ok', evidence });
const fail = (name: string, evidence: string, hint: string): CheckResult => ({ name, status: 'fail', evidence, hint });
const warn = (name: string, evidence: string, hint: string): CheckResult => ({ name, status: 'warn', evidence, hint });
const skip = (name: string, evidence: string): CheckResult => ({ name, status: 'skip', evidence });
const msg = (e: unknown): string => (e instanceof Error ? e.message : String(e));

function describeSpec(spec: DatastoreSpec): string {
  return spec.type === 'sqlite' ? `sqlite:${spec.path}` : `etcd://${spec.endpoints.map((e) => e.replace(/^https?:\/\//, '')).join(',')}`;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms); }),
  ]);
}

interface Ctx {
  deps: CheckSystemDeps;
  out: CheckResult[];
  notes: string[];
  backend?: Backend;
  client?: ResourceClient;
  agentAlive: boolean;
  nodeAddress4?: string;
  bgpEnabled: boolean;
}

// ---------- datastore ----------

async function checkDatastore(c: Ctx): Promise<void> {
  const { deps } = c;
  for (const f of deps.configFiles) {
    const text = deps.readFile(f);
    if (text !== undefined && /datastoreType:\s*["']?etcdv2\b/i.test(text)) {
      c.out.push(warn('calicoctl-etcdv2-config', `${f} has datastoreType: etcdv2`,
        'Weft speaks only the etcd v3 API: it uses this file\'s etcdEndpoints with v3, so anything calicoctl v1 stored through the v2 API (keys under /calico/v1) is invisible to it. Re-apply the manifests with `weft apply -f` (v1 manifests are converted) and set datastoreType: etcdv3'));
    }
  }
  if ((deps.env.DATASTORE_TYPE ?? '').toLowerCase() === 'etcdv2') {
    c.out.push(warn('calicoctl-etcdv2-config', 'DATASTORE_TYPE=etcdv2', 'Weft treats etcdv2 as etcd v3 on the same endpoints; data written through the v2 API is not visible: set DATASTORE_TYPE=etcdv3'));
  }
  let r: ResolvedLike;
  try {
    r = deps.resolve();
  } catch (e) {
    c.out.push(fail('datastore-config', msg(e), isWeftError(e) && e.hint !== undefined ? e.hint : 'set --datastore, WEFT_DATASTORE or ETCD_ENDPOINTS'));
    return;
  }
  if (r.source === 'default' && r.spec.type === 'sqlite' && !deps.exists(r.spec.path)) {
    c.out.push(fail('datastore-config',
      `not configured: no --datastore flag, WEFT_DATASTORE, DATASTORE_TYPE/ETCD_ENDPOINTS or config file (${deps.configFiles.join(', ')}), and the default ${describeSpec(r.spec)} does not exist`,
      'one host: run `weft node run` once (it creates the default SQLite store); several hosts: export ETCD_ENDPOINTS=http://HOST:2379 (or write /etc/weft/weft.yaml) on every host and for every command'));
    return;
  }
  c.out.push(ok('datastore-config', `${describeSpec(r.spec)} (from ${r.source})`));
  try {
    const b = await withTimeout(deps.openBackend(r.spec), 5000, 'open');
    c.backend = b;
    const rev = await withTimeout(b.revision(), 5000, describeSpec(r.spec));
    c.client = new ResourceClient(b);
    c.out.push(ok('datastore-reachable', `${b.address} answers (revision ${rev})`));
  } catch (e) {
    c.out.push(fail('datastore-reachable', `cannot reach ${describeSpec(r.spec)} (from ${r.source}): ${msg(e)}`,
      r.spec.type === 'etcd'
        ? `check that etcd runs and this host reaches it: etcdctl --endpoints=${r.spec.endpoints.join(',')} endpoint health; fix the address in ${r.source}`
        : `check that ${r.spec.path} is readable and not locked; fix the path in ${r.source}`));
    return;
  }
  await checkAgentRegistration(c);
}

async function checkAgentRegistration(c: Ctx): Promise<void> {
  const { deps } = c;
  const client = c.client!;
  const name = deps.nodeName;
  try {
    const node = await client.get('Node', name) as { spec?: { bgp?: { ipv4Address?: string } } };
    const addr = node.spec?.bgp?.ipv4Address;
    if (addr !== undefined) c.nodeAddress4 = addr.split('/')[0];
    c.out.push(ok('agent-registered', `Node ${name}${addr !== undefined ? ` (${addr})` : ''}`));
  } catch (e) {
    if (isWeftError(e) && e.code === 'ERR_NOT_FOUND') {
      c.out.push(fail('agent-registered', `no Node resource named ${name} in ${c.backend!.address}`,
        `start the agent on this host with the same datastore: weft node run --name ${name} (or pass --name to checksystem if this host uses another node name)`));
    } else {
      c.out.push(fail('agent-registered', `reading Node ${name}: ${msg(e)}`, 'check the datastore'));
    }
  }
  const key = felixStatusKey(name);
  const kv = await c.backend!.get(key).catch(() => undefined);
  if (kv === undefined) {
    c.out.push(fail('agent-status', `no status key ${key}: the agent is not running, or cannot write to the datastore`,
      `start it (weft node run --name ${name}) and read its log; its status key lapses after reportingTTL`));
    return;
  }
  let time: Date | undefined;
  try {
    const v = JSON.parse(kv.value) as { time?: unknown };
    if (typeof v.time === 'string') time = new Date(v.time);
  } catch { /* reported below */ }
  if (time === undefined || Number.isNaN(time.getTime())) {
    c.out.push(fail('agent-status', `status key ${key} holds no report time: ${kv.value.slice(0, 80)}`, 'restart the agent; another program may write this key'));
    return;
  }
  const age = (deps.now().getTime() - time.getTime()) / 1000;
  // The key carries a TTL (reportingTTL, 90 s by default); a report older than that is stale.
  if (age > 90) {
    c.out.push(fail('agent-status', `last report ${Math.round(age)} s ago (${time.toISOString()})`, 'the agent is hung or cannot write: restart it and read its log'));
    return;
  }
  c.agentAlive = true;
  c.out.push(ok('agent-status', `last report ${Math.max(0, Math.round(age))} s ago`));
}

// ---------- kernel ----------

interface Link { ifname: string; mtu: number; address?: string; operstate?: string }

async function links(c: Ctx): Promise<Link[]> {
  const r = await c.deps.runner.run(['ip', '-j', 'link', 'show'], { allowFail: true }).catch(() => undefined);
  if (r === undefined || r.code !== 0) return [];
  try {
    return (JSON.parse(r.stdout) as Link[]).filter((l) => typeof l.ifname === 'string');
  } catch { return []; }
}

async function sysctl(c: Ctx, path: string): Promise<string | undefined> {
  const r = await c.deps.runner.run(['cat', `/proc/sys/${path}`], { allowFail: true }).catch(() => undefined);
  return r !== undefined && r.code === 0 ? r.stdout.trim() : undefined;
}

async function underlayInterface(c: Ctx): Promise<string | undefined> {
  if (c.nodeAddress4 !== undefined) {
    const r = await c.deps.runner.run(['ip', '-j', '-4', 'addr', 'show'], { allowFail: true }).catch(() => undefined);
    if (r?.code === 0) {
      try {
        const list = JSON.parse(r.stdout) as { ifname: string; addr_info?: { local?: string }[] }[];
        const hit = list.find((l) => (l.addr_info ?? []).some((a) => a.local === c.nodeAddress4));
        if (hit !== undefined) return hit.ifname;
      } catch { /* fall back to the default route */ }
    }
  }
  const d = await c.deps.runner.run(['ip', '-4', 'route', 'show', 'default'], { allowFail: true }).catch(() => undefined);
  return /\bdev (\S+)/.exec(d?.stdout ?? '')?.[1];
}

async function checkKernel(c: Ctx): Promise<{ underlay?: string; prefixes: string[] }> {
  const { deps } = c;
  const nft = await deps.runner.run(['nft', '--version'], { allowFail: true }).catch(() => ({ code: 127, stdout: '', stderr: 'nft: command not found' }));
  c.out.push(nft.code === 0 ? ok('nftables', nft.stdout.trim())
    : fail('nftables', `nft is not available (${(nft.stderr || `exit ${nft.code}`).trim()})`, 'install the nftables package (apt install nftables): the agent programs policy with nft'));
  if (c.agentAlive && nft.code === 0) {
    if (!deps.isRoot) {
      c.out.push(skip('weft-table', 'not root: cannot list nftables tables'));
    } else {
      const t = await deps.runner.run(['nft', 'list', 'table', TABLE_FAMILY, TABLE_NAME], { allowFail: true });
      c.out.push(t.code === 0 ? ok('weft-table', `table ${TABLE_FAMILY} ${TABLE_NAME} present`)
        : fail('weft-table', `the agent runs but table ${TABLE_FAMILY} ${TABLE_NAME} is absent (${t.stderr.trim()})`,
          'something flushed the ruleset (nft flush ruleset, a firewall service reload): the agent restores it at its next refresh; restart the agent to restore it now and stop the other program from flushing'));
    }
  }
  const fwd = await sysctl(c, 'net/ipv4/ip_forward');
  c.out.push(fwd === '1' ? ok('ip-forwarding', 'net.ipv4.ip_forward=1')
    : fail('ip-forwarding', `net.ipv4.ip_forward=${fwd ?? '?'}: this host does not route workload traffic`, 'sysctl -w net.ipv4.ip_forward=1 (the agent sets it on start; check nothing resets it, e.g. /etc/sysctl.d)'));

  const underlay = await underlayInterface(c);
  if (underlay === undefined) {
    c.out.push(skip('rp-filter', 'no underlay interface found (no node address, no default route)'));
  } else {
    const all = Number(await sysctl(c, 'net/ipv4/conf/all/rp_filter') ?? '0');
    const dev = Number(await sysctl(c, `net/ipv4/conf/${underlay}/rp_filter`) ?? '0');
    // The kernel uses max(all, interface) (ip-sysctl.rst, rp_filter).
    const eff = Math.max(all, dev);
    c.out.push(eff === 1
      ? fail('rp-filter', `strict reverse-path filtering on underlay ${underlay} (all=${all}, ${underlay}=${dev})`,
        `packets that arrive over another path than the route back are dropped: sysctl -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.${underlay}.rp_filter=2 (loose)`)
      : ok('rp-filter', `${underlay}: rp_filter ${eff === 2 ? 'loose' : 'off'} (all=${all}, ${underlay}=${dev})`));
  }

  const gw = await gatewayRouted(deps.runner);
  c.out.push(gw.routed ? ok('proxy-arp-gateway-route', `route to ${GATEWAY_V4}: ${gw.evidence}`)
    : fail('proxy-arp-gateway-route', `no route covering ${GATEWAY_V4} (ip route get: ${gw.evidence})`,
      `proxy ARP answers a workload's ARP for its gateway ${GATEWAY_V4} only when this host can route there: add a default route (ip route add default via ROUTER); without it workloads see 100% packet loss`));

  // Interface prefix: the agent only manages interfaces whose names start with one of them.
  let prefixes = ['cali'];
  if (c.client !== undefined) {
    try {
      const fc = await c.client.get('FelixConfiguration', 'default') as { spec?: { interfacePrefix?: string } };
      if (fc.spec?.interfacePrefix !== undefined) prefixes = fc.spec.interfacePrefix.split(',').map((s) => s.trim()).filter((s) => s !== '');
    } catch { /* default */ }
  }
  const ls = await links(c);
  const wrong: string[] = [];
  if (c.client !== undefined) {
    try {
      const weps = await c.client.list('WorkloadEndpoint') as { metadata: { name: string }; spec: { node?: string; interfaceName?: string } }[];
      for (const w of weps) {
        if (w.spec.node !== deps.nodeName || w.spec.interfaceName === undefined) continue;
        if (!prefixes.some((p) => w.spec.interfaceName!.startsWith(p))) wrong.push(`${w.spec.interfaceName} (WorkloadEndpoint ${w.metadata.name})`);
      }
    } catch { /* reported by the datastore checks */ }
  }
  for (const l of ls) {
    if (l.address === HOST_SIDE_MAC && !prefixes.some((p) => l.ifname.startsWith(p)) && !wrong.some((w) => w.startsWith(`${l.ifname} `))) wrong.push(`${l.ifname} (kernel link with MAC ${HOST_SIDE_MAC})`);
  }
  c.out.push(wrong.length === 0 ? ok('interface-prefix', `workload interfaces match interfacePrefix ${prefixes.join(',')}`)
    : fail('interface-prefix', `not matching FelixConfiguration interfacePrefix "${prefixes.join(',')}": ${wrong.join(', ')}`,
      `the agent ignores these interfaces (no routes, no policy): add their prefix, e.g. weft patch felixconfiguration default -p '{"spec":{"interfacePrefix":"${[...prefixes, ...new Set(wrong.map((w) => w.replace(/[0-9a-f]{6,}.*$/, '')))].join(',')}"}}'`));

  const u = ls.find((l) => l.ifname === underlay);
  if (u !== undefined) {
    const big = ls.filter((l) => prefixes.some((p) => l.ifname.startsWith(p)) && l.mtu > u.mtu);
    c.out.push(big.length === 0 ? ok('mtu', `workload interfaces ≤ underlay ${underlay} MTU ${u.mtu}`)
      : fail('mtu', `workload MTU above underlay ${underlay} MTU ${u.mtu}: ${big.map((l) => `${l.ifname} ${l.mtu}`).join(', ')}`,
        `large packets from workloads are dropped or fragmented: set FelixConfiguration mtu (or the plugin's MTU) to at most ${u.mtu}, or raise the underlay MTU`));
  }
  return { underlay, prefixes };
}

// ---------- BGP ----------

async function checkBgp(c: Ctx): Promise<void> {
  const { deps } = c;
  if (c.client === undefined) return;
  let nodesRaw: { metadata: { name: string } }[];
  try {
    nodesRaw = await c.client.list('Node');
  } catch { return; }
  const nodes = new Map<string, BgpNode>(nodesRaw.map((n) => [n.metadata.name, nodeFromResource(n.metadata.name, n)]));
  const self = nodes.get(deps.nodeName);
  if (self === undefined) return;
  const peersRes = await c.client.list('BGPPeer').catch(() => [] as { metadata: { name: string } }[]);
  const cfgRes = await c.client.get('BGPConfiguration', 'default').catch(() => undefined);
  const plan = computeBgpPlan(deps.nodeName, nodes, peersRes.map((p) => peerFromResource(p.metadata.name, p)), configFromResource(cfgRes));

  // The agent's own view: sessions and whether BGP runs at all (`--no-bgp` = flat mode).
  let status: { enabled?: boolean; running?: boolean; peers?: { address: string; state: string; peerNode?: string; info?: string }[] } | undefined;
  try {
    const r = await deps.httpGet(`${deps.healthUrl}/bgp/peers`, 3000);
    if (r.status === 200) status = JSON.parse(r.body) as typeof status;
  } catch { /* below */ }
  if (status !== undefined && status.enabled === false) {
    c.out.push(skip('bgp', 'the agent runs without BGP (flat mode)'));
  } else {
    c.bgpEnabled = true;
    if (plan.peers.length === 0) c.out.push(ok('bgp-peers', 'no BGP peers configured for this node'));
    for (const p of plan.peers) {
      const who = `${p.address}:${p.port}${p.peerNode !== undefined ? ` (node ${p.peerNode})` : ''}, ${p.type}`;
      const err = await deps.tcpConnect(p.address, p.port, 2000);
      c.out.push(err === undefined ? ok('bgp-peer-tcp', `${who}: TCP connects`)
        : fail('bgp-peer-tcp', `${who}: ${err}`,
          `something between the hosts drops TCP ${p.port} (a firewall, a cloud security group, nft/iptables on either host): allow TCP ${p.port} both ways between the BGP speakers`));
    }
    if (status === undefined) {
      c.out.push(skip('bgp-sessions', `the agent's status endpoint ${deps.healthUrl}/bgp/peers does not answer (pass --health-port of the running agent)`));
      c.notes.push('BGP session states not read: no agent status endpoint');
    } else {
      const down = (status.peers ?? []).filter((p) => p.state.toLowerCase() !== 'established');
      c.out.push(down.length === 0 ? ok('bgp-sessions', `${(status.peers ?? []).length} session(s) Established`)
        : fail('bgp-sessions', `not Established: ${down.map((p) => `${p.address}${p.peerNode !== undefined ? ` (${p.peerNode})` : ''} ${p.state}${p.info ? ` — ${p.info}` : ''}`).join('; ')}`,
          'check TCP 179 (bgp-peer-tcp above), AS numbers and addresses of both sides (weft get node -o yaml; weft node status)'));
    }
  }

  // Another host's block must have a route here: the cross-host form of "100 % packet loss".
  const aff = await c.backend!.list(ipamAffinityPrefix()).catch(() => undefined);
  if (aff === undefined) return;
  const foreign = aff.items.map((kv) => parseIpamAffinityKey(kv.key)).filter((a) => a !== undefined && a.host !== deps.nodeName);
  const missing: string[] = [];
  for (const a of foreign) {
    if (!nodes.has(a!.host)) continue; // a deleted node's leftover affinity: `weft ipam check` reports it
    const r = await deps.runner.run(['ip', a!.family === 'ipv6' ? '-6' : '-4', 'route', 'show', 'exact', a!.cidr], { allowFail: true }).catch(() => undefined);
    if (r === undefined || r.code !== 0 || r.stdout.trim() === '') missing.push(`${a!.cidr} (${a!.host})`);
  }
  c.out.push(missing.length === 0 ? ok('routes-to-other-hosts', `${foreign.length} block(s) of other hosts routed`)
    : fail('routes-to-other-hosts', `no kernel route for: ${missing.join(', ')}`,
      'workloads there are unreachable from here (100% packet loss across hosts): bring up the BGP session with that host (see bgp-peer-tcp / bgp-sessions), or in flat mode check both hosts share the underlay subnet'));
}

// ---------- Docker ----------

function optionValue(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === name) return argv[i + 1] ?? '';
    if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
  }
  return undefined;
}

async function checkDocker(c: Ctx): Promise<void> {
  const { deps } = c;
  const ds = await deps.dockerds();
  if (ds === 'unknown') {
    c.out.push(skip('docker', 'not root: cannot see which dockerd runs in this network namespace'));
    c.notes.push('Docker checks skipped: not root');
    return;
  }
  if (ds.length === 0) {
    c.out.push(skip('docker', 'no dockerd runs in this network namespace'));
    return;
  }
  const d = ds[0]!;
  // Options that break a network plugin.
  const bad: string[] = [];
  const hints: string[] = [];
  for (const o of ['--cluster-store', '--cluster-advertise']) {
    if (optionValue(d.argv, o) !== undefined) {
      bad.push(`${o} (removed in Docker 23: dockerd refuses to start with it)`);
      hints.push(`drop ${o}: Weft networks are global through Weft's own datastore, dockerd needs no cluster store`);
    }
  }
  const iptables = optionValue(d.argv, '--iptables');
  if (iptables === undefined || iptables === 'true') {
    const fwd = deps.isRoot ? await deps.runner.run(['nft', 'list', 'chain', 'ip', 'filter', 'FORWARD'], { allowFail: true }).catch(() => undefined) : undefined;
    if (fwd?.code === 0 && /policy drop/.test(fwd.stdout)) {
      bad.push('iptables on: the FORWARD chain\'s policy is DROP, which drops traffic routed to workloads');
      hints.push('start dockerd with --iptables=false (Weft programs its own rules), or accept workload traffic: iptables -I DOCKER-USER -i cali+ -j ACCEPT; iptables -I DOCKER-USER -o cali+ -j ACCEPT');
    }
  }
  c.out.push(bad.length === 0 ? ok('dockerd-options', `dockerd pid ${d.pid}: no option that breaks the plugin`)
    : fail('dockerd-options', `dockerd pid ${d.pid}: ${bad.join('; ')}`, hints.join('; ')));

  // Which plugin names docker networks need; Weft's are calico/weft (+ -ipam).
  const host = optionValue(d.argv, '-H') ?? optionValue(d.argv, '--host') ?? 'unix:///var/run/docker.sock';
  const needed = new Set<string>();
  if (host.startsWith('unix://')) {
    try {
      const r = await deps.unixGet(host.slice('unix://'.length), '/networks', 3000);
      if (r.status === 200) {
        for (const n of JSON.parse(r.body) as { Driver?: string; IPAM?: { Driver?: string } }[]) {
          for (const drv of [n.Driver, n.IPAM?.Driver]) if (drv !== undefined && drv !== 'default' && !BUILTIN_DOCKER_DRIVERS.has(drv)) needed.add(drv);
        }
      }
    } catch { /* plugin files still checked */ }
  }
  const found = new Map<string, string>(); // name → socket path
  for (const dir of DOCKER_SPEC_DIRS) {
    for (const f of deps.listDir(dir)) {
      const m = /^(.+)\.(spec|json)$/.exec(f);
      if (m === null) continue;
      const text = deps.readFile(`${dir}/${f}`) ?? '';
      const addr = m[2] === 'json' ? (() => { try { return (JSON.parse(text) as { Addr?: string }).Addr ?? ''; } catch { return ''; } })() : text.trim();
      found.set(m[1]!, addr.replace(/^unix:\/\//, ''));
    }
  }
  for (const f of deps.listDir(DOCKER_SOCKET_DIR)) {
    const m = /^(.+)\.sock$/.exec(f);
    if (m !== null && !found.has(m[1]!)) found.set(m[1]!, `${DOCKER_SOCKET_DIR}/${f}`);
  }
  const wanted = needed.size > 0 ? [...needed] : WEFT_PLUGIN_NAMES.filter((n) => found.has(n)).length > 0 ? WEFT_PLUGIN_NAMES.filter((n) => found.has(n)) : ['calico'];
  for (const name of wanted) {
    const sock = found.get(name);
    if (sock === undefined) {
      c.out.push(fail('docker-plugin', `plugin "${name}" not found: no ${name}.spec or ${name}.json in ${DOCKER_SPEC_DIRS.join(' or ')}, no ${name}.sock in ${DOCKER_SOCKET_DIR}${needed.has(name) ? ' (a docker network uses it)' : ''}`,
        'start the plugin on this host: weft docker-plugin --calico-aliases (it writes the spec files and answers on their sockets); then retry the docker command'));
      continue;
    }
    try {
      const r = await deps.unixPost(sock, '/Plugin.Activate', 3000);
      const impl = (JSON.parse(r.body) as { Implements?: string[] }).Implements ?? [];
      c.out.push(r.status === 200 ? ok('docker-plugin', `${name}: ${sock} answers (${impl.join(', ')})`)
        : fail('docker-plugin', `${name}: ${sock} answered HTTP ${r.status} to /Plugin.Activate`, 'restart weft docker-plugin'));
    } catch (e) {
      c.out.push(fail('docker-plugin', `${name}: spec points to ${sock}, which does not answer (${msg(e)})`,
        'the plugin process is gone and its spec stayed behind (docker then hangs or fails with "plugin not found"): restart weft docker-plugin, or remove the stale spec'));
    }
  }
}

/** Runs every check. Never throws: a check that cannot run reports SKIP or FAIL. */
export async function checkSystem(deps: CheckSystemDeps): Promise<CheckReport> {
  const c: Ctx = { deps, out: [], notes: [], agentAlive: false, bgpEnabled: false };
  if (!deps.isRoot) c.notes.push('not root: checks that need root were skipped; run as root for a full report');
  try {
    await checkDatastore(c);
    await checkKernel(c);
    await checkBgp(c);
    await checkDocker(c);
  } catch (e) {
    c.out.push(fail('checksystem', `a check crashed: ${msg(e)}`, 'report this as a Weft bug with the output of weft node diags'));
  } finally {
    await c.backend?.close().catch(() => undefined);
  }
  const partial = c.notes.length > 0 || c.out.some((r) => r.status === 'skip');
  return { ok: !c.out.some((r) => r.status === 'fail'), partial, notes: c.notes, checks: c.out };
}

export function formatCheckReport(r: CheckReport): string {
  const tag: Record<CheckStatus, string> = { ok: 'OK  ', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' };
  const lines = r.checks.map((x) => `${tag[x.status]} ${x.name}: ${x.evidence}${x.hint !== undefined && (x.status === 'fail' || x.status === 'warn') ? `\n     hint: ${x.hint}` : ''}`);
  const count = (s: CheckStatus): number => r.checks.filter((x) => x.status === s).length;
  lines.push(`${r.ok ? 'checksystem: no problems found' : 'checksystem: problems found'} (${count('fail')} failed, ${count('warn')} warnings, ${count('ok')} ok, ${count('skip')} skipped)`);
  for (const n of r.notes) lines.push(`note: ${n}`);
  return `${lines.join('\n')}\n`;
}
