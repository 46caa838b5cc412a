/**
 * The agent's own settings that FelixConfiguration carries (status reporting, health server,
 * endpoint reporting), resolved with felix's precedence (calico-notes §2.9):
 *
 *   built-in default < FelixConfiguration `default` < FelixConfiguration `node.<host>` < flag
 *
 * (felix: datastore global < datastore per-host < config file < environment; `weft node run`
 * flags play the part of felix's environment variables).
 *
 * Pure: no I/O. An invalid stored value is reported in `problems` and the lower layer's value
 * stands, so a bad FelixConfiguration can never stop the agent.
 */
import { durationField } from '../../lib/duration.ts';

export interface HealthSetting {
  host: string;
  port: number;
}

export interface AgentRuntimeConfig {
  /** Seconds between process status reports; 0 disables (felix ReportingIntervalSecs, 30). */
  reportingIntervalSecs: number;
  /** Lease of the status key (felix ReportingTTLSecs, 90). */
  reportingTTLSecs: number;
  /** Health + metrics server, or false. */
  health: HealthSetting | false;
  endpointReportingEnabled: boolean;
  endpointReportingDelayMs: number;
}

/** Flag values; `undefined` = not given, the datastore decides. */
export interface RuntimeOverrides {
  reportingIntervalSecs?: number;
  reportingTTLSecs?: number;
  /** `false` = flag turned the server off. */
  health?: { host?: string; port?: number } | false;
  endpointReportingEnabled?: boolean;
}

export const RUNTIME_DEFAULTS: AgentRuntimeConfig = {
  reportingIntervalSecs: 30,
  reportingTTLSecs: 90,
  // felix's own default is off; calico/node turns it on (FELIX_HEALTHENABLED=true), and so do we.
  health: { host: '127.0.0.1', port: 9099 },
  endpointReportingEnabled: false,
  endpointReportingDelayMs: 1000,
};

/** FelixConfiguration specs, lowest precedence first (`default`, then `node.<host>`). */
export function resolveRuntimeConfig(
  specs: readonly (Record<string, unknown> | undefined)[],
  overrides: RuntimeOverrides = {},
): { config: AgentRuntimeConfig; problems: string[] } {
  const problems: string[] = [];
  let interval = RUNTIME_DEFAULTS.reportingIntervalSecs;
  let ttl = RUNTIME_DEFAULTS.reportingTTLSecs;
  let healthEnabled = true;
  let healthHost = (RUNTIME_DEFAULTS.health as HealthSetting).host;
  let healthPort = (RUNTIME_DEFAULTS.health as HealthSetting).port;
  let epEnabled = RUNTIME_DEFAULTS.endpointReportingEnabled;
  let epDelayMs = RUNTIME_DEFAULTS.endpointReportingDelayMs;

  const dur = (spec: Record<string, unknown>, field: string, apply: (secs: number) => void): void => {
    if (spec[field] === undefined) return;
    try {
      const secs = durationField(spec[field]);
      if (secs === undefined || secs < 0) throw new Error('must not be negative');
      apply(secs);
    } catch (e) {
      problems.push(`spec.${field}: ${(e as Error).message}`);
    }
  };
  for (const spec of specs) {
    if (spec === undefined) continue;
    dur(spec, 'reportingInterval', (s) => { interval = s; });
    dur(spec, 'reportingTTL', (s) => { ttl = s; });
    dur(spec, 'endpointReportingDelay', (s) => { epDelayMs = s * 1000; });
    if (spec.healthEnabled !== undefined) {
      if (typeof spec.healthEnabled === 'boolean') healthEnabled = spec.healthEnabled;
      else problems.push('spec.healthEnabled: not a boolean');
    }
    if (spec.healthHost !== undefined) {
      if (typeof spec.healthHost === 'string' && spec.healthHost !== '') healthHost = spec.healthHost === 'localhost' ? '127.0.0.1' : spec.healthHost;
      else problems.push('spec.healthHost: not a host name or address');
    }
    if (spec.healthPort !== undefined) {
      const p = spec.healthPort;
      if (typeof p === 'number' && Number.isInteger(p) && p >= 0 && p <= 65535) healthPort = p;
      else problems.push('spec.healthPort: not a port (0–65535)');
    }
    if (spec.endpointReportingEnabled !== undefined) {
      if (typeof spec.endpointReportingEnabled === 'boolean') epEnabled = spec.endpointReportingEnabled;
      else problems.push('spec.endpointReportingEnabled: not a boolean');
    }
  }
  if (overrides.reportingIntervalSecs !== undefined) interval = overrides.reportingIntervalSecs;
  if (overrides.reportingTTLSecs !== undefined) ttl = overrides.reportingTTLSecs;
  if (overrides.endpointReportingEnabled !== undefined) epEnabled = overrides.endpointReportingEnabled;
  let health: HealthSetting | false = healthEnabled ? { host: healthHost, port: healthPort } : false;
  if (overrides.health === false) health = false;
  else if (overrides.health !== undefined) {
    // A flag for one part (say the port) turns the server on and keeps the stored other part.
    health = { host: overrides.health.host ?? healthHost, port: overrides.health.port ?? healthPort };
  }
  // A lease shorter than the interval would let the key lapse between reports.
  if (interval > 0 && ttl < interval) {
    problems.push(`reportingTTL ${ttl}s is shorter than reportingInterval ${interval}s; using ${interval * 3}s`);
    ttl = interval * 3;
  }
  return {
    config: { reportingIntervalSecs: interval, reportingTTLSecs: ttl, health, endpointReportingEnabled: epEnabled, endpointReportingDelayMs: epDelayMs },
    problems,
  };
}
