/** nftables + routes dataplane: renders the host model and keeps the kernel equal to it. */
export * from './model.ts';
export { renderTable, RenderCache, objName, setName, policyChain, profileChain, endpointChain, Chains, Maps, Sets, MARK_ACCEPT, MARK_PASS } from './render.ts';
export { TABLE_FAMILY, TABLE_NAME, ruleHashes, collapseCidrs, canonicalElement, type TableDef, type ChainDef, type SetDef } from './nftmodel.ts';
export { diffTable, observedFromJson, observedFromDesired, emptyObserved, rebuildScript, type ObservedTable, type TableDiff, type DiffStats } from './nftdiff.ts';
export { NftablesManager, type NftApplyResult } from './nftables.ts';
export { RouteManager, kernelRouteFor, type RouteApplyResult } from './routes.ts';
export { Dataplane, applyWorkloadSysctls, type DataplaneOptions, type ApplyReport } from './dataplane.ts';
