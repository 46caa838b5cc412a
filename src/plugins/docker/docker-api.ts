/**
 * The two questions the plugin asks dockerd (Engine API over its unix socket): what is the name of
 * network <id> (the driver protocol only carries host-local IDs) and which labels does the container
 * behind endpoint <id> carry. Both are best effort with a short timeout.
 */
import { request } from 'node:http';

export interface DockerInfo {
  /** Name of a network, or undefined when dockerd does not know it (yet). */
  networkName(networkId: string): Promise<string | undefined>;
  /** Labels of the container attached through `endpointId` to `networkId`, when found. */
  containerForEndpoint(networkId: string, endpointId: string): Promise<{ id: string; name: string; labels: Record<string, string> } | undefined>;
}

const API_VERSION = 'v1.41'; // Docker 20.10; newer daemons serve older API versions.

export class DockerApi implements DockerInfo {
  readonly socketPath: string;
  readonly timeoutMs: number;

  constructor(socketPath: string, timeoutMs = 3000) {
    this.socketPath = socketPath;
    this.timeoutMs = timeoutMs;
  }

  get(path: string): Promise<{ status: number; body: unknown }> {
    return new Promise((resolve, reject) => {
      const req = request(
        { socketPath: this.socketPath, path: `/${API_VERSION}${path}`, method: 'GET', timeout: this.timeoutMs, headers: { Host: 'docker' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown = text;
            try {
              body = JSON.parse(text);
            } catch {
              // Plain-text error body.
            }
            resolve({ status: res.statusCode ?? 0, body });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`docker API ${path}: no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }

  async networkName(networkId: string): Promise<string | undefined> {
    const r = await this.get(`/networks/${encodeURIComponent(networkId)}`);
    if (r.status !== 200 || typeof r.body !== 'object' || r.body === null) return undefined;
    const name = (r.body as { Name?: unknown }).Name;
    return typeof name === 'string' && name !== '' ? name : undefined;
  }

  async containerForEndpoint(networkId: string, endpointId: string): Promise<{ id: string; name: string; labels: Record<string, string> } | undefined> {
    const r = await this.get(`/networks/${encodeURIComponent(networkId)}`);
    if (r.status !== 200 || typeof r.body !== 'object' || r.body === null) return undefined;
    const containers = (r.body as { Containers?: Record<string, { EndpointID?: string; Name?: string }> }).Containers ?? {};
    for (const [id, c] of Object.entries(containers)) {
      if (c.EndpointID !== endpointId) continue;
      const ci = await this.get(`/containers/${encodeURIComponent(id)}/json`);
      if (ci.status !== 200 || typeof ci.body !== 'object' || ci.body === null) return undefined;
      const labels = (ci.body as { Config?: { Labels?: Record<string, string> | null } }).Config?.Labels ?? {};
      return { id, name: c.Name ?? '', labels };
    }
    return undefined;
  }
}
