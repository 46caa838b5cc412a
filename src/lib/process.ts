/** Small process helpers shared by the lab, the demo and the test launchers. */

/** True while a process with this PID exists (signal 0 probes without sending anything). */
export function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
