#!/usr/bin/env node
// Who holds a TCP port, and whether what answers there speaks the protocol we expect, so the demo
// and infra/infra.sh can say "port 50051 is taken by nginx (pid 812: nginx -g daemon off;)" instead
// of starting into a console of nothing. No dependencies: /proc and node:net only.
//
//   node infra/ports.mjs holder PORT           prints who listens on PORT ("" and exit 1 when free)
//   node infra/ports.mjs probe KIND PORT       exit 0 when 127.0.0.1:PORT answers as KIND within 3 s:
//                                              redis (PING), kafka (ApiVersions), postgres (SSLRequest), http
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';

/** Socket inodes listening on `port` (IPv4 and IPv6), from /proc/net/tcp{,6}; state 0A = LISTEN. */
function listeningInodes(port) {
  const inodes = new Set();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue;
      if (parseInt(f[1].split(':')[1], 16) === port) inodes.add(f[9]);
    }
  }
  return inodes;
}

/** "name (pid N: command line)" of the process holding the port, or undefined when nothing listens. */
export function holder(port) {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return undefined;
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let fds;
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or another user's
    }
    for (const fd of fds) {
      let target;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (!m || !inodes.has(m[1])) continue;
      let name = '?';
      let cmd = '';
      try {
        name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      } catch {
        // exited meanwhile
      }
      if (cmd.length > 120) cmd = `${cmd.slice(0, 117)}...`;
      return `${name} (pid ${pid}: ${cmd})`;
    }
  }
  return 'a program of another user (run as root, or `sudo ss -ltnp`, to see which)';
}

/** Sends `request` to 127.0.0.1:port and resolves true when `accept(bytes so far)` says so within 3 s. */
function exchange(port, request, accept) {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 3000);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk) => {
      got = Buffer.concat([got, chunk]);
      const verdict = accept(got);
      if (verdict !== undefined) done(verdict);
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

const PROBES = {
  redis: (port) => exchange(port, '*1\r\n$4\r\nPING\r\n', (b) => (b.length >= 7 ? b.toString('latin1').startsWith('+PONG') : undefined)),
  // ApiVersions v0 with correlation id 0x47524c4e; a broker answers with the same id after the length.
  kafka: (port) => {
    const client = Buffer.from('greenlane-probe');
    const body = Buffer.alloc(10 + client.length);
    body.writeInt16BE(18, 0);
    body.writeInt16BE(0, 2);
    body.writeInt32BE(0x47524c4e, 4);
    body.writeInt16BE(client.length, 8);
    client.copy(body, 10);
    const size = Buffer.alloc(4);
    size.writeInt32BE(body.length);
    return exchange(port, Buffer.concat([size, body]), (b) => (b.length >= 8 ? b.readInt32BE(4) === 0x47524c4e : undefined));
  },
  // SSLRequest: PostgreSQL answers one byte, S or N; the embedded server answers with its
  // authentication request (R) or an error (E), a message type and a 32-bit length.
  postgres: (port) => {
    const request = Buffer.alloc(8);
    request.writeInt32BE(8, 0);
    request.writeInt32BE(80877103, 4);
    return exchange(port, request, (b) => {
      if (b[0] === 0x53 || b[0] === 0x4e) return b.length === 1;
      if (b[0] === 0x52 || b[0] === 0x45) return b.length >= 5 ? b.readInt32BE(1) >= 4 && b.readInt32BE(1) < 1 << 20 : undefined;
      return false;
    });
  },
  http: (port) => exchange(port, 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n', (b) => (b.length >= 5 ? b.toString('latin1').startsWith('HTTP/') : undefined)),
};

const isMain = process.argv[1] && new URL(import.meta.url).pathname === process.argv[1];
if (isMain) {
  const [command, a, b] = process.argv.slice(2);
  if (command === 'holder' && /^\d+$/.test(a ?? '')) {
    const who = holder(Number(a));
    if (who === undefined) process.exit(1);
    process.stdout.write(`${who}\n`);
  } else if (command === 'probe' && PROBES[a] && /^\d+$/.test(b ?? '')) {
    process.exit((await PROBES[a](Number(b))) ? 0 : 1);
  } else {
    process.stderr.write('usage: ports.mjs holder PORT | ports.mjs probe redis|kafka|postgres|http PORT\n');
    process.exit(2);
  }
}
