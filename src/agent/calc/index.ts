/**
 * Calculation graph: datastore updates for the whole cluster in, this host's dataplane-neutral
 * model out (as ordered events and as a snapshot). See DESIGN.md.
 *
 * @example
 *   const g = buildCalcGraph({ host: 'node1', onEvents: (evs) => dataplane.apply(evs) });
 *   new Syncer(backend, ['/calico/'], g).start(); // g implements SyncerCallbacks
 *   g.flush();                  // after each batch (or pass autoFlush: true)
 *   const model = g.snapshot(); // HostModel
 */
export { CalcGraph, buildCalcGraph, computeFromScratch, mergeConfig, type CalcGraphOptions, type CalcGraphStats } from './graph.ts';
export type { CalcEvent } from './sequencer.ts';
export { ModelBuilder } from './model-builder.ts';
export { parseUpdate, type CalcUpdate } from './dispatcher.ts';
export { traceInCluster } from './trace.ts';
