/** Collects `weft node diags` into a directory and packs it with tar (see diags-cli.ts). */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, basename } from 'node:path';
import { tmpdir } from 'node:os';
import { runArgv } from '../netlink/index.ts';
import { openBackend, RESOURCE_KINDS, resourcePrefix, ipamBlockPrefix, type ResourceKind } from '../../datastore/index.ts';
import { ErrorCodes, WeftError } from '../../lib/errors.ts';
import { DEFAULT_CONFIG_FILES } from '../../config/index.ts';
import { checkSystem } from './checksystem.ts';
import { realCheckDeps } from './checksystem-io.ts';
import type { ResolvedLike } from './checksystem.ts';

export interface DiagsOptions {
  resolve: () => ResolvedLike;
  nodeName: string;
  dir: string;
  logFiles: readonly string[];
  healthUrl: string;
  configFile?: string;
}

async function cmdOut(argv: string[]): Promise<string> {
  const r = await runArgv(argv, { allowFail: true }).catch((e: unknown) => ({ code: 127, stdout: '', stderr: String(e) }));
  return `$ ${argv.join(' ')}\n${r.stdout}${r.stderr !== '' ? `\n[stderr]\n${r.stderr}` : ''}${r.code !== 0 ? `\n[exit ${r.code}]` : ''}\n`;
}

export async function collectDiags(o: DiagsOptions): Promise<string> {
  const work = mkdtempSync(join(tmpdir(), 'weft-diags-'));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const name = `weft-diags-${o.nodeName}-${stamp}`;
  const root = join(work, name);
  try {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(root);
    const put = (f: string, text: string): void => writeFileSync(join(root, f), text);
    const report = await checkSystem(realCheckDeps({
      resolve: o.resolve, nodeName: o.nodeName, healthUrl: o.healthUrl,
      configFiles: o.configFile !== undefined ? [o.configFile] : DEFAULT_CONFIG_FILES,
    }));
    put('checksystem.json', `${JSON.stringify(report, null, 2)}\n`);
    put('nft-ruleset.txt', await cmdOut(['nft', 'list', 'ruleset']));
    put('routes.txt', (await cmdOut(['ip', '-4', 'route', 'show', 'table', 'all'])) + (await cmdOut(['ip', '-6', 'route', 'show', 'table', 'all'])));
    put('links.txt', (await cmdOut(['ip', '-d', 'link', 'show'])) + (await cmdOut(['ip', 'addr', 'show'])));
    put('sysctls.txt', await cmdOut(['sysctl', '-a', '--pattern', '^net\\.(ipv4\\.(ip_forward|conf\\.)|ipv6\\.conf\\.)']));
    try {
      const r = await fetch(`${o.healthUrl}/bgp/peers`, { signal: AbortSignal.timeout(3000) });
      put('bgp-peers.json', await r.text());
    } catch (e) {
      put('bgp-peers.json', `${JSON.stringify({ error: `agent status endpoint ${o.healthUrl} did not answer: ${(e as Error).message}` })}\n`);
    }
    put('datastore-summary.txt', await datastoreSummary(o.resolve));
    const logs = [...o.logFiles];
    if (logs.length === 0 && existsSync('/var/log/weft')) logs.push(...readdirSync('/var/log/weft').filter((f) => f.endsWith('.log')).map((f) => join('/var/log/weft', f)));
    for (const l of logs) {
      try { copyFileSync(l, join(root, `log-${basename(l)}`)); } catch (e) { put(`log-${basename(l)}.error`, `${(e as Error).message}\n`); }
    }
    if (o.logFiles.length === 0) put('journal-weft-node.txt', await cmdOut(['journalctl', '-u', 'weft-node', '--no-pager', '-n', '5000']));
    const out = join(o.dir, `${name}.tar.gz`);
    const t = await runArgv(['tar', '-C', work, '-czf', out, name], { allowFail: true });
    if (t.code !== 0) throw new WeftError(ErrorCodes.INTERNAL, `tar failed writing ${out}: ${t.stderr.trim()}`, { hint: '--dir must be a writable directory' });
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function datastoreSummary(resolve: () => ResolvedLike): Promise<string> {
  let r: ResolvedLike;
  try { r = resolve(); } catch (e) { return `datastore not configured: ${(e as Error).message}\n`; }
  try {
    const b = await openBackend(r.spec);
    try {
      const lines = [`datastore ${b.address} (from ${r.source}), revision ${await b.revision()}`];
      for (const kind of Object.keys(RESOURCE_KINDS) as ResourceKind[]) {
        const n = (await b.list(resourcePrefix(kind))).items.length;
        if (n > 0) lines.push(`${kind}: ${n}`);
      }
      lines.push(`IPAM blocks: ${(await b.list(ipamBlockPrefix())).items.length}`);
      return `${lines.join('\n')}\n`;
    } finally {
      await b.close();
    }
  } catch (e) {
    return `datastore ${JSON.stringify(r.spec)} (from ${r.source}) unreachable: ${(e as Error).message}\n`;
  }
}
