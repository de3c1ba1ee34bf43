// Where a process's threads spent the time they were not idle: on a CPU, or runnable and waiting
// for one (Linux's /proc/PID/task/TID/schedstat: ns on CPU, then ns waiting on a run queue). On a
// machine whose cores are full, the wait is what a message queues behind.
import { readdirSync, readFileSync } from 'node:fs';

function tasksOf(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return [];
  }
}

/** The pids whose parent is `pid` (PostgreSQL's backends are the postmaster's children). */
export function childrenOf(pid) {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      // exited between the listing and the read
    }
  }
  return out;
}

/** Every thread of the process and of its child processes (`childrenOf`): tid → counters. */
export function runQueueSample(pid, children) {
  const threads = new Map();
  for (const p of [pid, ...children]) {
    for (const tid of tasksOf(p)) {
      try {
        const [runNs, waitNs] = readFileSync(`/proc/${p}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
        threads.set(tid, { main: tid === pid, runNs, waitNs });
      } catch {
        // the thread ended
      }
    }
  }
  return threads;
}

const perSecond = (ns, seconds) => Math.round(ns / 1e6 / seconds);

/**
 * Between two samples, per second: ms on a CPU, ms runnable but waiting, and the same for the
 * main thread and for the busiest other thread (the ingestion's storage thread).
 */
export function runQueueBetween(first, last, seconds) {
  let run = 0;
  let wait = 0;
  const threads = [];
  for (const [tid, t] of last) {
    const before = first.get(tid) ?? { runNs: 0, waitNs: 0 };
    const d = { main: t.main, run: t.runNs - before.runNs, wait: t.waitNs - before.waitNs };
    run += d.run;
    wait += d.wait;
    threads.push(d);
  }
  const main = threads.find((t) => t.main);
  const busiestOther = threads.filter((t) => !t.main).sort((a, b) => b.run - a.run)[0];
  const shape = (t) => (t === undefined ? undefined : { cpuMsPerSec: perSecond(t.run, seconds), waitMsPerSec: perSecond(t.wait, seconds) });
  return { cpuMsPerSec: perSecond(run, seconds), waitMsPerSec: perSecond(wait, seconds), mainThread: shape(main), busiestOtherThread: shape(busiestOther) };
}

/** The machine's CPU time so far, from /proc/stat's `cpu` line (clock ticks over every vCPU). */
export function machineSample() {
  const [, user, nice, system, idle, iowait, irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return { busy: user + nice + system + irq + softirq, idle: idle + iowait, steal };
}

/**
 * Between two samples, as a share of every vCPU's time: busy in this machine, idle, and stolen (a
 * virtual machine's vCPU that wanted to run while the host ran something else). Steal is time a
 * runnable thread here waits however this machine's own processes are prioritized.
 */
export function machineBetween(first, last) {
  const busy = last.busy - first.busy;
  const idle = last.idle - first.idle;
  const steal = last.steal - first.steal;
  const total = busy + idle + steal;
  const pct = (x) => (total > 0 ? Math.round((x / total) * 1000) / 10 : null);
  return { busyPercent: pct(busy), idlePercent: pct(idle), stealPercent: pct(steal) };
}
