/**
 * One lab for one test: `labUp` in a fresh state root, the body, then `labDown`, the state root
 * removed and no `weft-<lab>-` namespace left (asserted), also when the body fails. On failure the
 * named agents' warnings and errors are printed first: the logs go with the state root.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown, labUp, loadTopologyText, type LabOptions, type LabState } from '../../src/lab/index.ts';
import { listNetns } from './netns.ts';

export interface LabRun {
  name: string;
  stateRoot: string;
  state: LabState;
  host(name: string): LabState['hosts'][number];
  wl(name: string): LabState['workloads'][number];
}

export interface WithLabOptions extends Omit<LabOptions, 'stateRoot'> {
  /** Agents whose warnings/errors are printed when the body fails. */
  dumpLogsOf?: readonly string[];
}

/** Prints the last warnings/errors of the named agents of a lab. */
export function dumpAgentLogs(stateRoot: string, name: string, hosts: readonly string[]): void {
  for (const h of hosts) {
    const log = join(stateRoot, name, `${h}.log`);
    const lines = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => /"level":(40|50|60)/.test(l)) : [];
    process.stderr.write(`--- ${h} warnings/errors (last 20)\n${lines.slice(-20).join('\n')}\n`);
  }
}

/** `name` must be a valid lab name (`[a-z0-9]{1,12}`); `topology` gets it. */
export async function withLab(name: string, topology: (name: string) => string, opts: WithLabOptions, body: (lab: LabRun) => Promise<void>): Promise<void> {
  const stateRoot = mkdtempSync(join(tmpdir(), `weft-lab-${name}-`));
  const { dumpLogsOf, ...labOpts } = opts;
  try {
    const state = await labUp(loadTopologyText(topology(name)), { readyTimeoutMs: 90_000, ...labOpts, stateRoot });
    await body({
      name, stateRoot, state,
      host: (n) => state.hosts.find((h) => h.name === n)!,
      wl: (n) => state.workloads.find((w) => w.name === n)!,
    });
  } catch (e) {
    if (dumpLogsOf !== undefined) dumpAgentLogs(stateRoot, name, dumpLogsOf);
    throw e;
  } finally {
    await labDown(name, { stateRoot });
    rmSync(stateRoot, { recursive: true, force: true });
    assert.deepEqual(listNetns(`weft-${name}-`), [], 'lab left namespaces behind');
  }
}
