/**
 * Link-change notifications: `ip -o monitor link` (rtnetlink RTMGRP_LINK events, one line per
 * event) in a namespace, so the agent reacts to a veth appearing, going down or up without
 * polling (felix's ifacemonitor listens to the same netlink group).
 *
 * The child is restarted if it exits (with a back-off) until `stop()`, which kills it by PID.
 * Events are coalesced per tick: a burst (a new veth emits several) gives one callback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { inNetns } from './exec.ts';

export interface LinkMonitor {
  stop(): void;
}

export function monitorLinks(netns: string | undefined, onChange: () => void, onError?: (err: Error) => void): LinkMonitor {
  let child: ChildProcess | undefined;
  let stopped = false;
  let pending = false;
  let restartTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  const argv = inNetns(netns, ['ip', '-o', 'monitor', 'link']);
  const fire = (): void => {
    if (pending) return;
    pending = true;
    setImmediate(() => {
      pending = false;
      if (!stopped) onChange();
    });
  };
  const start = (): void => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
    child = c;
    c.stdout!.on('data', () => {
      failures = 0;
      fire();
    });
    c.on('error', (e) => onError?.(e));
    c.on('close', () => {
      child = undefined;
      if (stopped) return;
      failures++;
      // Events may have been missed while it was down: report a change once it is back.
      const delay = Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
      restartTimer = setTimeout(() => { start(); fire(); }, delay);
      restartTimer.unref();
    });
  };
  start();
  return {
    stop(): void {
      stopped = true;
      if (restartTimer !== undefined) clearTimeout(restartTimer);
      child?.kill('SIGTERM');
    },
  };
}
