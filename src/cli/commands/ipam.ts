/**
 * `weft ipam show|check|release|assign|configure`: argument parsing and file I/O around the
 * handlers in src/ipam (which do the work and produce the text).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Ipam } from '../../ipam/index.ts';
import type * as IpamModule from '../../ipam/index.ts';
import { ErrorCodes, WeftError } from '../../lib/errors.ts';
import type { CliContext } from '../context.ts';

type ContextFor = (cmd: Command) => CliContext;

function outputFormat(o: string | undefined): 'text' | 'json' {
  if (o === undefined || o === 'text' || o === 'table') return 'text';
  if (o === 'json') return 'json';
  throw new WeftError(ErrorCodes.USAGE, `unknown output format "${o}"`, { hint: 'use -o json, or leave it out for text' });
}

function count(what: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new WeftError(ErrorCodes.USAGE, `${what} must be a non-negative integer, got "${v}"`);
  return Number(v);
}

function attrs(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of list ?? []) {
    const i = a.indexOf('=');
    if (i <= 0) throw new WeftError(ErrorCodes.USAGE, `--attr "${a}" is not key=value`);
    out[a.slice(0, i)] = a.slice(i + 1);
  }
  return out;
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

export function registerIpamCommands(program: Command, contextFor: ContextFor): void {
  const ipam = program.command('ipam').description('IP address management: usage, leaks, manual reservations');
  // Loaded when an ipam command runs, so the rest of the CLI does not pay for it.
  const open = async (cmd: Command): Promise<{ ctx: CliContext; ipam: Ipam; lib: typeof IpamModule }> => {
    const ctx = contextFor(cmd);
    const lib = await import('../../ipam/index.ts');
    return { ctx, ipam: new lib.Ipam(await ctx.backend()), lib };
  };

  ipam.command('show').description('usage per pool; one address\'s owner; blocks; borrowed addresses; configuration')
    .option('--ip <addr>', 'show who holds this address (handle, attributes, host)')
    .option('--show-blocks', 'list every block with its affinity and use')
    .option('--show-borrowed', 'list addresses allocated from blocks affine to another host')
    .option('--show-configuration', 'print the IPAM configuration')
    .option('-o, --output <format>', 'text or json')
    .action(async (o: { ip?: string; showBlocks?: boolean; showBorrowed?: boolean; showConfiguration?: boolean; output?: string }, cmd: Command) => {
      const { ctx, ipam: i, lib } = await open(cmd);
      ctx.out.write(await lib.ipamShow(i, { ...o, output: outputFormat(o.output) }));
    });

  ipam.command('check').description('find leaked addresses, endpoints without allocations, blocks of vanished hosts')
    .option('-o, --output <file>', 'also write the full report as JSON to this file (input for ipam release --from-report)')
    .option('--show-all-ips', 'list every allocated address in the summary')
    .action(async (o: { output?: string; showAllIps?: boolean }, cmd: Command) => {
      const { ctx, ipam: i, lib } = await open(cmd);
      const { report, text } = await lib.ipamCheck(i, { showAllIps: o.showAllIps });
      ctx.out.write(text);
      if (o.output) {
        writeFileSync(o.output, JSON.stringify(report, null, 2) + '\n');
        ctx.out.write(`Report written to ${o.output}\n`);
      }
    });

  ipam.command('release').description('release addresses by address, by handle, or the leaks found by ipam check')
    .option('--ip <addr>', 'address to release (repeatable)', collect)
    .option('--handle <id>', 'release every address of this handle')
    .option('--from-report <file>', 'ipam check report(s): release the leaks present in all of them (repeatable)', collect)
    .action(async (o: { ip?: string[]; handle?: string; fromReport?: string[] }, cmd: Command) => {
      const { ctx, ipam: i, lib } = await open(cmd);
      const reports = o.fromReport?.map((f) => {
        try { return readFileSync(f, 'utf8'); } catch (e) {
          throw new WeftError(ErrorCodes.USAGE, `cannot read report ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
      });
      const { text } = await lib.ipamRelease(i, { ip: o.ip, handle: o.handle, reports });
      ctx.out.write(text);
    });

  ipam.command('assign').description('reserve addresses by hand (bare-metal hosts, static VMs)')
    .requiredOption('--host <name>', 'host the addresses are for (its blocks are used first)')
    .option('--ip <addr>', 'this exact address')
    .option('--handle <id>', 'handle to record them under (default: manual.<host>.<random>)')
    .option('--ipv4 <n>', 'number of IPv4 addresses')
    .option('--ipv6 <n>', 'number of IPv6 addresses')
    .option('--attr <key=value>', 'attribute to record (repeatable)', collect)
    .option('-o, --output <format>', 'text or json')
    .action(async (o: { host: string; ip?: string; handle?: string; ipv4?: string; ipv6?: string; attr?: string[]; output?: string }, cmd: Command) => {
      const { ctx, ipam: i, lib } = await open(cmd);
      const { text } = await lib.ipamAssign(i, {
        host: o.host, ip: o.ip, handle: o.handle, ipv4: count('--ipv4', o.ipv4), ipv6: count('--ipv6', o.ipv6),
        attrs: attrs(o.attr), output: outputFormat(o.output),
      });
      ctx.out.write(text);
    });

  ipam.command('configure').description('set IPAM configuration')
    .option('--strictaffinity <bool>', 'true: never borrow from other hosts\' blocks')
    .option('--auto-allocate-blocks <bool>', 'false: hosts never claim new blocks by themselves')
    .option('--max-blocks-per-host <n>', 'limit of blocks one host may claim (0 = default 20)')
    .action(async (o: { strictaffinity?: string; autoAllocateBlocks?: string; maxBlocksPerHost?: string }, cmd: Command) => {
      const { ctx, ipam: i, lib } = await open(cmd);
      const { text } = await lib.ipamConfigure(i, { strictAffinity: o.strictaffinity, autoAllocateBlocks: o.autoAllocateBlocks, maxBlocksPerHost: o.maxBlocksPerHost });
      ctx.out.write(text);
    });
}
