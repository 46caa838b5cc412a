/** Public surface of IPAM: Calico-compatible block allocation with host affinity. */
export * from './block.ts';
export * from './model.ts';
export * from './sources.ts';
export * from './ipam.ts';
export * from './check.ts';
export * from './cli.ts';
export * from './fixtures.ts';
