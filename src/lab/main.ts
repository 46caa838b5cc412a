/** Standalone entry: `node src/lab/main.ts lab up -f topology.yaml` (same commands as `weft lab`). */
import { Command } from 'commander';
import { registerLabCommands } from './cli.ts';
import { isWeftError } from '../lib/errors.ts';

const program = new Command('weft-lab');
registerLabCommands(program);
program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`error: ${(e as Error).message}\n${isWeftError(e) && e.hint !== undefined ? `hint: ${e.hint}\n` : ''}`);
  process.exitCode = 1;
});
