/**
 * Writers for the v3 resources IPAM reads (IPPool, Node, IPReservation, WorkloadEndpoint), in
 * Calico's stored JSON shape. For tests, benchmarks and demos; the api component is the real writer.
 */
import { resourceKey, type Backend } from '../datastore/index.ts';

export interface PoolFixture {
  blockSize?: number;
  nodeSelector?: string;
  disabled?: boolean;
  allowedUses?: string[];
}

export async function putPool(backend: Backend, name: string, cidr: string, opts: PoolFixture = {}): Promise<void> {
  const spec: Record<string, unknown> = { cidr, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, nodeSelector: opts.nodeSelector ?? 'all()' };
  if (opts.blockSize !== undefined) spec.blockSize = opts.blockSize;
  if (opts.disabled !== undefined) spec.disabled = opts.disabled;
  if (opts.allowedUses !== undefined) spec.allowedUses = opts.allowedUses;
  await backend.put(resourceKey({ kind: 'IPPool', name }), JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name }, spec }));
}

export async function deletePoolResource(backend: Backend, name: string): Promise<void> {
  await backend.delete(resourceKey({ kind: 'IPPool', name }));
}

export async function putNode(backend: Backend, name: string, labels: Record<string, string> = {}, spec: Record<string, unknown> = {}): Promise<void> {
  await backend.put(resourceKey({ kind: 'Node', name }), JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name, labels }, spec }));
}

export async function deleteNode(backend: Backend, name: string): Promise<void> {
  await backend.delete(resourceKey({ kind: 'Node', name }));
}

export async function putReservation(backend: Backend, name: string, reservedCIDRs: string[]): Promise<void> {
  await backend.put(resourceKey({ kind: 'IPReservation', name }), JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'IPReservation', metadata: { name }, spec: { reservedCIDRs } }));
}

export async function putWorkloadEndpoint(backend: Backend, namespace: string, name: string, node: string, ipNetworks: string[]): Promise<void> {
  await backend.put(
    resourceKey({ kind: 'WorkloadEndpoint', namespace, name }),
    JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'WorkloadEndpoint', metadata: { name, namespace }, spec: { node, ipNetworks, orchestrator: 'weft', workload: name, endpoint: 'eth0' } }),
  );
}
