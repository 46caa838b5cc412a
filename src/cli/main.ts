/**
 * `weft`: calicoctl's verbs plus Weft's own. Exit codes: 0 success, 1 refused operation,
 * 2 usage error (calicoctl's convention, kept so scripts written for it still work).
 */
import { Command, CommanderError } from 'commander';
import { CliContext, type GlobalOptions, type Output } from './context.ts';
import { registerResourceCommands } from './commands/resources.ts';
import { registerIpamCommands } from './commands/ipam.ts';
import { registerPolicyCommands } from './commands/policy.ts';
// Components' `cli.ts` modules are public too (see docs/CONTRIBUTING.md): they register commands
// and load the component itself only when one of its commands runs, so `weft --help` stays fast.
import { registerDockerPluginCommand } from '../plugins/docker/cli.ts';
import { registerNodeCommands } from '../agent/node/cli.ts';
import { registerLabCommands } from '../lab/cli.ts';
import { ErrorCodes, WeftError, exitCodeFor, isWeftError } from '../lib/errors.ts';
import { setLogLevel } from '../lib/log.ts';
import { exitStatusOf } from '../lib/exit-status.ts';
import { VERSION } from './version.ts';

export interface RunIO {
  out?: Output;
  err?: Output;
  env?: NodeJS.ProcessEnv;
}

/** Builds the command tree; each action receives a fresh context built from the global options. */
export function buildProgram(io: Required<Pick<RunIO, 'out' | 'err'>> & RunIO, onContext: (c: CliContext) => void): Command {
  const program = new Command('weft');
  program
    .description('Weft: one routed L3 fabric and one policy model for VMs and containers')
    .version(VERSION, '-V, --version-flag', 'print the version number')
    .option('--datastore <url>', 'sqlite:PATH or etcd://HOST:PORT[,HOST:PORT…] (default: $WEFT_DATASTORE, ETCD_ENDPOINTS, /etc/weft/weft.yaml, sqlite:/var/lib/weft/weft.db)')
    .option('-c, --config <file>', 'datastore config file: Weft YAML or calicoctl CalicoAPIConfig')
    .option('-l, --log-level <level>', 'log level for stderr (trace, debug, info, warn, error)')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) })
    .exitOverride();

  const contextFor = (cmd: Command): CliContext => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    if (g.logLevel) setLogLevel(g.logLevel);
    const ctx = new CliContext({ datastore: g.datastore, config: g.config, logLevel: g.logLevel }, io);
    onContext(ctx);
    return ctx;
  };

  registerResourceCommands(program, contextFor);
  registerIpamCommands(program, contextFor);
  registerPolicyCommands(program, contextFor);
  registerNodeCommands(program, (cmd) => contextFor(cmd).resolved);
  registerLabCommands(program);
  registerDockerPluginCommand(program, async (cmd) => {
    const ctx = contextFor(cmd);
    return { backend: await ctx.backend(), close: () => ctx.close() };
  });

  program
    .command('version')
    .description('print client version and datastore details')
    .option('--client', 'client version only, do not contact the datastore')
    .action(async (opts: { client?: boolean }, cmd: Command) => {
      const ctx = contextFor(cmd);
      ctx.out.write(`Client Version:    ${VERSION}\n`);
      if (opts.client) return;
      const b = await ctx.backend();
      ctx.out.write(`Datastore:         ${b.address}\nRevision:          ${await b.revision()}\n`);
    });

  // Subcommands inherit output config and exitOverride so usage errors return code 2.
  for (const c of program.commands) applyRecursively(c, io);
  return program;
}

function applyRecursively(c: Command, io: { out: Output; err: Output }): void {
  c.configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) })
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const sub of c.commands) applyRecursively(sub, io);
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function run(argv: string[], io: RunIO = {}): Promise<number> {
  const out = io.out ?? { write: (s: string) => void process.stdout.write(s) };
  const err = io.err ?? { write: (s: string) => void process.stderr.write(s) };
  const contexts: CliContext[] = [];
  const program = buildProgram({ ...io, out, err }, (c) => contexts.push(c));
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return 2;
    }
    await program.parseAsync(argv, { from: 'user' });
    // An action that completes but reports failure (checksystem's FAIL, lab exec's command
    // status) records its status on the tree; everything else that returns succeeded.
    return exitStatusOf(program) ?? 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are "errors" only to commander.
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    return reportError(e, err);
  } finally {
    for (const c of contexts) await c.close().catch(() => undefined);
  }
}

export function reportError(e: unknown, err: Output): number {
  if (isWeftError(e)) {
    err.write(`Error: ${e.message}\n`);
    if (e.hint) err.write(`Hint: ${e.hint}\n`);
    return exitCodeFor(e);
  }
  const w = new WeftError(ErrorCodes.INTERNAL, e instanceof Error ? e.message : String(e), { cause: e });
  err.write(`Error: ${w.message}\n`);
  if (process.env.WEFT_DEBUG && e instanceof Error && e.stack) err.write(`${e.stack}\n`);
  return 1;
}

if (import.meta.main) {
  process.exitCode = await run(process.argv.slice(2));
}
