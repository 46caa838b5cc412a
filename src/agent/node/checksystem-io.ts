/** The real `CheckSystemDeps`: this process's network namespace, files, sockets and datastore. */
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { request } from 'node:http';
import { ExecRunner } from '../netlink/index.ts';
import { openBackend } from '../../datastore/index.ts';
import type { CheckSystemDeps, DockerdProcess, ResolvedLike } from './checksystem.ts';

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (err: string | undefined): void => { s.destroy(); resolve(err); };
    s.setTimeout(timeoutMs, () => done(`no answer to TCP connect in ${timeoutMs} ms (packets dropped?)`));
    s.once('connect', () => done(undefined));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' ? 'connection refused (nothing listens there)' : e.message));
  });
}

function unixRequest(socketPath: string, method: string, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method, timeout: timeoutMs, headers: { accept: 'application/vnd.docker.plugins.v1.2+json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(method === 'POST' ? '{}' : undefined);
  });
}

/** dockerd processes whose network namespace is ours (/proc/PID/ns/net, proc(5)). */
function dockerds(): Promise<DockerdProcess[] | 'unknown'> {
  let mine: string;
  try { mine = readlinkSync('/proc/self/ns/net'); } catch { return Promise.resolve('unknown'); }
  const out: DockerdProcess[] = [];
  let denied = false;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== 'dockerd') continue;
      if (readlinkSync(`/proc/${d}/ns/net`) !== mine) continue;
      out.push({ pid: Number(d), argv: readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').filter((s) => s !== '') });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EACCES') denied = true;
    }
  }
  return Promise.resolve(out.length === 0 && denied ? 'unknown' : out);
}

export function realCheckDeps(o: { resolve: () => ResolvedLike; nodeName: string; healthUrl: string; configFiles: readonly string[]; env?: NodeJS.ProcessEnv }): CheckSystemDeps {
  return {
    runner: new ExecRunner(),
    resolve: o.resolve,
    openBackend: (spec) => openBackend(spec),
    nodeName: o.nodeName,
    env: o.env ?? process.env,
    isRoot: process.getuid?.() === 0,
    readFile: (p) => { try { return readFileSync(p, 'utf8'); } catch { return undefined; } },
    listDir: (p) => { try { return readdirSync(p); } catch { return []; } },
    exists: (p) => existsSync(p),
    tcpConnect,
    httpGet: async (url, timeoutMs) => {
      const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      return { status: r.status, body: await r.text() };
    },
    unixPost: (s, p, t) => unixRequest(s, 'POST', p, t),
    unixGet: (s, p, t) => unixRequest(s, 'GET', p, t),
    dockerds,
    now: () => new Date(),
    healthUrl: o.healthUrl,
    configFiles: o.configFiles,
  };
}
