/**
 * `weft lab up|down|status|exec`. `registerLabCommands(program)` is what src/cli wires in;
 * The lab's own children (agents, the etcd-lab provisioner) run src/cli/main.ts too.
 */
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ErrorCodes, WeftError } from '../lib/errors.ts';
import type { LabOptions } from './lab.ts';
import type * as LabModule from './lab.ts';
import type * as TopologyModule from './topology.ts';
import { DEFAULT_STATE_ROOT } from './defaults.ts';
import { setExitStatus } from '../lib/exit-status.ts';

// lab.ts pulls in the datastore, API and agent: load it when a lab command runs, not for --help.
const load = (): Promise<typeof LabModule> => import('./lab.ts');
const loadTopo = (): Promise<typeof TopologyModule> => import('./topology.ts');

function labsIn(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((d) => existsSync(join(root, d, 'lab.json')));
}

function pickLab(name: string | undefined, root: string): string {
  if (name !== undefined) return name;
  const labs = labsIn(root);
  if (labs.length === 1) return labs[0]!;
  throw new WeftError(ErrorCodes.USAGE, labs.length === 0 ? 'no lab is up' : `several labs are up (${labs.join(', ')}): name one`, { hint: '--lab NAME' });
}

export function registerLabCommands(program: Command): void {
  const lab = program.command('lab').description('multi-host topologies in network namespaces (the e2e harness)');
  const rootOpt = (c: Command): Command => c.option('--state-root <dir>', 'where lab state lives', DEFAULT_STATE_ROOT);

  rootOpt(lab.command('up').description('create a lab from a topology file'))
    .requiredOption('-f, --file <topology.yaml>', 'topology file')
    .option('--timeout <secs>', 'how long to wait for agents to program every workload', '60')
    .action(async (o: { file: string; stateRoot: string; timeout: string }) => {
      const [{ labDown, labUp }, { loadTopology }] = await Promise.all([load(), loadTopo()]);
      const loaded = loadTopology(o.file);
      const opts: LabOptions = { stateRoot: o.stateRoot, readyTimeoutMs: Number(o.timeout) * 1000 };
      // Ctrl-C while building: take everything down again.
      const onSig = (): void => {
        void labDown(loaded.topology.name, opts).finally(() => process.exit(130));
      };
      process.once('SIGINT', onSig);
      process.once('SIGTERM', onSig);
      try {
        const s = await labUp(loaded, opts);
        process.stdout.write(`lab ${s.name} up: ${s.hosts.length} host(s), ${s.workloads.length} workload(s)\n`);
        for (const w of s.workloads) process.stdout.write(`  ${w.name}\t${w.host}\t${[...w.ipv4, ...w.ipv6].join(',')}\t${w.iface}\n`);
      } finally {
        process.off('SIGINT', onSig);
        process.off('SIGTERM', onSig);
      }
    });

  // Internal: provisioning child of an etcd lab (runs inside the underlay namespace).
  lab.command('_provision', { hidden: true }).argument('<stateDir>').action(async (stateDir: string) => {
    const { provisionFromStateDir } = await load();
    await provisionFromStateDir(stateDir);
  });

  rootOpt(lab.command('down').description('remove a lab and everything it created').argument('[name]'))
    .action(async (name: string | undefined, o: { stateRoot: string }) => {
      const n = pickLab(name, o.stateRoot);
      const { labDown } = await load();
      const r = await labDown(n, { stateRoot: o.stateRoot });
      process.stdout.write(`lab ${n} down: ${r.namespaces.length} namespace(s) removed, ${r.agentsStopped} agent(s) stopped\n`);
    });

  rootOpt(lab.command('status').description('hosts, agents and workloads of a lab').argument('[name]'))
    .option('-o, --output <fmt>', 'text or json', 'text')
    .action(async (name: string | undefined, o: { stateRoot: string; output: string }) => {
      const n = pickLab(name, o.stateRoot);
      const { labStatus } = await load();
      const s = await labStatus(n, { stateRoot: o.stateRoot });
      if (o.output === 'json') {
        process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
        return;
      }
      process.stdout.write(`lab ${s.name}: ${s.exists ? 'up' : 'absent'}${s.ipv6 === true ? ' (dual stack)' : ''}\n`);
      for (const h of s.hosts) process.stdout.write(`  host ${h.name}\t${[h.ip, ...(h.ip6 !== undefined ? [h.ip6] : [])].join(',')}\tagent ${h.agent}${h.lastReport ? `\tlast report ${h.lastReport}` : ''}\n`);
      for (const w of s.workloads) process.stdout.write(`  workload ${w.name}\ton ${w.host}\t${w.ips.join(',')}\t${w.iface}\n`);
      for (const r of s.routers ?? []) process.stdout.write(`  router ${r.name}\t${r.ip}\t${r.kind} AS ${r.as}\t${r.running ? 'running' : 'stopped'}\t(lab exec ${r.name} -- ${r.show.join(' ')})\n`);
    });

  rootOpt(lab.command('exec').description('run a command inside a lab host or workload').argument('<target>').argument('<command...>'))
    .option('--lab <name>', 'lab name (default: the only lab that is up)')
    .action(async (target: string, command: string[], o: { stateRoot: string; lab?: string }, cmd: Command) => {
      const n = pickLab(o.lab, o.stateRoot);
      const { labExec, readState } = await load();
      const state = readState(n, { stateRoot: o.stateRoot });
      if (state === undefined) throw new WeftError(ErrorCodes.NOT_FOUND, `lab ${n} is not up`);
      setExitStatus(cmd, labExec(state, target, command));
    });
}
