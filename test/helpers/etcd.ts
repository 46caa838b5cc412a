/**
 * Starts real etcd members (Debian's /usr/bin/etcd) for tests: free loopback ports, a temp data
 * dir, health wait; kills by PID on stop(), on process exit and on SIGINT/SIGTERM.
 *
 * Each etcd runs under a tiny shell watchdog that SIGKILLs it when this (Node) process disappears,
 * so even a SIGKILLed test run leaves no etcd behind (the watchdog polls the parent PID).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive as pidAlive } from '../../src/lib/process.ts';

export const ETCD_BIN = process.env.WEFT_ETCD_BIN ?? '/usr/bin/etcd';

export interface EtcdCluster {
  /** Client endpoints `127.0.0.1:port`, one per member. */
  endpoints: string[];
  /** Index of the current leader among the live members (polls until one is elected). */
  leaderIndex(timeoutMs?: number): Promise<number>;
  /** SIGKILLs member i and waits until its process is gone. */
  kill(i: number): Promise<void>;
  /** Restarts a killed member with its data dir (rejoins the cluster). */
  restart(i: number): Promise<void>;
  /** Kills every member and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Last lines of member i's log (for failure messages). */
  logTail(i: number, lines?: number): string;
  /** With `tls: true`: the CA and a client certificate/key the members accept. */
  tls?: { caFile: string; certFile: string; keyFile: string };
}

export interface StartEtcdOptions {
  members?: 1 | 3;
  /** Readiness deadline; default 30 s (the box is shared). */
  timeoutMs?: number;
  /** Serve clients over TLS with client-certificate auth (certificates made with openssl). */
  tls?: boolean;
  /** Enable etcd auth with user `root` and this password. */
  rootPassword?: string;
}

/** Makes a CA, a server certificate for 127.0.0.1 and a client certificate with openssl. */
function makeCerts(dir: string): { caFile: string; caKey: string; serverCert: string; serverKey: string; certFile: string; keyFile: string } {
  const f = (n: string): string => join(dir, n);
  const ossl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'pipe' });
  };
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=weft-test-ca', '-keyout', f('ca.key'), '-out', f('ca.crt'));
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [['server', 'weft-etcd'], ['client', 'weft-client']] as const) {
    ossl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    ossl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f(`${name}.ext`), '-out', f(`${name}.crt`));
  }
  return { caFile: f('ca.crt'), caKey: f('ca.key'), serverCert: f('server.crt'), serverKey: f('server.key'), certFile: f('client.crt'), keyFile: f('client.key') };
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

interface Member {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  log: string;
  pidFile: string;
  watchdog: ChildProcess | undefined;
  pid: number | undefined;
  alive: boolean;
}

const live = new Set<() => void>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const killAll = (): void => {
    for (const k of [...live]) k();
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}


interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** GET/POST JSON over http(s), with the test CA and client certificate when TLS is on. */
function requestJson(url: string, body: unknown, tls: TlsFiles | undefined, timeoutMs = 1000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const opts = {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json' },
      timeout: timeoutMs,
      ...(tls ? { ca: readFileSync(tls.caFile), cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } : {}),
    };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, opts, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (data += d));
      res.on('end', () => {
        try {
          resolve(JSON.parse(data));
        } catch (e) {
          reject(e as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: timeout`)));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function healthy(url: string, tls: TlsFiles | undefined): Promise<boolean> {
  try {
    const j = (await requestJson(`${url}/health`, undefined, tls)) as { health?: string };
    return j.health === 'true';
  } catch {
    return false;
  }
}

export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdCluster> {
  if (!existsSync(ETCD_BIN)) throw new Error(`etcd not found at ${ETCD_BIN} (apt-get install etcd-server)`);
  installExitHooks();
  const n = opts.members ?? 1;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const dir = mkdtempSync(join(tmpdir(), 'weft-etcd-'));
  let certs: ReturnType<typeof makeCerts> | undefined;
  try {
    if (opts.tls === true) certs = makeCerts(dir);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const tlsFiles: TlsFiles | undefined = certs && { caFile: certs.caFile, certFile: certs.certFile, keyFile: certs.keyFile };
  const scheme = certs ? 'https' : 'http';
  const clientUrl = (m: Member): string => `${scheme}://127.0.0.1:${m.clientPort}`;
  const members: Member[] = [];
  for (let i = 0; i < n; i++) {
    members.push({
      name: `m${i}`,
      clientPort: await freePort(),
      peerPort: await freePort(),
      dataDir: join(dir, `m${i}`),
      log: join(dir, `m${i}.log`),
      pidFile: join(dir, `m${i}.pid`),
      watchdog: undefined,
      pid: undefined,
      alive: false,
    });
  }
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
  const token = `weft-${process.pid}-${Date.now()}`;
  let stopped = false;

  const args = (m: Member, state: 'new' | 'existing'): string[] => [
    '--name', m.name,
    '--data-dir', m.dataDir,
    '--listen-client-urls', clientUrl(m),
    '--advertise-client-urls', clientUrl(m),
    ...(certs
      ? ['--cert-file', certs.serverCert, '--key-file', certs.serverKey, '--trusted-ca-file', certs.caFile, '--client-cert-auth']
      : []),
    '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
    '--initial-cluster', initialCluster,
    '--initial-cluster-state', state,
    '--initial-cluster-token', token,
    ...(n > 1 ? ['--heartbeat-interval', '50', '--election-timeout', '500'] : []),
    '--log-outputs', 'stderr',
  ];

  const killMember = (m: Member): void => {
    const pid = m.pid ?? readPid(m);
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (m.watchdog?.pid !== undefined) {
      try {
        process.kill(m.watchdog.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    m.alive = false;
  };
  const killAllSync = (): void => {
    for (const m of members) killMember(m);
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort at exit
    }
  };
  live.add(killAllSync);

  function readPid(m: Member): number | undefined {
    try {
      const p = Number(readFileSync(m.pidFile, 'utf8').trim());
      return Number.isInteger(p) && p > 0 ? p : undefined;
    } catch {
      return undefined;
    }
  }

  async function launch(m: Member, state: 'new' | 'existing'): Promise<void> {
    rmSync(m.pidFile, { force: true });
    // Watchdog: run etcd in the background, record its PID, kill it if the parent goes away.
    const script =
      'etcd_bin="$1"; log="$2"; pidfile="$3"; parent="$4"; dir="$5"; shift 5; ' +
      '"$etcd_bin" "$@" >>"$log" 2>&1 & e=$!; echo $e > "$pidfile"; ' +
      'trap \'kill -9 $e 2>/dev/null; exit 0\' TERM INT; ' +
      'while kill -0 "$parent" 2>/dev/null && kill -0 $e 2>/dev/null; do sleep 0.5; done; ' +
      'kill -9 $e 2>/dev/null; ' +
      // The test process died without cleaning up: remove the temp dir too.
      'if ! kill -0 "$parent" 2>/dev/null; then sleep 0.2; rm -rf "$dir"; fi; exit 0';
    const wd = spawn('/bin/sh', ['-c', script, 'etcd-watchdog', ETCD_BIN, m.log, m.pidFile, String(process.pid), dir, ...args(m, state)], {
      stdio: 'ignore',
    });
    wd.unref();
    m.watchdog = wd;
    const deadline = Date.now() + 5000;
    while ((m.pid = readPid(m)) === undefined) {
      if (Date.now() > deadline) throw new Error(`etcd ${m.name} did not start: ${tail(m)}`);
      await sleep(20);
    }
    m.alive = true;
  }

  function tail(m: Member, lines = 20): string {
    try {
      return readFileSync(m.log, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async function waitHealthy(ms: (Member)[]): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = await Promise.all(ms.map((m) => healthy(clientUrl(m), tlsFiles)));
      if (ok.every(Boolean)) return;
      for (const m of ms) {
        if (m.pid !== undefined && !pidAlive(m.pid)) throw new Error(`etcd ${m.name} exited during startup:\n${tail(m)}`);
      }
      if (Date.now() > deadline) throw new Error(`etcd not healthy within ${timeoutMs} ms:\n${ms.map((m) => tail(m)).join('\n---\n')}`);
      await sleep(50);
    }
  }

  const cluster: EtcdCluster = {
    endpoints: members.map((m) => `127.0.0.1:${m.clientPort}`),
    async leaderIndex(waitMs = 20_000): Promise<number> {
      const deadline = Date.now() + waitMs;
      for (;;) {
        for (let i = 0; i < members.length; i++) {
          if (!members[i].alive) continue;
          try {
            const st = (await requestJson(`${clientUrl(members[i])}/v3/maintenance/status`, {}, tlsFiles)) as {
              header?: { member_id?: string };
              leader?: string;
            };
            if (st.leader === undefined || st.leader === '0') continue;
            if (st.leader === st.header?.member_id) return i;
          } catch {
            // member busy or electing: ask the next one
          }
        }
        if (Date.now() > deadline) throw new Error('no etcd leader elected');
        await sleep(50);
      }
    },
    async kill(i: number): Promise<void> {
      const m = members[i];
      const pid = m.pid;
      killMember(m);
      while (pid !== undefined && pidAlive(pid)) await sleep(10);
    },
    async restart(i: number): Promise<void> {
      const m = members[i];
      if (m.alive) return;
      await launch(m, 'existing');
      await waitHealthy([m]);
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      const pids = members.map((m) => m.pid);
      for (const m of members) killMember(m);
      for (const pid of pids) {
        const deadline = Date.now() + 5000;
        while (pid !== undefined && pidAlive(pid) && Date.now() < deadline) await sleep(10);
      }
      live.delete(killAllSync);
      rmSync(dir, { recursive: true, force: true });
    },
    logTail(i: number, lines?: number): string {
      return tail(members[i], lines);
    },
    ...(tlsFiles ? { tls: tlsFiles } : {}),
  };

  try {
    for (const m of members) await launch(m, 'new');
    await waitHealthy(members);
    await cluster.leaderIndex(timeoutMs);
    if (opts.rootPassword !== undefined) enableAuth(cluster.endpoints, opts.rootPassword, tlsFiles);
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

/** `etcdctl user add root; grant root role; auth enable` (etcd 3.4 needs the root role granted). */
function enableAuth(endpoints: string[], password: string, tls: TlsFiles | undefined): void {
  const base = [
    `--endpoints=${endpoints.map((e) => `${tls ? 'https' : 'http'}://${e}`).join(',')}`,
    ...(tls ? [`--cacert=${tls.caFile}`, `--cert=${tls.certFile}`, `--key=${tls.keyFile}`] : []),
  ];
  const ctl = (...args: string[]): void => {
    execFileSync('etcdctl', [...base, ...args], { stdio: 'pipe', env: { ...process.env, ETCDCTL_API: '3' } });
  };
  ctl('user', 'add', `root:${password}`);
  ctl('user', 'grant-role', 'root', 'root');
  ctl('auth', 'enable');
}
