/**
 * The HTTP side of the libnetwork remote-plugin protocol: one unix socket per driver (network,
 * IPAM), `.spec` files so dockerd discovers them, JSON in and out.
 *
 * Every reply is a JSON object; every failure is `{"Err": "<what was wrong>"}` (HTTP 500 as
 * docker/go-plugins-helpers does; 404 for an unknown endpoint). A handler exception never escapes
 * the request: the server cannot be crashed by a request body.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Counter, Histogram, register } from 'prom-client';
import { ErrorCodes, WeftError, isWeftError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { IpamDriver } from './ipam-driver.ts';
import type { NetworkDriver } from './network-driver.ts';
import { IPAM_DRIVER, NETWORK_DRIVER, PLUGIN_CONTENT_TYPE } from './protocol.ts';

/** Largest request body accepted; Docker's are well under 4 KiB. */
export const MAX_BODY_BYTES = 1 << 20;

export type Handler = (body: unknown) => Promise<object> | object;

export interface Reply {
  status: number;
  body: object;
}

function metric<T>(name: string, make: () => T): T {
  return (register.getSingleMetric(name) as T | undefined) ?? make();
}

const requests = metric(
  'weft_docker_plugin_requests_total',
  () => new Counter({ name: 'weft_docker_plugin_requests_total', help: 'libnetwork plugin requests by endpoint and result', labelNames: ['endpoint', 'result'] }),
);
const latency = metric(
  'weft_docker_plugin_request_seconds',
  () => new Histogram({ name: 'weft_docker_plugin_request_seconds', help: 'libnetwork plugin request latency', labelNames: ['endpoint'], buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10] }),
);

/** Routes of the network driver socket. */
export function networkRoutes(d: NetworkDriver): Map<string, Handler> {
  const r = new Map<string, Handler>();
  const p = `/${NETWORK_DRIVER}.`;
  r.set('/Plugin.Activate', () => ({ Implements: [NETWORK_DRIVER] }));
  r.set(p + 'GetCapabilities', () => d.getCapabilities());
  r.set(p + 'CreateNetwork', (b) => d.createNetwork(b));
  r.set(p + 'DeleteNetwork', (b) => d.deleteNetwork(b));
  r.set(p + 'CreateEndpoint', (b) => d.createEndpoint(b));
  r.set(p + 'DeleteEndpoint', (b) => d.deleteEndpoint(b));
  r.set(p + 'EndpointOperInfo', (b) => d.endpointOperInfo(b));
  r.set(p + 'Join', (b) => d.join(b));
  r.set(p + 'Leave', (b) => d.leave(b));
  r.set(p + 'DiscoverNew', (b) => d.discover(b, 'DiscoverNew'));
  r.set(p + 'DiscoverDelete', (b) => d.discover(b, 'DiscoverDelete'));
  r.set(p + 'ProgramExternalConnectivity', (b) => d.externalConnectivity(b, 'ProgramExternalConnectivity'));
  r.set(p + 'RevokeExternalConnectivity', (b) => d.externalConnectivity(b, 'RevokeExternalConnectivity'));
  const swarm = (): object => {
    throw new WeftError(ErrorCodes.UNSUPPORTED, 'swarm-mode networks are not supported by the weft driver');
  };
  r.set(p + 'AllocateNetwork', swarm);
  r.set(p + 'FreeNetwork', swarm);
  return r;
}

/** Routes of the IPAM driver socket. */
export function ipamRoutes(d: IpamDriver): Map<string, Handler> {
  const r = new Map<string, Handler>();
  const p = `/${IPAM_DRIVER}.`;
  r.set('/Plugin.Activate', () => ({ Implements: [IPAM_DRIVER] }));
  r.set(p + 'GetCapabilities', () => d.getCapabilities());
  r.set(p + 'GetDefaultAddressSpaces', () => d.getDefaultAddressSpaces());
  r.set(p + 'RequestPool', (b) => d.requestPool(b));
  r.set(p + 'ReleasePool', (b) => d.releasePool(b));
  r.set(p + 'RequestAddress', (b) => d.requestAddress(b));
  r.set(p + 'ReleaseAddress', (b) => d.releaseAddress(b));
  return r;
}

function errText(e: unknown): string {
  if (isWeftError(e)) return e.hint === undefined ? e.message : `${e.message} (hint: ${e.hint})`;
  if (e instanceof Error) return e.message;
  return String(e);
}

/**
 * Handles one request given its path and raw body: the whole protocol without sockets (unit tests
 * call this directly). Never throws.
 */
export async function dispatch(routes: Map<string, Handler>, path: string, raw: string, log: Logger): Promise<Reply> {
  const h = routes.get(path);
  if (h === undefined) return { status: 404, body: { Err: `unknown plugin endpoint ${path}` } };
  const t0 = process.hrtime.bigint();
  let body: unknown = null;
  if (raw.trim() !== '') {
    try {
      body = JSON.parse(raw);
    } catch (e) {
      requests.inc({ endpoint: path, result: 'error' });
      return { status: 500, body: { Err: `${path.slice(1)}: request body is not valid JSON: ${(e as Error).message}` } };
    }
  }
  try {
    const out = await h(body);
    requests.inc({ endpoint: path, result: 'ok' });
    log.debug({ path, req: body, resp: out }, 'plugin request');
    return { status: 200, body: out };
  } catch (e) {
    requests.inc({ endpoint: path, result: 'error' });
    const msg = errText(e);
    // Validation failures are the caller's; anything else is worth a warning with the stack.
    if (isWeftError(e, ErrorCodes.VALIDATION, ErrorCodes.UNSUPPORTED)) log.info({ path, err: msg }, 'plugin request refused');
    else log.warn({ path, err: e }, 'plugin request failed');
    return { status: 500, body: { Err: msg } };
  } finally {
    latency.observe({ endpoint: path }, Number(process.hrtime.bigint() - t0) / 1e9);
  }
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    let tooBig = false;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY_BYTES) tooBig = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(tooBig ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, r: Reply): void {
  const text = JSON.stringify(r.body);
  res.writeHead(r.status, { 'Content-Type': PLUGIN_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** True when something accepts connections on the unix socket at `path`. */
function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Listens on a unix socket; a stale socket file (nobody listening) is replaced. */
export async function listenUnix(path: string, routes: Map<string, Handler>, log: Logger): Promise<Server> {
  if (await socketAlive(path)) throw new Error(`another process is already serving ${path}`);
  await rm(path, { force: true });
  const server = createServer((req, res) => {
    void (async () => {
      try {
        const path = (req.url ?? '').split('?')[0] ?? '';
        const raw = await readBody(req);
        if (req.method !== 'POST') {
          send(res, { status: 405, body: { Err: `${req.method ?? '?'} ${path}: plugin endpoints take POST` } });
        } else if (raw === undefined) {
          send(res, { status: 413, body: { Err: `${path}: request body larger than ${MAX_BODY_BYTES} bytes` } });
        } else {
          send(res, await dispatch(routes, path, raw, log));
        }
      } catch (e) {
        log.warn({ err: e }, 'plugin connection failed');
        if (!res.headersSent) send(res, { status: 500, body: { Err: errText(e) } });
        else res.destroy();
      }
    })();
  });
  server.on('clientError', (_e, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

export function closeServer(s: Server): Promise<void> {
  return new Promise((resolve) => {
    s.close(() => resolve());
    s.closeAllConnections();
  });
}

/** Writes `<dir>/<name>.spec` = `unix://<socket>` atomically (docker `pkg/plugins` discovery). */
export async function writeSpec(dir: string, name: string, socket: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${name}.spec`);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `unix://${socket}\n`);
  await rename(tmp, file);
  return file;
}

/** Removes a spec file only if it still points at our socket (another plugin may have replaced it). */
export async function removeSpec(file: string, socket: string): Promise<void> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text !== undefined && text.trim() === `unix://${socket}`) await rm(file, { force: true });
}
