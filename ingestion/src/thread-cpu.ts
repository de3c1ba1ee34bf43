/**
 * CPU time of the calling thread, from Linux's /proc/thread-self/stat (utime + stime): Node 20 has
 * no per-thread CPU clock, and the process total cannot tell the stream thread's microseconds from
 * the storage thread's. Undefined where /proc is not there.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's times: USER_HZ, 100 on every Linux this runs on. */
const TICKS_PER_SECOND = 100;

export function threadCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}
