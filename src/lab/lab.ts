/**
 * `weft lab`: multi-host topologies in network namespaces on one machine (the e2e harness).
 *
 *   weft-<lab>--underlay   bridge br0 198.18.0.254/24 (the hosts' default gateway)
 *     │ veth u<i> ⇄ eth0     (dual stack: also 2001:db8:ffff::254/64)
 *   weft-<lab>-<host>      eth0 198.18.0.<i+1>/24, default via .254, `weft node run` inside
 *     │ veth cali… ⇄ eth0    (dual stack: also 2001:db8:ffff::<i+1>/64, default via ::254, --ip6)
 *   weft-<lab>--w-<name>   a workload: /32 address, 169.254.1.1 gateway (and /128, fe80::ecee:eeff:feee:eeee)
 *
 * Every object is created inside a namespace the lab owns; the root namespace is never changed
 * (no links, routes or rules). `labDown` removes everything by the `weft-<lab>-` prefix, so it
 * also cleans up after a crashed `up` with no state file.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants as osConstants } from 'node:os';
import { ErrorCodes, WeftError } from '../lib/errors.ts';
import { isAlive as alive } from '../lib/process.ts';
import { componentLogger, type Logger } from '../lib/log.ts';
import { EtcdBackend, SqliteBackend, felixStatusKey, type Backend } from '../datastore/index.ts';
import { ResourceClient, parseManifests } from '../api/index.ts';
import { Ipam } from '../ipam/index.ts';
import { ExecRunner, IpLinkOps, runArgv } from '../agent/netlink/index.ts';
import { hostInterfaceName, plumbWorkload } from '../agent/plumbing/index.ts';
import {
  LAB_DEFAULT_POOL4, LAB_DEFAULT_POOL6, LAB_GATEWAY4, LAB_GATEWAY6, hostAddress4, hostAddress6,
  type LoadedTopology, type Topology,
} from './topology.ts';
import { routerAddress, routerShowCommand, startRouter, type RouterKind } from './routers.ts';

export { DEFAULT_STATE_ROOT } from './defaults.ts';
import { DEFAULT_STATE_ROOT } from './defaults.ts';
export const LAB_ALLOW_PROFILE = 'weft-lab-allow-all';
// Agents and the provisioning child run the weft CLI itself, with the lab's Node.
const WEFT_MAIN = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
const AGENT_MAIN = WEFT_MAIN;
const LAB_MAIN = WEFT_MAIN;
const GATEWAY = LAB_GATEWAY4;

export interface LabOptions {
  /** Parent of per-lab state directories (datastore file, agent logs, lab.json). */
  stateRoot?: string;
  /** Give up waiting for agents to program every workload after this long. Default 60 s. */
  readyTimeoutMs?: number;
  /** Agent drift-repair interval (seconds). Default 30. */
  refreshIntervalSecs?: number;
  /** Extra environment for agents (e.g. WEFT_LOG_LEVEL). */
  agentEnv?: NodeJS.ProcessEnv;
  logger?: Logger;
}

export interface LabHostState {
  name: string;
  ns: string;
  /** Underlay address with prefix length. */
  ip: string;
  /** IPv6 underlay address with prefix length (dual-stack labs). */
  ip6?: string;
  asNumber?: number;
  pid?: number;
  log: string;
}

export interface LabWorkloadState {
  name: string;
  host: string;
  ns: string;
  iface: string;
  ipv4: string[];
  ipv6: string[];
  wepName: string;
}

export interface LabState {
  name: string;
  stateDir: string;
  dbPath: string;
  /** Datastore URL the agents use (`sqlite:…` or `etcd://198.18.0.254:2379`). */
  datastore: string;
  etcdPid?: number;
  underlay: string;
  /** Agents run BGP (default); false = flat mode (`node run --no-bgp`). */
  bgp?: boolean;
  /** Dual stack: IPv6 underlay, agents with `--ip6`, every workload one IPv4 + one IPv6 address. */
  ipv6?: boolean;
  hosts: LabHostState[];
  workloads: LabWorkloadState[];
  routers?: LabRouterState[];
}

export interface LabRouterState {
  name: string;
  kind: RouterKind;
  as: number;
  ns: string;
  /** Underlay address with prefix length. */
  ip: string;
  /** Configuration, control socket and log. */
  dir: string;
  pid?: number;
  /** Command showing the router's sessions (run inside its namespace). */
  show: string[];
}

export const nsPrefix = (lab: string): string => `weft-${lab}-`;
export const hostNs = (lab: string, host: string): string => `weft-${lab}-${host}`;
export const underlayNs = (lab: string): string => `weft-${lab}--underlay`;
export const workloadNs = (lab: string, wl: string): string => `weft-${lab}--w-${wl}`;
export const routerNs = (lab: string, r: string): string => `weft-${lab}--r-${r}`;

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new WeftError(ErrorCodes.INTERNAL, `ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

function listNamespaces(): string[] {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  return out.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '');
}

export function stateDirFor(lab: string, opts: LabOptions = {}): string {
  return join(opts.stateRoot ?? DEFAULT_STATE_ROOT, lab);
}

export function readState(lab: string, opts: LabOptions = {}): LabState | undefined {
  const f = join(stateDirFor(lab, opts), 'lab.json');
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as LabState) : undefined;
}

function writeState(s: LabState): void {
  writeFileSync(join(s.stateDir, 'lab.json'), JSON.stringify(s, null, 2));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


/** Starts (or restarts) the agent of one host as a detached process inside the host namespace. */
export function startAgent(state: LabState, host: LabHostState, opts: LabOptions = {}): number {
  const fd = openSync(host.log, 'a');
  try {
    const args = [
      'netns', 'exec', host.ns, process.execPath, AGENT_MAIN, '--datastore', state.datastore,
      'node', 'run', '--name', host.name, '--ip', host.ip, ...(host.ip6 !== undefined ? ['--ip6', host.ip6] : []), '--no-default-ippools',
      '--health-port', '9099', '--reporting-interval', '10', '--refresh-interval', String(opts.refreshIntervalSecs ?? 30),
      ...(host.asNumber !== undefined ? ['--as', String(host.asNumber)] : []),
      ...(state.bgp === false ? ['--no-bgp'] : []),
    ];
    const child = spawn('ip', args, {
      detached: true, stdio: ['ignore', fd, fd],
      env: { PATH: process.env.PATH, WEFT_LOG_LEVEL: 'info', ...opts.agentEnv },
    });
    child.unref();
    if (child.pid === undefined) throw new WeftError(ErrorCodes.INTERNAL, `could not start the agent for ${host.name}`);
    host.pid = child.pid;
    writeState(state);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** Stops one host's agent: SIGTERM (or the given signal), then SIGKILL if it lingers. */
export async function stopAgent(state: LabState, host: LabHostState, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const pid = host.pid;
  if (pid !== undefined && alive(pid)) {
    try { process.kill(pid, signal); } catch { /* gone */ }
    for (let i = 0; i < 40 && alive(pid); i++) await sleep(50);
    if (alive(pid)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
  host.pid = undefined;
  writeState(state);
}

/** Creates the whole lab; on any failure everything created so far is removed again. */
export async function labUp(loaded: LoadedTopology, opts: LabOptions = {}): Promise<LabState> {
  const t = loaded.topology;
  const log = opts.logger ?? componentLogger('lab', { lab: t.name });
  const existing = listNamespaces().filter((n) => n.startsWith(nsPrefix(t.name)));
  if (existing.length > 0) {
    throw new WeftError(ErrorCodes.ALREADY_EXISTS, `lab ${t.name} already exists (${existing.length} namespaces)`, { hint: `weft lab down ${t.name}` });
  }
  const stateDir = stateDirFor(t.name, opts);
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });
  const etcd = t.datastore === 'etcd';
  const ipv6 = isDualStack(loaded);
  const state: LabState = {
    name: t.name, stateDir, dbPath: join(stateDir, 'weft.db'), underlay: underlayNs(t.name), bgp: t.bgp, ipv6,
    datastore: etcd ? `etcd://${GATEWAY}:${ETCD_PORT}` : `sqlite:${join(stateDir, 'weft.db')}`,
    hosts: t.hosts.map((h, i) => ({
      name: h.name, ns: hostNs(t.name, h.name), ip: `${hostAddress4(i)}/24`, log: join(stateDir, `${h.name}.log`),
      ...(ipv6 ? { ip6: `${hostAddress6(i)}/64` } : {}),
      ...(h.asNumber !== undefined ? { asNumber: h.asNumber } : {}),
    })),
    workloads: [],
    routers: t.routers.map((r, i) => ({
      name: r.name, kind: r.kind, as: r.as, ns: routerNs(t.name, r.name), ip: `${routerAddress(i)}/24`,
      dir: join(stateDir, `router-${r.name}`), show: routerShowCommand(r.kind, join(stateDir, `router-${r.name}`)),
    })),
  };
  writeState(state);
  try {
    buildUnderlay(state);
    startRouters(state, loaded);
    // Workload namespaces are created here, in this mount namespace: `ip netns add` run under
    // `ip netns exec` (the etcd provisioning child) would bind-mount them in a private mount
    // namespace, invisible to everyone else.
    for (const w of t.workloads) {
      ip(['netns', 'add', workloadNs(t.name, w.name)]);
      ip(['-n', workloadNs(t.name, w.name), 'link', 'set', 'lo', 'up']);
    }
    if (etcd) {
      // etcd lives in the underlay namespace (reachable by every host at the gateway address); the
      // datastore work runs in a child process inside that namespace, since this process (root
      // namespace) has no route to it and the lab never adds one.
      state.etcdPid = startEtcd(state);
      writeState(state);
      writeFileSync(join(stateDir, 'provision.json'), JSON.stringify({ loaded, opts: { readyTimeoutMs: opts.readyTimeoutMs, refreshIntervalSecs: opts.refreshIntervalSecs, agentEnv: opts.agentEnv } }));
      const r = spawnSync('ip', ['netns', 'exec', state.underlay, process.execPath, LAB_MAIN, 'lab', '_provision', stateDir], {
        encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'], timeout: (opts.readyTimeoutMs ?? 60_000) + 60_000,
      });
      if (r.status !== 0) throw new WeftError(ErrorCodes.INTERNAL, `lab provisioning failed: ${(r.stderr ?? '').trim().slice(-2000)}`);
      const done = readState(t.name, opts);
      if (done === undefined) throw new WeftError(ErrorCodes.INTERNAL, 'lab provisioning left no state');
      log.info({ hosts: done.hosts.length, workloads: done.workloads.length }, 'lab up (etcd)');
      return done;
    }
    const backend = new SqliteBackend({ path: state.dbPath });
    try {
      await provision(state, loaded, backend, opts);
    } finally {
      await backend.close();
    }
    log.info({ hosts: state.hosts.length, workloads: state.workloads.length }, 'lab up');
    return state;
  } catch (e) {
    log.error({ err: (e as Error).message }, 'lab up failed; cleaning up');
    await labDown(t.name, opts);
    throw e;
  }
}

/** Datastore contents, agents, workloads, wait — given a reachable backend. */
export async function provision(state: LabState, loaded: LoadedTopology, backend: Backend, opts: LabOptions = {}): Promise<void> {
  await waitForDatastore(backend, 30_000);
  await seedDatastore(backend, state, loaded);
  for (const h of state.hosts) startAgent(state, h, opts);
  const client = new ResourceClient(backend);
  const ipam = new Ipam(backend);
  for (const w of loaded.topology.workloads) {
    state.workloads.push(await addWorkload(state, client, ipam, w));
    writeState(state);
  }
  await waitProgrammed(state, opts.readyTimeoutMs ?? 60_000);
  if (state.bgp !== false) await waitMeshEstablished(state, opts.readyTimeoutMs ?? 60_000);
}

/** One agent's `/bgp/peers` (health port 9099, reachable only inside its namespace). */
async function agentBgpPeers(h: LabHostState): Promise<{ state: string; peerNode?: string; source?: string; address: string }[] | undefined> {
  const code = "fetch('http://127.0.0.1:9099/bgp/peers').then((r) => r.text()).then((t) => process.stdout.write(t), () => process.exit(1))";
  const r = await runArgv(['ip', 'netns', 'exec', h.ns, process.execPath, '-e', code], { allowFail: true });
  if (r.code !== 0) return undefined;
  try {
    return (JSON.parse(r.stdout) as { peers?: { state: string; peerNode?: string; source?: string; address: string }[] }).peers ?? [];
  } catch {
    return undefined;
  }
}

/**
 * The node-to-node mesh is up: every mesh session of every agent is Established. Without this a
 * lab was "up" while its hosts had no routes to each other yet: the first connect of the side
 * that initiates can find the other agent not listening yet, and the retry comes 5 s later
 * (ConnectRetryTimer), so traffic started right after `lab up` was lost for seconds.
 * Sessions with explicit BGPPeers (routers, external speakers) are not waited for.
 */
export async function waitMeshEstablished(state: LabState, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const waiting: string[] = [];
    for (const h of state.hosts) {
      const peers = await agentBgpPeers(h);
      if (peers === undefined) { waiting.push(`${h.name} (status not available)`); continue; }
      for (const p of peers) if (p.source === undefined && p.state !== 'established') waiting.push(`${h.name}→${p.peerNode ?? p.address} (${p.state})`);
    }
    if (waiting.length === 0) return;
    if (Date.now() > deadline) {
      throw new WeftError(ErrorCodes.TIMEOUT, `lab ${state.name}: BGP mesh not established after ${timeoutMs} ms: ${waiting.join(', ')}`, { hint: `see agent logs in ${state.stateDir}` });
    }
    await sleep(200);
  }
}

/** Entry of the `_provision` child (etcd labs): runs inside the underlay namespace. */
export async function provisionFromStateDir(stateDir: string): Promise<void> {
  const state = JSON.parse(readFileSync(join(stateDir, 'lab.json'), 'utf8')) as LabState;
  const { loaded, opts } = JSON.parse(readFileSync(join(stateDir, 'provision.json'), 'utf8')) as { loaded: LoadedTopology; opts: LabOptions };
  const backend = new EtcdBackend({ endpoints: [`http://127.0.0.1:${ETCD_PORT}`] });
  try {
    await provision(state, loaded, backend, opts);
  } finally {
    await backend.close();
  }
}

async function waitForDatastore(backend: Backend, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await backend.revision();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(200);
    }
  }
}

const ETCD_PORT = 2379;

function startEtcd(state: LabState): number {
  const fd = openSync(join(state.stateDir, 'etcd.log'), 'a');
  try {
    const child = spawn('ip', [
      'netns', 'exec', state.underlay, 'etcd', '--name', 'weft-lab', '--data-dir', join(state.stateDir, 'etcd'),
      '--listen-client-urls', `http://${GATEWAY}:${ETCD_PORT},http://127.0.0.1:${ETCD_PORT}`,
      '--advertise-client-urls', `http://${GATEWAY}:${ETCD_PORT}`,
      '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
      '--initial-cluster', 'weft-lab=http://127.0.0.1:2380', '--initial-cluster-state', 'new',
    ], { detached: true, stdio: ['ignore', fd, fd] });
    child.unref();
    if (child.pid === undefined) throw new WeftError(ErrorCodes.INTERNAL, 'could not start etcd', { hint: 'is etcd installed?' });
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** CIDRs of the IP pools among the topology's resources (v3 `spec.cidr`, v1 `metadata.cidr`; `''` when neither). */
export function manifestPoolCidrs(manifests: LoadedTopology['manifests']): string[] {
  const out: string[] = [];
  for (const m of manifests) {
    for (const d of parseManifests(m.text, m.source)) {
      const v = (d.value ?? {}) as { kind?: unknown; metadata?: { cidr?: unknown }; spec?: { cidr?: unknown } };
      if (!/^ippool$/i.test(String(v.kind ?? ''))) continue;
      const cidr = v.spec?.cidr ?? v.metadata?.cidr;
      out.push(typeof cidr === 'string' ? cidr : '');
    }
  }
  return out;
}

/** Dual stack: `ipv6:` when given, else whether `pools`, the resources or a workload's `ip6` bring IPv6. */
export function isDualStack(loaded: LoadedTopology): boolean {
  const t = loaded.topology;
  if (t.ipv6 !== undefined) return t.ipv6;
  return (t.pools ?? []).some((p) => p.cidr.includes(':')) || manifestPoolCidrs(loaded.manifests).some((c) => c.includes(':')) ||
    t.workloads.some((w) => w.ip6 !== undefined);
}

/**
 * The pools the lab creates. An explicit `pools:` list is complete (`pools: []` = none: the seeds
 * create their own with `weft create`). Without one, a default pool for each family the lab uses
 * that the resources do not bring (a seed's ipPool manifest must not collide with a default):
 * IPv4 always, IPv6 in a dual-stack lab.
 */
export function labPools(loaded: LoadedTopology, ipv6: boolean): NonNullable<Topology['pools']> {
  if (loaded.topology.pools !== undefined) return [...loaded.topology.pools];
  const pools: NonNullable<Topology['pools']> = [];
  // A manifest pool whose CIDR cannot be read counts as IPv4 (as before dual stack: any pool).
  const brought = manifestPoolCidrs(loaded.manifests);
  if (!brought.some((c) => !c.includes(':'))) pools.push({ ...LAB_DEFAULT_POOL4 });
  if (ipv6 && !brought.some((c) => c.includes(':'))) pools.push({ ...LAB_DEFAULT_POOL6 });
  return pools;
}

async function seedDatastore(backend: Backend, state: LabState, loaded: LoadedTopology): Promise<void> {
  const client = new ResourceClient(backend);
  const t = loaded.topology;
  const manifestDocs = loaded.manifests.flatMap((m) => parseManifests(m.text, m.source));
  const pools = labPools(loaded, state.ipv6 === true);
  for (const [i, p] of pools.entries()) {
    await client.apply({
      apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: p.name ?? `lab-pool-${i}` },
      spec: { cidr: p.cidr, blockSize: p.blockSize ?? (p.cidr.includes(':') ? 122 : 26), natOutgoing: p.natOutgoing ?? false, ipipMode: 'Never', vxlanMode: 'Never' },
    });
  }
  await client.apply({
    apiVersion: 'projectcalico.org/v3', kind: 'Profile', metadata: { name: LAB_ALLOW_PROFILE },
    spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] },
  });
  // Nodes first, with the lab's labels; each agent keeps them when it registers itself.
  for (const h of t.hosts) {
    const hs = state.hosts.find((x) => x.name === h.name)!;
    await client.apply({
      apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: h.name, ...(h.labels ? { labels: h.labels } : {}) },
      spec: { bgp: { ipv4Address: hs.ip, ...(hs.ip6 !== undefined ? { ipv6Address: hs.ip6 } : {}), ...(h.asNumber !== undefined ? { asNumber: h.asNumber } : {}) } },
    });
  }
  for (const doc of manifestDocs) await client.apply(doc.value);
}

/** The AS every host runs unless its Node says otherwise: BGPConfiguration `default` in the topology's resources, else 64512. */
function defaultAs(loaded: LoadedTopology): number {
  for (const m of loaded.manifests) {
    for (const doc of parseManifests(m.text, m.source)) {
      const v = doc.value as { kind?: string; metadata?: { name?: string }; spec?: { asNumber?: unknown } };
      if (v.kind === 'BGPConfiguration' && v.metadata?.name === 'default' && typeof v.spec?.asNumber === 'number') return v.spec.asNumber;
    }
  }
  return 64512;
}

function startRouters(state: LabState, loaded: LoadedTopology): void {
  const routers = state.routers ?? [];
  if (routers.length === 0) return;
  const hostAs = defaultAs(loaded);
  routers.forEach((r, i) => {
    ip(['netns', 'add', r.ns]);
    ip(['-n', r.ns, 'link', 'set', 'lo', 'up']);
    ip(['-n', state.underlay, 'link', 'add', `r${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', r.ns]);
    ip(['-n', state.underlay, 'link', 'set', `r${i}`, 'master', 'br0']);
    ip(['-n', state.underlay, 'link', 'set', `r${i}`, 'up']);
    ip(['-n', r.ns, 'addr', 'add', r.ip, 'dev', 'eth0']);
    ip(['-n', r.ns, 'link', 'set', 'eth0', 'up']);
    ip(['-n', r.ns, 'route', 'add', 'default', 'via', GATEWAY]);
    // The router forwards (eBGP next hop self): inside its own namespace only.
    const f = spawnSync('ip', ['netns', 'exec', r.ns, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'], { encoding: 'utf8' });
    if (f.status !== 0) throw new WeftError(ErrorCodes.INTERNAL, `sysctl in ${r.ns}: ${f.stderr.trim()}`);
    const neighbors = state.hosts.map((h) => ({ name: h.name, address: h.ip.split('/')[0], as: h.asNumber ?? hostAs }));
    r.pid = startRouter(r.kind, r.ns, r.dir, { name: r.name, as: r.as, address: r.ip.split('/')[0], neighbors });
    writeState(state);
  });
}

function buildUnderlay(state: LabState): void {
  const ul = state.underlay;
  ip(['netns', 'add', ul]);
  ip(['-n', ul, 'link', 'set', 'lo', 'up']);
  // No multicast snooping: without an MLD querier on the bridge, snooping can stop forwarding the
  // hosts' neighbour solicitations once their group memberships time out.
  ip(['-n', ul, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0']);
  ip(['-n', ul, 'addr', 'add', `${GATEWAY}/24`, 'dev', 'br0']);
  if (state.ipv6 === true) ip(['-n', ul, 'addr', 'add', `${LAB_GATEWAY6}/64`, 'dev', 'br0', 'nodad']);
  ip(['-n', ul, 'link', 'set', 'br0', 'up']);
  state.hosts.forEach((h, i) => {
    ip(['netns', 'add', h.ns]);
    ip(['-n', h.ns, 'link', 'set', 'lo', 'up']);
    ip(['-n', ul, 'link', 'add', `u${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns]);
    ip(['-n', ul, 'link', 'set', `u${i}`, 'master', 'br0']);
    ip(['-n', ul, 'link', 'set', `u${i}`, 'up']);
    ip(['-n', h.ns, 'addr', 'add', h.ip, 'dev', 'eth0']);
    // nodad: the address is usable at once (the agent binds BGP to it); the lab guarantees uniqueness.
    if (h.ip6 !== undefined) ip(['-n', h.ns, 'addr', 'add', h.ip6, 'dev', 'eth0', 'nodad']);
    ip(['-n', h.ns, 'link', 'set', 'eth0', 'up']);
    // The default route matters: proxy ARP for 169.254.1.1 needs a route covering it (seed 001).
    ip(['-n', h.ns, 'route', 'add', 'default', 'via', GATEWAY]);
    if (h.ip6 !== undefined) ip(['-n', h.ns, '-6', 'route', 'add', 'default', 'via', LAB_GATEWAY6]);
  });
}

async function addWorkload(state: LabState, client: ResourceClient, ipam: Ipam, w: Topology['workloads'][number]): Promise<LabWorkloadState> {
  const host = state.hosts.find((h) => h.name === w.host)!;
  const handle = `lab.${state.name}.${w.name}`;
  const addrs: string[] = [];
  if (w.ip !== undefined) addrs.push((await ipam.assignIP({ ip: w.ip.split('/')[0]!, host: w.host, handle })).ip);
  if (w.ip6 !== undefined) addrs.push((await ipam.assignIP({ ip: w.ip6.split('/')[0]!, host: w.host, handle })).ip);
  // Dual stack: whatever family is not fixed comes from IPAM (one call, same handle); single stack:
  // IPAM's IPv4 address only when nothing is fixed.
  const num4 = w.ip === undefined && (state.ipv6 === true || addrs.length === 0) ? 1 : 0;
  const num6 = state.ipv6 === true && w.ip6 === undefined ? 1 : 0;
  if (num4 + num6 > 0) {
    const r = await ipam.autoAssign({ host: w.host, handle, num4, num6, attrs: { lab: state.name, workload: w.name } });
    addrs.push(...r.ipv4.map((a) => a.ip), ...r.ipv6.map((a) => a.ip));
  }
  const ns = workloadNs(state.name, w.name);
  const res = await plumbWorkload(
    { host: new IpLinkOps(new ExecRunner(host.ns)), workload: new IpLinkOps(new ExecRunner(ns)) },
    { workloadId: `${state.name}/${w.name}`, netns: ns, addresses: addrs },
  );
  const wep = await client.apply({
    apiVersion: 'projectcalico.org/v3', kind: 'WorkloadEndpoint',
    metadata: { namespace: 'default', labels: { ...(w.labels ?? {}), 'weft.dev/lab': state.name, 'weft.dev/workload': w.name } },
    spec: {
      node: w.host, orchestrator: 'lab', workload: w.name, endpoint: 'eth0', interfaceName: res.hostInterface,
      ipNetworks: [...res.ipv4Nets, ...res.ipv6Nets], profiles: w.profiles ?? [LAB_ALLOW_PROFILE],
      ...(res.mac !== undefined ? { mac: res.mac } : {}),
    },
  });
  return { name: w.name, host: w.host, ns, iface: res.hostInterface, ipv4: res.ipv4Nets, ipv6: res.ipv6Nets, wepName: wep.metadata.name };
}

/** Waits until every host's agent has programmed every one of its workloads (dispatch entry + route). */
export async function waitProgrammed(state: LabState, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const missing: string[] = [];
    for (const h of state.hosts) {
      const mine = state.workloads.filter((w) => w.host === h.name);
      const map = await runArgv(['ip', 'netns', 'exec', h.ns, 'nft', 'list', 'map', 'inet', 'weft', 'wl-from'], { allowFail: true });
      const routes = await runArgv(['ip', '-n', h.ns, 'route', 'show', 'proto', '80'], { allowFail: true });
      const routes6 = mine.some((w) => w.ipv6.length > 0)
        ? await runArgv(['ip', '-n', h.ns, '-6', 'route', 'show', 'proto', '80'], { allowFail: true })
        : undefined;
      for (const w of mine) {
        const v4ok = w.ipv4.length === 0 || routes.stdout.includes(`dev ${w.iface}`);
        const v6ok = w.ipv6.length === 0 || (routes6?.stdout.includes(`dev ${w.iface}`) ?? false);
        if (!map.stdout.includes(`"${w.iface}"`) || !v4ok || !v6ok) missing.push(w.name);
      }
      if (mine.length === 0 && map.code !== 0) missing.push(`host ${h.name}`);
    }
    if (missing.length === 0) return;
    const dead = state.hosts.filter((h) => !alive(h.pid));
    if (dead.length > 0) {
      const tail = dead.map((h) => `${h.name}: ${existsSync(h.log) ? readFileSync(h.log, 'utf8').slice(-800) : ''}`).join('\n');
      throw new WeftError(ErrorCodes.INTERNAL, `agent(s) exited: ${dead.map((h) => h.name).join(', ')}\n${tail}`);
    }
    if (Date.now() > deadline) {
      throw new WeftError(ErrorCodes.TIMEOUT, `lab ${state.name}: not programmed after ${timeoutMs} ms: ${missing.join(', ')}`, { hint: `see agent logs in ${state.stateDir}` });
    }
    await sleep(100);
  }
}

export interface LabDownResult {
  namespaces: string[];
  agentsStopped: number;
}

/**
 * SIGKILL, then wait (bounded) until the process is gone, so a caller that exits right after
 * `labDown` leaves no daemon (or zombie of one) behind.
 */
async function killAndWait(pid: number | undefined, timeoutMs = 10_000): Promise<void> {
  if (pid === undefined || !alive(pid)) return;
  try { process.kill(pid, 'SIGKILL'); } catch { return; }
  const deadline = Date.now() + timeoutMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/** Removes everything of a lab: agents (by recorded PID), then every `weft-<lab>-` namespace. */
export async function labDown(lab: string, opts: LabOptions = {}): Promise<LabDownResult> {
  const state = readState(lab, opts);
  let agentsStopped = 0;
  for (const h of state?.hosts ?? []) {
    if (alive(h.pid)) {
      await stopAgent(state!, h);
      agentsStopped++;
    }
  }
  for (const r of state?.routers ?? []) await killAndWait(r.pid);
  await killAndWait(state?.etcdPid);
  const namespaces = listNamespaces().filter((n) => n.startsWith(nsPrefix(lab)));
  for (const ns of namespaces) {
    // Whatever still runs inside (an agent without a state file, `lab exec` leftovers) goes too.
    const pids = (spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '').split(/\s+/).filter(Boolean).map(Number);
    for (const p of pids) {
      try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    }
  }
  // Workloads first, then hosts, then the underlay (deleting a namespace deletes its veths).
  const order = (n: string): number => (n.includes('--w-') ? 0 : n.endsWith('--underlay') ? 2 : 1);
  for (const ns of [...namespaces].sort((a, b) => order(a) - order(b))) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  rmSync(stateDirFor(lab, opts), { recursive: true, force: true });
  return { namespaces, agentsStopped };
}

export interface LabStatus {
  name: string;
  exists: boolean;
  /** Dual stack (IPv6 underlay and workload addresses). */
  ipv6?: boolean;
  hosts: { name: string; ns: string; ip: string; ip6?: string; agent: 'running' | 'stopped'; lastReport?: string }[];
  workloads: { name: string; host: string; ips: string[]; iface: string }[];
  routers?: { name: string; kind: RouterKind; as: number; ip: string; running: boolean; show: string[] }[];
}

export async function labStatus(lab: string, opts: LabOptions = {}): Promise<LabStatus> {
  const state = readState(lab, opts);
  const present = new Set(listNamespaces().filter((n) => n.startsWith(nsPrefix(lab))));
  if (state === undefined) return { name: lab, exists: present.size > 0, hosts: [], workloads: [] };
  let backend: Backend | undefined;
  try {
    // An etcd lab's datastore is only reachable from inside the lab: no status reports then.
    backend = state.datastore.startsWith('sqlite:') ? new SqliteBackend({ path: state.dbPath }) : undefined;
    const hosts = [];
    for (const h of state.hosts) {
      const rep = await backend?.get(felixStatusKey(h.name)).catch(() => undefined);
      hosts.push({
        name: h.name, ns: h.ns, ip: h.ip, ...(h.ip6 !== undefined ? { ip6: h.ip6 } : {}), agent: alive(h.pid) ? 'running' as const : 'stopped' as const,
        ...(rep !== undefined ? { lastReport: (JSON.parse(rep.value) as { time?: string }).time } : {}),
      });
    }
    const routers = (state.routers ?? []).map((r) => ({ name: r.name, kind: r.kind, as: r.as, ip: r.ip, running: alive(r.pid), show: r.show }));
    return {
      name: lab, exists: present.size > 0, ...(state.ipv6 === true ? { ipv6: true } : {}), hosts, workloads: state.workloads.map((w) => ({ name: w.name, host: w.host, ips: [...w.ipv4, ...w.ipv6], iface: w.iface })),
      ...(routers.length > 0 ? { routers } : {}),
    };
  } finally {
    await backend?.close();
  }
}

/** The namespace a `lab exec` target (host or workload name) runs in. */
export function execNamespace(state: LabState, target: string): string {
  const w = state.workloads.find((x) => x.name === target);
  if (w !== undefined) return w.ns;
  const h = state.hosts.find((x) => x.name === target);
  if (h !== undefined) return h.ns;
  const r = state.routers?.find((x) => x.name === target);
  if (r !== undefined) return r.ns;
  throw new WeftError(ErrorCodes.NOT_FOUND, `lab ${state.name} has no host or workload ${JSON.stringify(target)}`, {
    hint: `one of: ${[...state.hosts.map((x) => x.name), ...state.workloads.map((x) => x.name), ...(state.routers ?? []).map((x) => x.name)].join(', ')}`,
  });
}

/** Runs a command inside a lab host or workload, with the caller's stdio. Returns the exit code. */
/**
 * The status a shell reports for a finished child (POSIX sh, "Exit Status for Commands"): its
 * own exit code, 128 + N when signal N ended it, 127 when it could not be started at all.
 */
export function exitStatusFromSpawn(r: { status: number | null; signal: NodeJS.Signals | null; error?: Error }): number {
  if (r.status !== null) return r.status;
  if (r.signal !== null) return 128 + (osConstants.signals[r.signal] ?? 0);
  return 127;
}

export function labExec(state: LabState, target: string, argv: readonly string[]): number {
  const ns = execNamespace(state, target);
  const r = spawnSync('ip', ['netns', 'exec', ns, ...argv], { stdio: 'inherit' });
  return exitStatusFromSpawn(r);
}

export { hostInterfaceName };
