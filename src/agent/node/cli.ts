/**
 * `weft node run|checksystem` as commander sub-commands. `registerNodeCommands(program)` is
 * what src/cli wires in; `main.ts` runs the same commands standalone (the lab uses it).
 */
import type { Command } from 'commander';
import type { DatastoreSpec } from '../../datastore/index.ts';
import { registerDiagsCommand } from './diags-cli.ts';

/** The CLI resolves the datastore (flag, env, config files) and hands it, with where it came from, to the command. */
export type DatastoreFor = (cmd: Command) => { spec: DatastoreSpec; source: string };

interface RunFlags {
  name?: string;
  ip?: string;
  ip6?: string;
  ipAutodetectionMethod?: string;
  ip6AutodetectionMethod?: string;
  as?: string;
  defaultIppools?: boolean;
  ipv4PoolCidr?: string;
  ipv4PoolBlockSize?: string;
  healthPort?: string;
  healthHost?: string;
  reportingInterval?: string;
  reportingTtl?: string;
  endpointReporting?: boolean;
  refreshInterval?: string;
  bgp?: boolean;
}

interface StatusFlags {
  healthHost?: string;
  healthPort?: string;
  output?: string;
}

export function registerNodeCommands(program: Command, datastoreFor: DatastoreFor): void {
  const node = program.command('node').description('run and check the per-host agent');
  node
    .command('run')
    .description('run the host agent in the foreground (calico/node + Felix)')
    .option('--name <name>', 'node name (default: $NODENAME, then the hostname)')
    .option('--ip <addr|autodetect|none>', 'IPv4 address of this node', 'autodetect')
    .option('--ip6 <addr|autodetect|none>', 'IPv6 address of this node', 'none')
    .option('--ip-autodetection-method <method>', 'first-found | interface=REGEX | skip-interface=REGEX | can-reach=DEST | cidr=LIST', 'first-found')
    .option('--ip6-autodetection-method <method>', 'as --ip-autodetection-method, for IPv6', 'first-found')
    .option('--as <number>', 'AS number of this node')
    .option('--no-default-ippools', 'do not create a default IP pool when none exists')
    .option('--ipv4-pool-cidr <cidr>', 'CIDR of the default IPv4 pool', '192.168.0.0/16')
    .option('--ipv4-pool-block-size <n>', 'block size of the default IPv4 pool', '26')
    .option('--health-port <port>', 'health and metrics port (0 = any, -1 = off; default: FelixConfiguration healthPort, else 9099)')
    .option('--health-host <addr>', 'health and metrics listen address (default: FelixConfiguration healthHost, else 127.0.0.1)')
    .option('--reporting-interval <secs>', 'status report interval, 0 = off (default: FelixConfiguration reportingInterval, else 30)')
    .option('--reporting-ttl <secs>', 'lease of the status key (default: FelixConfiguration reportingTTL, else 90)')
    .option('--endpoint-reporting', 'write endpoint status keys (default: FelixConfiguration endpointReportingEnabled, else off)')
    .option('--refresh-interval <secs>', 'dataplane drift-repair interval', '90')
    .option('--no-bgp', 'do not run BGP: flat mode, routes to other hosts\' blocks via their node address (one L2 underlay)')
    .action(async (flags: RunFlags, cmd: Command) => {
      const [{ runNode }, { WeftError, ErrorCodes }] = await Promise.all([import('./node.ts'), import('../../lib/errors.ts')]);
      const num = (flag: string, v: string | undefined): number | undefined => {
        if (v === undefined) return undefined;
        const n = Number(v);
        if (v.trim() === '' || !Number.isFinite(n)) throw new WeftError(ErrorCodes.USAGE, `${flag}: ${JSON.stringify(v)} is not a number`);
        return n;
      };
      const healthPort = num('--health-port', flags.healthPort);
      const health = healthPort !== undefined && healthPort < 0 ? false as const
        : healthPort === undefined && flags.healthHost === undefined ? undefined
          : { ...(flags.healthHost !== undefined ? { host: flags.healthHost } : {}), ...(healthPort !== undefined ? { port: healthPort } : {}) };
      const n = await runNode({
        datastore: datastoreFor(cmd).spec,
        nodeName: flags.name,
        ip: flags.ip,
        ip6: flags.ip6,
        ipAutodetectionMethod: flags.ipAutodetectionMethod,
        ip6AutodetectionMethod: flags.ip6AutodetectionMethod,
        asNumber: flags.as === undefined ? undefined : Number(flags.as),
        noDefaultIpPools: flags.defaultIppools === false,
        defaultIpv4PoolCidr: flags.ipv4PoolCidr,
        defaultIpv4PoolBlockSize: Number(flags.ipv4PoolBlockSize ?? '26'),
        health,
        reportingIntervalSecs: num('--reporting-interval', flags.reportingInterval),
        reportingTTLSecs: num('--reporting-ttl', flags.reportingTtl),
        ...(flags.endpointReporting === true ? { endpointReportingEnabled: true } : {}),
        refreshIntervalMs: Number(flags.refreshInterval ?? '90') * 1000,
        bgp: flags.bgp !== false,
      });
      process.stderr.write(`weft node ${n.nodeName} running (ipv4 ${n.ipv4Address ?? '-'}, ipv6 ${n.ipv6Address ?? '-'}, health ${n.healthUrl ?? 'off'})\n`);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          n.stop().then(resolve, resolve);
        };
        process.once('SIGTERM', done);
        process.once('SIGINT', done);
      });
    });
  node
    .command('status')
    .description('BGP status of the agent running on this host (like calicoctl node status)')
    .option('--health-host <addr>', 'address of the agent\'s health port', '127.0.0.1')
    .option('--health-port <port>', 'the agent\'s health port', '9099')
    .option('-o, --output <format>', 'table | json', 'table')
    .action(async (flags: StatusFlags) => {
      const [{ WeftError, ErrorCodes }, { formatNodeStatus }] = await Promise.all([import('../../lib/errors.ts'), import('../bgp/status.ts')]);
      const url = `http://${flags.healthHost ?? '127.0.0.1'}:${flags.healthPort ?? '9099'}/bgp/peers`;
      let body: string;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        body = await res.text();
      } catch (e) {
        throw new WeftError(ErrorCodes.NOT_FOUND, `Weft process is not running (no agent answers on ${url}: ${(e as Error).message})`, {
          cause: e, hint: 'start it with `weft node run`, or pass --health-port/--health-host of the running agent',
        });
      }
      if (flags.output === 'json') process.stdout.write(body.endsWith('\n') ? body : `${body}\n`);
      else process.stdout.write(formatNodeStatus(JSON.parse(body) as Parameters<typeof formatNodeStatus>[0]));
    });
  node
    .command('checksystem')
    .description('diagnose this host: datastore, agent, kernel (forwarding, rp_filter, gateway route, interface prefix, MTU), BGP, Docker plugin; exit 1 on any FAIL')
    .option('--name <name>', 'node name (default: $NODENAME, then the hostname)')
    .option('--health-host <addr>', 'address of the agent\'s health port', '127.0.0.1')
    .option('--health-port <port>', 'the agent\'s health port', '9099')
    .option('-o, --output <format>', 'table | json', 'table')
    .action(async (flags: StatusFlags & { name?: string }, cmd: Command) => {
      const [{ checkSystem, formatCheckReport }, { realCheckDeps }, { DEFAULT_CONFIG_FILES }, { setExitStatus }, { hostname }] = await Promise.all([
        import('./checksystem.ts'), import('./checksystem-io.ts'), import('../../config/index.ts'), import('../../lib/exit-status.ts'), import('node:os'),
      ]);
      const g = cmd.optsWithGlobals<{ config?: string }>();
      const report = await checkSystem(realCheckDeps({
        resolve: () => datastoreFor(cmd),
        nodeName: flags.name ?? process.env.NODENAME ?? hostname(),
        healthUrl: `http://${flags.healthHost ?? '127.0.0.1'}:${flags.healthPort ?? '9099'}`,
        configFiles: g.config !== undefined ? [g.config] : DEFAULT_CONFIG_FILES,
      }));
      process.stdout.write(flags.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatCheckReport(report));
      setExitStatus(cmd, report.ok ? 0 : 1);
    });
  registerDiagsCommand(node, datastoreFor);
}
