/**
 * `weft node diags`: one archive with what a bug report needs, as `calicoctl node diags` does:
 * the agent's log, nftables ruleset, routes, links, sysctls, BGP peers, a datastore summary and
 * checksystem's JSON. Every item is collected independently; a failing one leaves its error in
 * its file instead of stopping the others.
 */
import type { Command } from 'commander';
import type { DatastoreFor } from './cli.ts';

interface DiagsFlags {
  name?: string;
  dir: string;
  logFile: string[];
  healthHost: string;
  healthPort: string;
}

export function registerDiagsCommand(node: Command, datastoreFor: DatastoreFor): void {
  node
    .command('diags')
    .description('collect diagnostics (agent log, nft ruleset, routes, links, sysctls, BGP peers, datastore summary, checksystem) into one .tar.gz')
    .option('--name <name>', 'node name (default: $NODENAME, then the hostname)')
    .option('--dir <dir>', 'where to write the archive', '/tmp')
    .option('--log-file <path>', 'agent log file to include (repeatable; default: /var/log/weft/*.log and the weft-node journal)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--health-host <addr>', 'address of the agent\'s health port', '127.0.0.1')
    .option('--health-port <port>', 'the agent\'s health port', '9099')
    .action(async (flags: DiagsFlags, cmd: Command) => {
      const { collectDiags } = await import('./diags.ts');
      const { hostname } = await import('node:os');
      const g = cmd.optsWithGlobals<{ config?: string }>();
      const path = await collectDiags({
        resolve: () => datastoreFor(cmd),
        nodeName: flags.name ?? process.env.NODENAME ?? hostname(),
        dir: flags.dir,
        logFiles: flags.logFile,
        healthUrl: `http://${flags.healthHost}:${flags.healthPort}`,
        ...(g.config !== undefined ? { configFile: g.config } : {}),
      });
      process.stdout.write(`diagnostics written to ${path}\n`);
    });
}
