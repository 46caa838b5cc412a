/**
 * The seeds' scenario (001/002: Calico as Docker's network plugin on two hosts — in seed 001 it
 * ended in 100 % packet loss) on one machine, with the embedded SQLite datastore, printed as a
 * terminal transcript:
 *
 *   ./scripts/node scripts/demo-docker.ts        (needs root, Debian docker.io 20.10, busybox-static)
 *
 * A `weft lab` of two hosts (network namespaces on a shared underlay), each running `weft node run`;
 * on each host a private dockerd (src/lab/dockerd.ts) and `weft docker-plugin --calico-aliases`;
 * then the seed's commands verbatim. Every `weft` shown is the real `./bin/weft` against the lab's
 * SQLite file. Everything is removed at the end, on failure and on Ctrl-C: containers, networks,
 * plugins and dockerds (by PID), the lab, the temp dir.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive as alive } from '../src/lib/process.ts';
import { fileURLToPath } from 'node:url';
import {
  DOCKER_CLI, dockerdUnavailableReason, labDown, pidsMentioning, readState, startDockerd, type Dockerd,
} from '../src/lab/index.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url)).replace(/\/$/, '');
const WEFT = join(ROOT, 'bin', 'weft');
const LAB = process.env.WEFT_DEMO_LAB ?? 'demo';
const IMAGE = 'busybox';
const T0 = Date.now();

const tty = process.stdout.isTTY === true;
const bold = (s: string): string => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string): string => (tty ? `\x1b[2m${s}\x1b[0m` : s);
const out = (s: string): void => {
  process.stdout.write(s);
};
const note = (s: string): void => out(`${dim(s.split('\n').map((l) => `# ${l}`).join('\n'))}\n`);
const section = (s: string): void => out(`\n${bold(`## ${s}`)}\n`);

class Interrupted extends Error {}

// --- what this run created, for teardown ------------------------------------------------------------

interface DemoHost {
  name: string;
  ns: string;
  ip: string;
  dockerd?: Dockerd;
  plugin?: ChildProcess;
  pluginLog: string;
  containers: Set<string>;
  networks: Set<string>;
}

const tmp = mkdtempSync(join(tmpdir(), 'weft-demo-'));
const stateRoot = join(tmp, 'lab');
const dbPath = join(stateRoot, LAB, 'weft.db');
const DS = `sqlite:${dbPath}`;
const hosts: DemoHost[] = [];
let labStarted = false;
let interrupted = false;
let cleaningUp = false;
let current: ChildProcess | undefined;

const sleep = async (ms: number): Promise<void> => {
  if (interrupted) throw new Interrupted('interrupted');
  await new Promise((r) => setTimeout(r, ms));
  if (interrupted) throw new Interrupted('interrupted');
};


function kill(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

async function stopPid(pid: number | undefined, ms = 10_000): Promise<void> {
  if (!alive(pid)) return;
  kill(pid, 'SIGTERM');
  const end = Date.now() + ms;
  while (alive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  kill(pid, 'SIGKILL');
}

// --- running commands -------------------------------------------------------------------------------

interface Ran {
  code: number;
  output: string;
}

interface RunOpts {
  /** Print the output (default true). */
  show?: boolean;
  /** A non-zero exit is what this step demonstrates. */
  expectFail?: boolean;
  /** A non-zero exit is reported but not fatal. */
  mayFail?: boolean;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Runs argv in its own process group (a Ctrl-C reaches only this script, which stops it in order). */
function exec(argv: readonly string[], opts: RunOpts = {}): Promise<Ran> {
  if (interrupted) return Promise.reject(new Interrupted('interrupted'));
  const show = opts.show ?? true;
  return new Promise((resolve) => {
    const c = spawn(argv[0]!, argv.slice(1), {
      cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WEFT_LOG_LEVEL: 'warn', ...opts.env },
    });
    current = c;
    const chunks: Buffer[] = [];
    const onData = (b: Buffer): void => {
      chunks.push(b);
      if (show) process.stdout.write(b);
    };
    c.stdout.on('data', onData);
    c.stderr.on('data', onData);
    const timer = setTimeout(() => kill(c.pid, 'SIGKILL'), opts.timeoutMs ?? 120_000);
    c.on('error', (e) => chunks.push(Buffer.from(`${String(e)}\n`)));
    c.on('close', (code, signal) => {
      clearTimeout(timer);
      if (current === c) current = undefined;
      resolve({ code: code ?? (signal !== null ? 128 : 1), output: Buffer.concat(chunks).toString('utf8') });
    });
  });
}

async function shown(prompt: string, display: string, argv: readonly string[], opts: RunOpts = {}): Promise<Ran> {
  out(`\n${bold(`${prompt}$ ${display}`)}\n`);
  const r = await exec(argv, opts);
  if (interrupted) throw new Interrupted('interrupted');
  if (r.code !== 0) out(`${dim(`(exit code ${r.code}${opts.expectFail === true ? ', as expected' : ''})`)}\n`);
  else if (opts.expectFail === true) throw new Error(`${display}: succeeded, but the demo expected it to fail`);
  if (r.code !== 0 && opts.expectFail !== true && opts.mayFail !== true) throw new Error(`${display}: exit code ${r.code}`);
  return r;
}

/** `weft …` on the lab's datastore (the real CLI). */
const weft = (args: string, opts: RunOpts = {}): Promise<Ran> =>
  shown('', `weft --datastore $DB ${args}`, [WEFT, '--datastore', DS, ...splitArgs(args)], opts);

/** `docker …` against one host's dockerd. */
const docker = (h: DemoHost, args: string, opts: RunOpts = {}): Promise<Ran> =>
  shown(h.name, `docker ${args}`, dockerArgv(h, splitArgs(args)), opts);

function dockerArgv(h: DemoHost, args: readonly string[]): string[] {
  return [DOCKER_CLI, '-H', `unix://${h.dockerd!.socket}`, ...args];
}

/** Shell-like split for the commands this script writes itself (single quotes only). */
function splitArgs(s: string): string[] {
  const args: string[] = [];
  const re = /'([^']*)'|(\S+)/g;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) args.push(m[1] ?? m[2]!);
  return args;
}

async function dockerQuiet(h: DemoHost, args: readonly string[], timeoutMs = 30_000): Promise<Ran> {
  return exec(dockerArgv(h, args), { show: false, timeoutMs });
}

// --- steps ------------------------------------------------------------------------------------------

async function labUp(): Promise<void> {
  section('1. A lab of two hosts, each running `weft node run`');
  const topo = join(tmp, 'demo-lab.yaml');
  writeFileSync(topo, [
    `name: ${LAB}`,
    'hosts: [{name: host1}, {name: host2}]',
    'pools: []   # no lab pool: the seed\'s ipPool is created with `weft create` below',
    '',
  ].join('\n'));
  note(`temp dir ${tmp}; the lab's SQLite datastore is $DB = ${DS}`);
  await shown('', `cat ${topo}`, ['cat', topo]);
  labStarted = true;
  await shown('', `weft lab up -f ${topo} --state-root ${stateRoot}`, [WEFT, 'lab', 'up', '-f', topo, '--state-root', stateRoot, '--timeout', '180'], { timeoutMs: 300_000 });
  await shown('', `weft lab status ${LAB} --state-root ${stateRoot}`, [WEFT, 'lab', 'status', LAB, '--state-root', stateRoot]);
  const state = readState(LAB, { stateRoot });
  if (state === undefined) throw new Error('lab up left no state');
  for (const h of state.hosts) {
    hosts.push({ name: h.name, ns: h.ns, ip: h.ip, pluginLog: join(tmp, `${h.name}-plugin.log`), containers: new Set(), networks: new Set() });
  }
  note([
    'topology:',
    `  ${state.underlay}   bridge br0 198.18.0.254/24 (the underlay, every host's default gateway)`,
    ...hosts.map((h) => `    └─ ${h.ns}   eth0 ${h.ip}   weft node run · dockerd · weft docker-plugin`),
  ].join('\n'));
}

async function startDocker(h: DemoHost): Promise<void> {
  h.dockerd = await startDockerd(h.ns, { detached: true, readyTimeoutMs: 90_000 });
  const d = h.dockerd;
  out(`\n${bold(`${h.name}$ ip netns exec ${h.ns} ${d.argv.join(' ').replaceAll(d.dir, '$D')} &`)}\n`);
  note(`dockerd pid ${d.pid}, private data-root/exec-root/socket in D=${d.dir}; plugins discovered in ${d.pluginDir}`);
  await docker(h, "version --format 'client {{.Client.Version}}, server {{.Server.Version}}'");
  out(`\n${bold(`${h.name}$ tar -C rootfs -c . | docker import --change 'CMD ["sh"]' - ${IMAGE}`)}\n`);
  note('rootfs = /bin/busybox from busybox-static and its applet links: no registry needed');
  await d.importBusybox(`${IMAGE}:latest`);
  await docker(h, `images ${IMAGE}`);

  const socketDir = join(d.dir, 'plugin');
  const argv = [
    'ip', 'netns', 'exec', h.ns, WEFT, '--datastore', DS, 'docker-plugin', '--name', h.name, '--calico-aliases',
    '--plugin-dir', d.pluginDir, '--socket-dir', socketDir, '--docker-host', d.socket,
  ];
  out(`\n${bold(`${h.name}$ ip netns exec ${h.ns} weft --datastore $DB docker-plugin --name ${h.name} --calico-aliases --plugin-dir ${d.pluginDir} --socket-dir $D/plugin --docker-host $D/docker.sock &`)}\n`);
  writeFileSync(h.pluginLog, '');
  const fd = openSync(h.pluginLog, 'a');
  try {
    h.plugin = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, WEFT_LOG_LEVEL: 'warn' } });
    h.plugin.unref();
  } finally {
    closeSync(fd);
  }
  const wanted = ['weft', 'weft-ipam', 'calico', 'calico-ipam'].map((n) => join(d.pluginDir, `${n}.spec`));
  const end = Date.now() + 90_000;
  while (!wanted.every((f) => existsSync(f)) || !readFileSync(h.pluginLog, 'utf8').includes('serving')) {
    if (!alive(h.plugin.pid) || Date.now() > end) {
      throw new Error(`the docker plugin on ${h.name} did not start:\n${readFileSync(h.pluginLog, 'utf8').slice(-2000)}`);
    }
    await sleep(100);
  }
  out(readFileSync(h.pluginLog, 'utf8').split('\n').filter((l) => l.includes('serving')).join('\n').replaceAll(d.dir, '$D') + '\n');
  await shown(h.name, `ls ${d.pluginDir}`, ['ls', d.pluginDir]);
}

async function pingUntil(h: DemoHost, container: string, ip: string, ms: number): Promise<number | undefined> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if ((await dockerQuiet(h, ['exec', container, 'ping', '-c', '1', '-W', '1', ip])).code === 0) return Date.now() - t0;
    await sleep(200);
  }
  return undefined;
}

function diagnostics(): string {
  const parts: string[] = [];
  for (const h of hosts) {
    parts.push(`${h.name} routes:\n${spawnSync('ip', ['-n', h.ns, 'route'], { encoding: 'utf8' }).stdout}`);
    const log = join(stateRoot, LAB, `${h.name}.log`);
    if (existsSync(log)) parts.push(`${h.name} agent log (tail):\n${readFileSync(log, 'utf8').slice(-1500)}`);
  }
  return parts.join('\n');
}

async function scenario(): Promise<{ firstPingMs: number }> {
  const [h1, h2] = hosts as [DemoHost, DemoHost];

  section("3. The seed's ipPool (a Calico 2.x `apiVersion: v1` manifest), created verbatim");
  await shown('', 'cat examples/seed-ippool.yaml', ['cat', 'examples/seed-ippool.yaml']);
  await weft('create -f examples/seed-ippool.yaml');
  await weft('get ippools -o wide');

  section('4. One Docker network, created under the same name on both hosts (seed commands)');
  for (const h of hosts) {
    h.networks.add('my_net');
    await docker(h, 'network create --driver calico --ipam-driver calico-ipam --subnet=192.0.2.0/24 my_net');
  }
  await docker(h1, 'network ls --filter driver=calico');

  section('5. A container on each host, with fixed addresses (seed commands)');
  h1.containers.add('my_workload2');
  await docker(h1, `run --net my_net --name my_workload2 --ip 192.0.2.2 -tid ${IMAGE}`);
  h2.containers.add('my_workload3');
  const tRun = Date.now();
  await docker(h2, `run --net my_net --name my_workload3 --ip 192.0.2.3 -tid ${IMAGE}`);
  await docker(h1, "inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' my_workload2");
  await docker(h2, "inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' my_workload3");
  await docker(h1, 'exec my_workload2 ip route');

  section('6. Ping across hosts, both ways (in seed 001: 100 % packet loss)');
  const waited = await pingUntil(h1, 'my_workload2', '192.0.2.3', 90_000);
  if (waited === undefined) throw new Error(`my_workload2 cannot reach 192.0.2.3.\n${diagnostics()}`);
  const firstPingMs = Date.now() - tRun;
  note(`first reply from 192.0.2.3 ${firstPingMs} ms after \`docker run\` on host2 returned (the time host1 takes to learn a route to it)`);
  await docker(h1, 'exec my_workload2 ping -c 3 192.0.2.3');
  await docker(h2, 'exec my_workload3 ping -c 3 192.0.2.2');
  note([
    'the routes Weft installed on host1 (proto 80): the local container on its cali… veth, the remote one via host2\'s',
    'underlay address, host1\'s own IPAM block blackholed. 192.0.2.3 is a /32: `--ip` took it from the block affine to',
    'host1 (a borrowed address, see `weft ipam show --show-blocks` below).',
  ].join('\n'));
  await shown(h1.name, 'ip route', ['ip', '-n', h1.ns, 'route']);

  section('7. A container on another network cannot reach them');
  const pool = join(tmp, 'other-pool.yaml');
  writeFileSync(pool, [
    'apiVersion: projectcalico.org/v3',
    'kind: IPPool',
    'metadata:',
    '  name: other-pool',
    'spec:',
    '  cidr: 198.51.100.0/24',
    '  blockSize: 26',
    '',
  ].join('\n'));
  await shown('', `cat ${pool}`, ['cat', pool]);
  await weft(`create -f ${pool}`);
  h2.networks.add('other_net');
  await docker(h2, 'network create --driver calico --ipam-driver calico-ipam --subnet=198.51.100.0/24 other_net');
  h2.containers.add('other3');
  await docker(h2, `run --net other_net --name other3 -tid ${IMAGE}`);
  const otherIp = (await docker(h2, "inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' other3")).output.trim();
  await docker(h2, 'exec other3 ping -c 2 -W 1 192.0.2.3', { expectFail: true });
  await docker(h2, 'exec other3 ping -c 2 -W 1 192.0.2.2', { expectFail: true });
  note('why: each Docker network is a profile that admits only its own members');
  await weft(`policy trace --from ${otherIp} --to 192.0.2.3 --protocol icmp --icmp-type 8`, { mayFail: true });
  await weft('policy trace --from 192.0.2.2 --to 192.0.2.3 --protocol icmp --icmp-type 8', { mayFail: true });

  section('8. What Weft knows');
  const help = await exec([WEFT, 'node', '--help'], { show: false });
  if (/^\s+status\b/m.test(help.output)) {
    for (const h of hosts) await shown(h.name, 'weft --datastore $DB node status', ['ip', 'netns', 'exec', h.ns, WEFT, '--datastore', DS, 'node', 'status'], { mayFail: true });
  } else {
    note('`weft node status` is not in this build yet (`weft node --help` lists only run and checksystem): skipped');
  }
  await weft('ipam show');
  await weft('ipam show --show-blocks');
  await weft('get workloadendpoints -o wide -A');
  return { firstPingMs };
}

async function removeAll(): Promise<void> {
  section('9. docker rm, docker network rm: nothing left behind');
  for (const h of hosts) {
    if (h.containers.size === 0) continue;
    await docker(h, `rm -f ${[...h.containers].join(' ')}`);
    h.containers.clear();
  }
  for (const h of hosts) {
    if (h.networks.size === 0) continue;
    await docker(h, `network rm ${[...h.networks].join(' ')}`);
    h.networks.clear();
  }
  const check = await weft('ipam check');
  if (!/no problems found/.test(check.output)) throw new Error('weft ipam check found problems after docker rm / network rm');
  await weft('get workloadendpoints -A');
}

/** Stops plugins and dockerds, takes the lab down, removes the temp dir. Quiet unless `show`. */
async function teardown(show: boolean): Promise<void> {
  for (const h of hosts) {
    if (h.dockerd !== undefined) {
      if (h.containers.size > 0) await dockerQuiet(h, ['rm', '-f', ...h.containers]).catch(() => undefined);
      if (h.networks.size > 0) await dockerQuiet(h, ['network', 'rm', ...h.networks]).catch(() => undefined);
      h.containers.clear();
      h.networks.clear();
    }
    if (h.plugin !== undefined && alive(h.plugin.pid)) {
      if (show) out(`\n${bold(`${h.name}$ kill ${h.plugin.pid}`)}   ${dim('# weft docker-plugin: removes its sockets and .spec files')}\n`);
      await stopPid(h.plugin.pid);
    }
    h.plugin = undefined;
    if (h.dockerd !== undefined) {
      if (show) out(`\n${bold(`${h.name}$ kill ${h.dockerd.pid}`)}   ${dim('# dockerd; then its containerd and shims, data-root removed')}\n`);
      await h.dockerd.stop();
    }
    h.dockerd = undefined;
  }
  if (labStarted) {
    const argv = [WEFT, 'lab', 'down', LAB, '--state-root', stateRoot];
    let ok = false;
    if (show) {
      out(`\n${bold(`$ weft lab down ${LAB} --state-root ${stateRoot}`)}\n`);
      const r = spawnSync(argv[0]!, argv.slice(1), { cwd: ROOT, encoding: 'utf8', env: { ...process.env, WEFT_LOG_LEVEL: 'warn' } });
      out(`${r.stdout}${r.stderr}`);
      ok = r.status === 0;
    }
    // Whatever happened above: the library call removes every `weft-<lab>-` namespace by prefix.
    if (!ok) await labDown(LAB, { stateRoot }).catch((e: unknown) => out(`lab down: ${String(e)}\n`));
    labStarted = false;
  }
  rmSync(tmp, { recursive: true, force: true });
}

/** What of this run is still there (should be nothing). */
function leftovers(): string[] {
  const left: string[] = [];
  const ns = (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '').split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(`weft-${LAB}-`));
  if (ns.length > 0) left.push(`namespaces: ${ns.join(', ')}`);
  const procs = pidsMentioning(tmp).concat(...hosts.map((h) => pidsMentioning(h.ns)));
  if (procs.length > 0) left.push(`processes: ${[...new Set(procs)].join(', ')}`);
  for (const h of hosts) if (existsSync(`/etc/netns/${h.ns}`)) left.push(`/etc/netns/${h.ns}`);
  if (existsSync(tmp)) left.push(tmp);
  return left;
}

async function main(): Promise<number> {
  const why = dockerdUnavailableReason();
  if (why !== false) {
    process.stderr.write(`demo-docker: ${why} (run as root on a machine with docker.io and busybox-static)\n`);
    return 1;
  }
  const existing = (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '').split('\n').filter((l) => l.startsWith(`weft-${LAB}-`));
  if (existing.length > 0) {
    process.stderr.write(`demo-docker: a lab named ${LAB} is already up (${existing.length} namespaces): \`weft lab down ${LAB}\` or set WEFT_DEMO_LAB\n`);
    rmSync(tmp, { recursive: true, force: true });
    return 1;
  }
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted || cleaningUp) {
      out(`\n${dim('# still cleaning up, please wait')}\n`);
      return;
    }
    interrupted = true;
    out(`\n${dim(`# ${sig}: stopping, then cleaning up everything`)}\n`);
    kill(current?.pid, 'SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  out(bold('Weft demo: seeds 001/002 — Calico-style Docker networking on two hosts, one machine, embedded SQLite datastore\n'));
  note([
    '`weft` below is ./bin/weft; `hostN$ docker` is the Debian 20.10 docker CLI talking to hostN\'s own dockerd;',
    '`hostN$ ip …` runs inside hostN\'s network namespace.',
  ].join('\n'));
  let code = 0;
  let firstPingMs: number | undefined;
  try {
    await labUp();
    section('2. On each host: its own dockerd and the Weft Docker plugin (with the calico/calico-ipam aliases)');
    for (const h of hosts) await startDocker(h);
    ({ firstPingMs } = await scenario());
    await removeAll();
    section('Teardown');
    await teardown(true);
  } catch (e) {
    code = e instanceof Interrupted || interrupted ? 130 : 1;
    if (code === 1) out(`\n${bold('demo failed:')} ${e instanceof Error ? e.message : String(e)}\n`);
    note('cleaning up');
    cleaningUp = true;
    interrupted = false; // let teardown run its commands
    await teardown(false);
  }
  const left = leftovers();
  out('\n');
  note(left.length === 0
    ? `left behind: nothing (no weft-${LAB}-* namespace, no dockerd/containerd of this run, temp dir removed)`
    : `LEFT BEHIND: ${left.join('; ')}`);
  if (left.length > 0 && code === 0) code = 1;
  const secs = ((Date.now() - T0) / 1000).toFixed(1);
  note(`${code === 0 ? 'done' : code === 130 ? 'interrupted' : 'FAILED'} in ${secs} s${firstPingMs !== undefined ? `; docker run → first cross-host ping: ${firstPingMs} ms` : ''}`);
  return code;
}

process.exitCode = await main();
