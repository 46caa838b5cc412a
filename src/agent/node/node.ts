/**
 * `weft node run`: calico/node start-up followed by the Felix loop, in one process.
 *
 *   start-up (calico-notes §4): node name → datastore → address autodetection → AS number →
 *   Node resource → ClusterInformation + default FelixConfiguration → default IP pool (unless
 *   disabled, and only when no pool exists)
 *
 *   loop:  Syncer ──updates──► CalcGraph ──HostModel──► Dataplane (nftables + routes)
 *                 ──status───►   in-sync ─────────────► setInSync (first kernel write)
 *          status reporter (TTL key), endpoint status reporter, health + metrics HTTP server
 *
 * Reporting and health settings come from FelixConfiguration (`default`, then `node.<host>`),
 * with flags taking precedence (runtime-config.ts), and follow changes without a restart.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { Registry, Gauge, collectDefaultMetrics } from 'prom-client';
import { ErrorCodes, WeftError, isWeftError } from '../../lib/errors.ts';
import { componentLogger, type Logger } from '../../lib/log.ts';
import {
  FELIX_STATUS_ROOT, IPAM_ROOT, RESOURCE_ROOT, Syncer, felixStatusKey, isRetryableDatastoreError, openBackend,
  type Backend, type DatastoreSpec, type SyncStatus, type SyncUpdate,
} from '../../datastore/index.ts';
import { ResourceClient } from '../../api/index.ts';
import { buildCalcGraph, type CalcGraph } from '../calc/index.ts';
import { Dataplane, fromHostModel } from '../dataplane/index.ts';
import { ExecRunner, IpLinkOps, IpRouteTable, NftCli, monitorLinks, type LinkMonitor, type LinkOps, type NftRunner, type RouteTable, type CommandRunner, type KernelRoute } from '../netlink/index.ts';
import { configureHost } from '../plumbing/index.ts';
import { BgpAgent, type BgpStatus } from '../bgp/index.ts';
import type { HostModel } from '../../policy/index.ts';
import { autodetectAddress, parseAutodetectMethod } from './autodetect.ts';
import { EndpointStatusReporter } from './endpoint-status.ts';
import { resolveRuntimeConfig, type AgentRuntimeConfig, type HealthSetting } from './runtime-config.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface NodeOptions {
  datastore: DatastoreSpec | Backend;
  /** Flag value; else NODENAME; else the hostname. */
  nodeName?: string;
  /** `autodetect` (default), an address (with or without prefix), or `none`. */
  ip?: string;
  ipAutodetectionMethod?: string;
  /** `none` (default), `autodetect` or an address. */
  ip6?: string;
  ip6AutodetectionMethod?: string;
  asNumber?: number;
  noDefaultIpPools?: boolean;
  /** Default pool when none exists (Calico: 192.168.0.0/16, block size 26). */
  defaultIpv4PoolCidr?: string;
  defaultIpv4PoolBlockSize?: number;
  /**
   * Health/metrics HTTP server; port 0 = any free port; `false` disables. Unset: FelixConfiguration
   * healthEnabled/healthHost/healthPort, else 127.0.0.1:9099. Set: overrides FelixConfiguration.
   */
  health?: { host?: string; port?: number } | false;
  /** Seconds between status reports (overrides FelixConfiguration reportingInterval; default 30; 0 disables). */
  reportingIntervalSecs?: number;
  /** Overrides FelixConfiguration reportingTTL (default 90). */
  reportingTTLSecs?: number;
  /** Overrides FelixConfiguration endpointReportingEnabled (default false). */
  endpointReportingEnabled?: boolean;
  /**
   * How often interface state is re-read for endpoint status: default 30 s with the real kernel,
   * where `ip monitor link` events trigger a pass on every change, 5 s with fake links.
   */
  endpointStatusPollMs?: number;
  /** Dataplane drift-repair period (default 90 s). */
  refreshIntervalMs?: number;
  /** Kernel shims (tests); default: real tools in the current namespace. */
  shims?: { runner?: CommandRunner; nft?: NftRunner; routes?: RouteTable; links?: LinkOps };
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** Give up start-up after this long while the datastore is unreachable (0 = wait forever). */
  startupTimeoutMs?: number;
  /**
   * Run Weft's BGP speaker (Calico's default networking backend): peers from Node, BGPPeer and
   * BGPConfiguration; exports local blocks and borrowed /32s; learned routes go to the kernel and
   * the calc graph's direct "remote block via node address" routes are NOT installed (BGP owns
   * remote routes). `false` (default for the library; the CLI defaults to on) = flat mode: every
   * host routes to other hosts' blocks via their node address (one L2 underlay, no BGP).
   */
  bgp?: boolean | { listenAddress?: string };
}

export interface RunningNode {
  readonly nodeName: string;
  readonly ipv4Address: string | undefined;
  readonly ipv6Address: string | undefined;
  /** Current health server URL (it moves when FelixConfiguration changes healthHost/healthPort). */
  readonly healthUrl: string | undefined;
  /** The reporting/health settings in force. */
  readonly runtimeConfig: AgentRuntimeConfig;
  readonly endpointStatus: EndpointStatusReporter;
  readonly dataplane: Dataplane;
  readonly graph: CalcGraph;
  readonly registry: Registry;
  /** BGP status (peers, prefixes); `enabled: false` in flat mode. */
  bgpStatus(): BgpStatus;
  /** Resolves after the first in-sync has been programmed into the kernel. */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

export function resolveNodeName(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const n = (flag ?? env.NODENAME ?? hostname()).trim();
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(n) || n.length > 253) {
    throw new WeftError(ErrorCodes.USAGE, `invalid node name ${JSON.stringify(n)}`, { hint: 'a lowercase DNS subdomain name; set --name or NODENAME' });
  }
  return n;
}

async function resolveAddress(
  runner: CommandRunner, links: LinkOps, version: 4 | 6, value: string | undefined, method: string | undefined,
): Promise<string | undefined> {
  const v = (value ?? (version === 4 ? 'autodetect' : 'none')).trim();
  if (v === 'none' || v === '') return undefined;
  if (v !== 'autodetect') {
    const withLen = v.includes('/') ? v : `${v}/${version === 4 ? 32 : 128}`;
    return withLen;
  }
  const found = await autodetectAddress(runner, await links.listLinks(), version, parseAutodetectMethod(method));
  if (found === undefined) {
    throw new WeftError(ErrorCodes.USAGE, `could not autodetect an IPv${version} address (method ${method ?? 'first-found'})`, {
      hint: `pass --ip${version === 6 ? '6' : ''} ADDR or another --ip${version === 6 ? '6' : ''}-autodetection-method`,
    });
  }
  return found;
}

export async function runNode(opts: NodeOptions): Promise<RunningNode> {
  const env = opts.env ?? process.env;
  const nodeName = resolveNodeName(opts.nodeName, env);
  const log = opts.logger ?? componentLogger('node', { node: nodeName });
  const runner = opts.shims?.runner ?? new ExecRunner();
  const links = opts.shims?.links ?? new IpLinkOps(runner);
  const nft = opts.shims?.nft ?? new NftCli(runner);
  const routes = opts.shims?.routes ?? new IpRouteTable(runner);
  const backend = 'get' in opts.datastore ? opts.datastore : await openBackend(opts.datastore);
  const ownsBackend = !('get' in opts.datastore);
  const client = new ResourceClient(backend);
  const started = Date.now();

  // ---- start-up (calico/node) -------------------------------------------------------------
  const ipv4Address = await resolveAddress(runner, links, 4, opts.ip, opts.ipAutodetectionMethod);
  const ipv6Address = await resolveAddress(runner, links, 6, opts.ip6, opts.ip6AutodetectionMethod);
  // calico/node WAIT_FOR_DATASTORE: an unreachable datastore is waited for, not fatal.
  await retryWhileUnreachable(log, opts.startupTimeoutMs ?? 0, async () => {
    await writeNode(client, nodeName, ipv4Address, ipv6Address, opts.asNumber);
    await ensureDefaults(client, log);
    if (opts.noDefaultIpPools !== true) {
      await ensureDefaultPool(client, opts.defaultIpv4PoolCidr ?? '192.168.0.0/16', opts.defaultIpv4PoolBlockSize ?? 26, log);
    }
  });
  log.info({ ipv4Address, ipv6Address }, 'node registered');

  // Reporting and health settings: read once before the loop (felix reads its config before it
  // starts), then followed through the calc graph's merged FelixConfiguration.
  const overrides = {
    ...(opts.reportingIntervalSecs !== undefined ? { reportingIntervalSecs: opts.reportingIntervalSecs } : {}),
    ...(opts.reportingTTLSecs !== undefined ? { reportingTTLSecs: opts.reportingTTLSecs } : {}),
    ...(opts.health !== undefined ? { health: opts.health } : {}),
    ...(opts.endpointReportingEnabled !== undefined ? { endpointReportingEnabled: opts.endpointReportingEnabled } : {}),
  };
  const resolveRuntime = (specs: (Record<string, unknown> | undefined)[]): AgentRuntimeConfig => {
    const { config, problems } = resolveRuntimeConfig(specs, overrides);
    for (const p of problems) log.warn({ problem: p }, 'FelixConfiguration value ignored');
    return config;
  };
  let runtime = resolveRuntime(await retryWhileUnreachable(log, opts.startupTimeoutMs ?? 0, async () => [
    await felixSpec(client, 'default'), await felixSpec(client, `node.${nodeName}`),
  ]));

  // ---- felix loop ---------------------------------------------------------------------------
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'weft_' });
  const inSyncGauge = new Gauge({ name: 'weft_felix_in_sync', help: '1 once the datastore is in sync and programmed', registers: [registry] });
  const dataplane = new Dataplane({ nft, routes, links, registry, logger: log.child({ component: 'dataplane' }), refreshIntervalMs: opts.refreshIntervalMs });
  let firstUpdate = true;
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => { resolveReady = r; });
  let programmed = false;

  const graph = buildCalcGraph({ host: nodeName });
  const bgpOpts = opts.bgp === undefined || opts.bgp === false ? undefined : (opts.bgp === true ? {} : opts.bgp);
  // Routes with a next hop that a previous run left (proto 80): kept until BGP has re-learned.
  const staleRoutes = bgpOpts === undefined ? [] : await previousGatewayRoutes(routes, log);
  const bgp = bgpOpts === undefined ? undefined : new BgpAgent({
    nodeName, registry, logger: log.child({ component: 'bgp-agent' }), staleRoutes,
    ...(bgpOpts.listenAddress !== undefined ? { listenAddress: bgpOpts.listenAddress } : {}),
    setRoutes: (rs) => dataplane.setRoutes('bgp', rs),
  });
  const pushModel = (): void => {
    const hm = graph.snapshot();
    onFelixConfig(hm.config.raw);
    if (bgp) {
      bgp.setLocalRoutes(Object.values(hm.routes));
      dataplane.update(fromHostModel(withoutRemoteRoutes(hm)));
    } else {
      dataplane.update(fromHostModel(hm));
    }
  };
  const endpointStatus = new EndpointStatusReporter({
    backend, host: nodeName, logger: log.child({ component: 'endpoint-status' }),
    listLinks: () => links.listLinks(),
    async dataplaneState() {
      if (!dataplane.failing) await Promise.race([dataplane.flush(), sleep(2000, undefined, { ref: false })]);
      return dataplane.failing ? 'error' : 'ok';
    },
  });
  // Interface events (real kernel only) drive the dataplane's waiting routes/sysctls and endpoint
  // status; timed retries and polling are the fallback.
  const realLinks = opts.shims?.links === undefined;
  // Started at the first in-sync (nothing waits for an interface before then).
  let linkMonitor: LinkMonitor | undefined;
  const startLinkMonitor = (): void => {
    if (!realLinks || linkMonitor !== undefined || stopped) return;
    linkMonitor = monitorLinks(runner.netns, () => {
      dataplane.linksChanged();
      endpointStatus.kick();
    }, (e) => log.warn({ err: e.message }, 'ip monitor link failed'));
  };
  const configureEndpointReporting = (): void => {
    const on = runtime.endpointReportingEnabled && !stopped;
    endpointStatus.configure({
      enabled: on, delayMs: runtime.endpointReportingDelayMs,
      pollMs: opts.endpointStatusPollMs ?? (realLinks ? 30_000 : 5000),
    });
  };
  let lastFelixRaw = '';
  const onFelixConfig = (raw: Record<string, unknown>): void => {
    const text = JSON.stringify(raw);
    if (text === lastFelixRaw) return;
    lastFelixRaw = text;
    const next = resolveRuntime([raw]);
    const prev = runtime;
    runtime = next;
    if (next.reportingIntervalSecs !== prev.reportingIntervalSecs || next.reportingTTLSecs !== prev.reportingTTLSecs) {
      log.info({ reportingIntervalSecs: next.reportingIntervalSecs, reportingTTLSecs: next.reportingTTLSecs }, 'status reporting settings changed');
      scheduleReports();
    }
    if (JSON.stringify(next.health) !== JSON.stringify(prev.health)) {
      log.info({ health: next.health }, 'health server settings changed');
      rebindHealth();
    }
    if (next.endpointReportingEnabled !== prev.endpointReportingEnabled || next.endpointReportingDelayMs !== prev.endpointReportingDelayMs) {
      if (dataplane.inSync) configureEndpointReporting();
    }
  };
  const syncer = new Syncer(backend, [RESOURCE_ROOT, IPAM_ROOT], {
    onStatus(status: SyncStatus): void {
      graph.onStatus(status);
      if (status === 'in-sync') {
        graph.flush();
        pushModel();
        if (!dataplane.inSync) {
          dataplane.setInSync();
          // Peer only once the resources are complete: a partial peer set would flap sessions.
          bgp?.start();
          // Host-wide settings are kernel changes too: only after the first in-sync.
          configureHost(links, { ipv6: ipv6Address !== undefined }).catch((e: unknown) => log.warn({ err: (e as Error).message }, 'host sysctls failed'));
          void dataplane.flush().then(() => {
            programmed = true;
            inSyncGauge.set(1);
            resolveReady();
          });
          // Endpoint status only once the endpoint set is complete: a resync against a partial
          // set would delete the keys of endpoints not seen yet.
          configureEndpointReporting();
          startLinkMonitor();
        }
      }
    },
    onUpdates(updates: SyncUpdate[]): void {
      bgp?.onUpdates(updates);
      graph.onUpdates(updates);
      const events = graph.flush();
      // Before the first in-sync the model is only pushed once, at in-sync: a snapshot per
      // initial-sync batch would be wasted work (nothing is programmed before then anyway).
      if (events.length > 0 && dataplane.inSync) pushModel();
      endpointStatus.onUpdates(updates);
      if (dataplane.inSync) endpointStatus.kick();
    },
  }, { logger: log.child({ component: 'syncer' }) });
  syncer.start();

  function bgpStatus(): BgpStatus {
    return bgp?.status() ?? { enabled: false, running: false, peers: [], advertised: [], learned: [] };
  }

  // ---- status reporting (felix daemon handleProcessStatusUpdate, calico-notes §2.8) ------------
  const report = async (): Promise<void> => {
    const value = JSON.stringify({ time: new Date().toISOString(), uptime: (Date.now() - started) / 1000, first_update: firstUpdate });
    try {
      await backend.put(felixStatusKey(nodeName), value, { ttlSeconds: Math.max(1, Math.ceil(runtime.reportingTTLSecs)) });
      await backend.put(`${FELIX_STATUS_ROOT}${nodeName}/last_reported_status`, value);
      firstUpdate = false;
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'status report failed');
    }
  };
  let statusTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  function scheduleReports(): void {
    if (statusTimer !== undefined) clearInterval(statusTimer);
    statusTimer = undefined;
    if (stopped || runtime.reportingIntervalSecs <= 0) return;
    void report();
    statusTimer = setInterval(() => void report(), runtime.reportingIntervalSecs * 1000);
  }
  scheduleReports();

  // ---- health + metrics ----------------------------------------------------------------------
  let server: Server | undefined;
  let healthUrl: string | undefined;
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    if (url === '/liveness') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (url === '/readiness') {
      const ok = programmed && syncer.status === 'in-sync';
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ready\n' : `not ready (syncer ${syncer.status ?? 'starting'})\n`);
    } else if (url === '/bgp/peers' || url === '/bgp/status') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(bgpStatus(), null, 2)}\n`);
    } else if (url === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500).end(String(e)),
      );
    } else {
      res.writeHead(404).end();
    }
  };
  const listen = async (h: HealthSetting): Promise<void> => {
    const srv = createServer(handler);
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(h.port, h.host, () => resolve());
    });
    server = srv;
    const a = srv.address() as AddressInfo;
    healthUrl = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  };
  const closeHealth = async (): Promise<void> => {
    const srv = server;
    server = undefined;
    healthUrl = undefined;
    if (srv === undefined) return;
    srv.closeAllConnections();
    await new Promise<void>((r) => srv.close(() => r()));
  };
  // Health settings changed at run time: move the server. A port that cannot be bound is logged
  // and the server stays off until the next change (felix would restart; we keep running).
  let rebinding: Promise<void> = Promise.resolve();
  function rebindHealth(): void {
    rebinding = rebinding.then(async () => {
      await closeHealth();
      if (stopped || runtime.health === false) return;
      await listen(runtime.health).catch((e: unknown) => log.error({ err: (e as Error).message, health: runtime.health }, 'cannot start the health server'));
    });
  }
  const handle: RunningNode = {
    nodeName, ipv4Address, ipv6Address, dataplane, graph, registry, ready, bgpStatus, endpointStatus,
    get healthUrl() { return healthUrl; },
    get runtimeConfig() { return runtime; },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      if (statusTimer !== undefined) clearInterval(statusTimer);
      await syncer.stop();
      linkMonitor?.stop();
      await endpointStatus.stop();
      // Learned routes stay in the kernel (Calico/BIRD: graceful restart keeps forwarding while
      // the agent restarts); peers see a Cease and drop ours at once.
      await bgp?.stop();
      await dataplane.stop();
      await rebinding;
      await closeHealth();
      if (ownsBackend) await backend.close();
    },
  };
  // At start-up a port that cannot be bound is fatal, as for felix: the operator asked for it.
  // Everything started so far (syncer, timers, the link monitor's child) is stopped first.
  if (runtime.health !== false) {
    try {
      await listen(runtime.health);
    } catch (e) {
      await handle.stop();
      throw e;
    }
  }
  return handle;
}

async function retryWhileUnreachable<T>(log: Logger, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!isRetryableDatastoreError(e) || (timeoutMs > 0 && Date.now() - started > timeoutMs)) throw e;
      const delay = Math.min(5000, 100 * 2 ** Math.min(attempt, 6));
      log.warn({ err: (e as Error).message, retryInMs: delay }, 'datastore not reachable at start-up; waiting');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

async function felixSpec(client: ResourceClient, name: string): Promise<Record<string, unknown> | undefined> {
  try {
    return ((await client.get('FelixConfiguration', name)) as unknown as { spec?: Record<string, unknown> }).spec;
  } catch (e) {
    if (isWeftError(e, ErrorCodes.NOT_FOUND)) return undefined;
    throw e;
  }
}

async function writeNode(client: ResourceClient, name: string, v4: string | undefined, v6: string | undefined, asNumber: number | undefined): Promise<void> {
  let existing: Record<string, unknown> | undefined;
  try {
    existing = (await client.get('Node', name)) as unknown as Record<string, unknown>;
  } catch (e) {
    if (!isWeftError(e, ErrorCodes.NOT_FOUND)) throw e;
  }
  const spec = ((existing?.spec ?? {}) as Record<string, unknown>);
  const bgp = { ...((spec.bgp ?? {}) as Record<string, unknown>) };
  if (v4 !== undefined) bgp.ipv4Address = v4;
  if (v6 !== undefined) bgp.ipv6Address = v6;
  // calico/node configureASNumber: flag/env, else the node's own value, else the global default.
  if (asNumber !== undefined) bgp.asNumber = asNumber;
  const metadata = { ...((existing?.metadata ?? {}) as Record<string, unknown>), name };
  await client.apply({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata, spec: { ...spec, bgp } });
}

async function ensureDefaults(client: ResourceClient, log: Logger): Promise<void> {
  const createIfMissing = async (doc: Record<string, unknown>): Promise<void> => {
    try {
      await client.create(doc);
      log.info({ kind: doc.kind }, 'created default resource');
    } catch (e) {
      if (!isWeftError(e, ErrorCodes.ALREADY_EXISTS)) throw e;
    }
  };
  await createIfMissing({
    apiVersion: 'projectcalico.org/v3', kind: 'ClusterInformation', metadata: { name: 'default' },
    spec: { clusterGUID: randomUUID().replace(/-/g, ''), clusterType: 'weft', calicoVersion: `weft-${VERSION}`, datastoreReady: true },
  });
  await createIfMissing({ apiVersion: 'projectcalico.org/v3', kind: 'FelixConfiguration', metadata: { name: 'default' }, spec: {} });
}

async function ensureDefaultPool(client: ResourceClient, cidr: string, blockSize: number, log: Logger): Promise<void> {
  const pools = await client.list('IPPool');
  if (pools.length > 0) return;
  try {
    await client.create({
      apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'default-ipv4-ippool' },
      spec: { cidr, blockSize, natOutgoing: true, ipipMode: 'Never', vxlanMode: 'Never', nodeSelector: 'all()' },
    });
    log.info({ cidr }, 'created default IP pool');
  } catch (e) {
    if (!isWeftError(e, ErrorCodes.ALREADY_EXISTS)) throw e;
  }
}

/** BGP mode: routes to other hosts come from BGP, not from the calc graph's flat-underlay routes. */
function withoutRemoteRoutes(hm: HostModel): HostModel {
  const routes: HostModel['routes'] = {};
  for (const [k, r] of Object.entries(hm.routes)) if (r.type === 'local-workload' || r.type === 'blackhole') routes[k] = r;
  return { ...hm, routes };
}

async function previousGatewayRoutes(rt: RouteTable, log: Logger): Promise<KernelRoute[]> {
  const out: KernelRoute[] = [];
  for (const fam of [4, 6] as const) {
    try {
      for (const r of await rt.list(fam)) if (r.type === 'unicast' && r.gateway !== undefined) out.push(r);
    } catch (e) {
      log.warn({ err: (e as Error).message, family: fam }, 'could not list routes of a previous run');
    }
  }
  return out;
}
