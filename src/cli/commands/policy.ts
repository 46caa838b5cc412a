/**
 * `weft policy trace --from A --to B [--protocol tcp] [--port 80]`: reads the datastore, builds
 * the models of the hosts involved with the same calculation graph the agent runs, and prints
 * the decision path on both sides (egress of the source, ingress of the destination).
 */
import type { Command } from 'commander';
import type { TracePacket } from '../../policy/index.ts';
import { ErrorCodes, WeftError } from '../../lib/errors.ts';
import type { CliContext } from '../context.ts';

type ContextFor = (cmd: Command) => CliContext;

function port(what: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new WeftError(ErrorCodes.USAGE, `${what} must be a port number 0-65535, got "${v}"`);
  return n;
}

function small(what: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 255) throw new WeftError(ErrorCodes.USAGE, `${what} must be 0-255, got "${v}"`);
  return n;
}

export function registerPolicyCommands(program: Command, contextFor: ContextFor): void {
  const policy = program.command('policy').description('inspect how policy applies');
  policy.command('trace')
    .description('explain whether a packet from A to B is allowed, and which tier, policy, profile or rule decided')
    .requiredOption('--from <endpoint|address>', 'source: workload endpoint (ns/name or name), host endpoint, node name or address')
    .requiredOption('--to <endpoint|address>', 'destination, as --from')
    .option('--protocol <proto>', 'tcp, udp, icmp, icmpv6, sctp, udplite or a number', 'tcp')
    .option('--port <port>', 'destination port')
    .option('--src-port <port>', 'source port')
    .option('--icmp-type <n>', 'ICMP type')
    .option('--icmp-code <n>', 'ICMP code')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (o: { from: string; to: string; protocol: string; port?: string; srcPort?: string; icmpType?: string; icmpCode?: string; output: string }, cmd: Command) => {
      const ctx = contextFor(cmd);
      if (o.output !== 'text' && o.output !== 'json') throw new WeftError(ErrorCodes.USAGE, `unknown output format "${o.output}"`, { hint: 'use -o text or -o json' });
      const packet: TracePacket = {
        protocol: /^\d+$/.test(o.protocol) ? Number(o.protocol) : o.protocol.toUpperCase(),
        dstPort: port('--port', o.port),
        srcPort: port('--src-port', o.srcPort),
        icmpType: small('--icmp-type', o.icmpType),
        icmpCode: small('--icmp-code', o.icmpCode),
      };
      const backend = await ctx.backend();
      const { items } = await backend.list('/calico/');
      const [{ traceInCluster }, { formatTrace }] = await Promise.all([import('../../agent/calc/index.ts'), import('../../policy/index.ts')]);
      const result = traceInCluster(items, o.from, o.to, packet);
      const text = o.output === 'json' ? JSON.stringify(result, null, 2) : formatTrace(result);
      ctx.out.write(text.endsWith('\n') ? text : `${text}\n`);
    });
}
