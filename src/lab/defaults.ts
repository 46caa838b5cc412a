/** Where lab state (topology, datastore file, logs, PIDs) lives unless --state-root says otherwise. */
export const DEFAULT_STATE_ROOT = '/tmp/weft-lab';
