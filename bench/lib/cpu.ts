import { readFileSync } from 'node:fs';

/**
 * CPU time (user and system, ms) a process (or one of its threads) has used so far, read from
 * /proc/<pid>/stat; undefined where there is no /proc (not Linux). Per-message
 * CPU is a steadier figure than throughput on a shared 2-core machine.
 */
export function processCpuMs(pid: number, thread?: number): { user: number; system: number } | undefined {
  try {
    const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime (fields 14 and 15), in ticks of USER_HZ, which is 100 on Linux.
    return { user: Number(fields[11]) * 10, system: Number(fields[12]) * 10 };
  } catch {
    return undefined;
  }
}
