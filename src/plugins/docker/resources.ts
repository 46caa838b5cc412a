/**
 * The v3 resources the plugin owns, read and written straight through the datastore Backend in
 * Calico's layout: WorkloadEndpoints (namespace `libnetwork`) and one Profile per Docker network.
 * Objects are built to pass the api component's schemas (checked by the unit tests).
 */
import { resourceKey, resourcePrefix, type Backend } from '../../datastore/index.ts';
import { ErrorCodes, WeftError, isWeftError } from '../../lib/errors.ts';
import { API_VERSION } from '../../api/kinds.ts';
import { NETWORK_LABEL, WEP_NAMESPACE } from './naming.ts';

export interface Rule {
  action: 'Allow' | 'Deny';
  source?: { selector?: string };
}

export interface ProfileResource {
  apiVersion: string;
  kind: 'Profile';
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; creationTimestamp?: string; resourceVersion?: string };
  spec: { ingress?: Rule[]; egress?: Rule[]; labelsToApply?: Record<string, string> };
}

export interface WorkloadEndpointSpec {
  orchestrator: string;
  workload: string;
  node: string;
  endpoint: string;
  containerID?: string;
  ipNetworks: string[];
  ipv4Gateway?: string;
  ipv6Gateway?: string;
  profiles: string[];
  interfaceName: string;
  mac: string;
}

export interface WorkloadEndpointResource {
  apiVersion: string;
  kind: 'WorkloadEndpoint';
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    creationTimestamp?: string;
    resourceVersion?: string;
  };
  spec: WorkloadEndpointSpec;
}

/**
 * Profile of one Docker network: members (carrying NETWORK_LABEL=<value>) may reach each other,
 * everything may leave, nothing else may come in (Calico's libnetwork profile, calico-notes §13).
 */
export function networkProfile(name: string, labelValue: string, dockerName: string, now: Date): ProfileResource {
  return {
    apiVersion: API_VERSION,
    kind: 'Profile',
    metadata: {
      name,
      annotations: { 'weft.io/docker-network-name': dockerName, 'weft.io/created-by': 'weft docker plugin' },
      creationTimestamp: now.toISOString(),
    },
    spec: {
      ingress: [{ action: 'Allow', source: { selector: `${NETWORK_LABEL} == '${labelValue}'` } }],
      egress: [{ action: 'Allow' }],
      labelsToApply: { [NETWORK_LABEL]: labelValue },
    },
  };
}

export class ResourceStore {
  readonly backend: Backend;

  constructor(backend: Backend) {
    this.backend = backend;
  }

  /** Creates the profile unless one of that name exists (then it is left alone: users may edit it). */
  async ensureProfile(p: ProfileResource): Promise<'created' | 'exists'> {
    const key = resourceKey({ kind: 'Profile', name: p.metadata.name });
    if ((await this.backend.get(key)) !== undefined) return 'exists';
    try {
      await this.backend.create(key, JSON.stringify(p));
      return 'created';
    } catch (e) {
      // Another host created it at the same moment: same content, fine.
      if (isWeftError(e, ErrorCodes.ALREADY_EXISTS)) return 'exists';
      throw e;
    }
  }

  async getProfile(name: string): Promise<ProfileResource | undefined> {
    const kv = await this.backend.get(resourceKey({ kind: 'Profile', name }));
    return kv === undefined ? undefined : (JSON.parse(kv.value) as ProfileResource);
  }

  async getEndpoint(name: string): Promise<{ wep: WorkloadEndpointResource; revision: number } | undefined> {
    const kv = await this.backend.get(resourceKey({ kind: 'WorkloadEndpoint', namespace: WEP_NAMESPACE, name }));
    if (kv === undefined) return undefined;
    try {
      return { wep: JSON.parse(kv.value) as WorkloadEndpointResource, revision: kv.revision };
    } catch (e) {
      throw new WeftError(ErrorCodes.DATASTORE, `WorkloadEndpoint ${WEP_NAMESPACE}/${name} in the datastore is not valid JSON`, { cause: e });
    }
  }

  /** Fails with ERR_ALREADY_EXISTS when present. */
  async createEndpoint(w: WorkloadEndpointResource): Promise<void> {
    await this.backend.create(resourceKey({ kind: 'WorkloadEndpoint', namespace: WEP_NAMESPACE, name: w.metadata.name }), JSON.stringify(w));
  }

  async updateEndpoint(w: WorkloadEndpointResource, revision: number): Promise<void> {
    const { resourceVersion: _rv, ...metadata } = w.metadata;
    await this.backend.update(
      resourceKey({ kind: 'WorkloadEndpoint', namespace: WEP_NAMESPACE, name: w.metadata.name }),
      JSON.stringify({ ...w, metadata }),
      { revision },
    );
  }

  /** Idempotent: a missing endpoint is not an error. */
  async deleteEndpoint(name: string): Promise<boolean> {
    try {
      await this.backend.delete(resourceKey({ kind: 'WorkloadEndpoint', namespace: WEP_NAMESPACE, name }));
      return true;
    } catch (e) {
      if (isWeftError(e, ErrorCodes.NOT_FOUND)) return false;
      throw e;
    }
  }

  /**
   * Endpoints the plugin wrote: all hosts, or those whose name starts with `namePrefix` (one
   * host's: `<node>-libnetwork-libnetwork-`, unambiguous because name segments escape `-`).
   */
  async listEndpoints(namePrefix = ''): Promise<WorkloadEndpointResource[]> {
    const out: WorkloadEndpointResource[] = [];
    const prefix = resourcePrefix('WorkloadEndpoint', WEP_NAMESPACE) + namePrefix;
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.backend.list(prefix, { limit: 500, ...(startAfter === undefined ? {} : { startAfter }) });
      for (const kv of page.items) {
        try {
          out.push(JSON.parse(kv.value) as WorkloadEndpointResource);
        } catch {
          // Not ours to judge here; `weft get` reports malformed objects.
        }
      }
      if (!page.more || page.items.length === 0) return out;
      startAfter = page.items[page.items.length - 1]?.key;
    }
  }
}
