/** Runs the real `weft node checksystem -o json` inside a lab host's namespace. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CheckRun {
  code: number;
  report: { ok: boolean; partial: boolean; checks: { name: string; status: string; evidence: string; hint?: string }[] };
  text: string;
}

/** `global` goes before `node checksystem` (e.g. `--datastore URL`); `env` replaces this process's datastore settings (none are inherited). */
export function checksystemIn(ns: string, node: string, o: { global?: readonly string[]; env?: NodeJS.ProcessEnv } = {}): CheckRun {
  const base = { ...process.env };
  for (const k of ['WEFT_DATASTORE', 'DATASTORE_TYPE', 'ETCD_ENDPOINTS', 'NODENAME']) delete base[k];
  const argv = ['netns', 'exec', ns, process.execPath, MAIN, ...(o.global ?? []), 'node', 'checksystem', '--name', node, '-o', 'json'];
  const r = spawnSync('ip', argv, { encoding: 'utf8', timeout: 60_000, env: { ...base, ...o.env } });
  let report: CheckRun['report'];
  try {
    report = JSON.parse(r.stdout) as CheckRun['report'];
  } catch {
    throw new Error(`checksystem printed no JSON (exit ${r.status}): ${r.stdout}\n${r.stderr}`);
  }
  return { code: r.status ?? -1, report, text: `${r.stdout}\n${r.stderr}` };
}

/** The failed checks, for assertion messages. */
export const failures = (c: CheckRun): string => c.report.checks.filter((x) => x.status === 'fail').map((x) => `${x.name}: ${x.evidence}`).join('\n');
