// What the ingestion benches share: compiled programs as child processes, their CPU, their metrics.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The Node flags a package's `npm start` runs its program with (`node --flag dist/src/main.js`), so
 * that a bench measures the program as it runs in production: ingestion sizes its young generation.
 */
export function startFlags(packageDir) {
  const start = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')).scripts?.start ?? '';
  return start.split(/\s+/).filter((word) => word.startsWith('--'));
}

/** A compiled program as a child process; its last 20 kB of output kept for error messages. */
export function startChild(name, script, args, childEnv, baseEnv = process.env, nodeFlags = []) {
  const child = spawn(process.execPath, [...nodeFlags, script, ...args], { env: { ...baseEnv, ...childEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { name, child, exited, output: () => output };
}

/** SIGTERM, and SIGKILL after 20 s. */
export async function stopChild(proc) {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return proc.exited;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 20_000);
  const result = await proc.exited;
  clearTimeout(timer);
  return result;
}

/** The fields of /proc/PID/stat after the command's name (so `fields[11]` is utime). */
function statFields(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat. */
export function cpuSeconds(pid) {
  const fields = statFields(pid);
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * CPU seconds used by this process's children that have exited and been waited for (cutime +
 * cstime): a load generator's whole CPU, once its run is over.
 */
export function exitedChildrenCpuSeconds() {
  const fields = statFields('self');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** The pid of a server `make up` started (infra/infra.sh keeps it in .cache/run/NAME.pid), if it is running. */
export function infraPid(name, root = new URL('../..', import.meta.url).pathname) {
  try {
    const pid = Number(readFileSync(join(process.env.GREENLANE_CACHE ?? join(root, '.cache'), 'run', `${name}.pid`), 'utf8'));
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** One unlabelled value of a Prometheus /metrics page. */
export async function metric(http, name) {
  const text = await (await fetch(`${http}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}
