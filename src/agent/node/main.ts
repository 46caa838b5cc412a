/**
 * Standalone entry: `node src/agent/node/main.ts [--datastore URL] node run …` — the same
 * commands `weft node` offers, without the rest of the CLI (the lab starts agents with it).
 */
import { Command } from 'commander';
import { registerNodeCommands } from './cli.ts';
import { isWeftError } from '../../lib/errors.ts';

const program = new Command('weft-node').option('--datastore <url>', 'sqlite:PATH or etcd://HOST:PORT');
registerNodeCommands(program);
program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`error: ${(e as Error).message}\n${isWeftError(e) && e.hint !== undefined ? `hint: ${e.hint}\n` : ''}`);
  process.exitCode = 1;
});
