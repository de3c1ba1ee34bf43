/**
 * A bare gRPC bidi echo and an ops /ready page, for proving the balancer (infra/cluster.sh's
 * HAProxy) without the ingestions: what passes through it is HTTP/2 and gRPC as such. Each backend
 * answers every message with "<name>:<message>"; the message "fail" ends the call with
 * FAILED_PRECONDITION and trailing metadata, "end" with OK and trailing metadata, so a client sees
 * whether trailers cross the balancer. Used by scripts/test/cluster.int.test.mjs.
 */
import * as grpc from '@grpc/grpc-js';
import { createServer } from 'node:http';

const identity = (b) => b;
export const ECHO_SERVICE = {
  stream: {
    path: '/greenlane.test.Echo/Stream',
    requestStream: true,
    responseStream: true,
    requestSerialize: (s) => Buffer.from(s),
    requestDeserialize: identity,
    responseSerialize: (s) => Buffer.from(s),
    responseDeserialize: (b) => b.toString(),
  },
};

/** A gRPC echo on grpcPort and its /ready on opsPort (200 while ready, 503 otherwise). */
export async function startEchoBackend({ name, grpcPort, opsPort }) {
  let ready = true;
  let streams = 0;
  const server = new grpc.Server();
  server.addService(ECHO_SERVICE, {
    stream(call) {
      streams += 1;
      call.on('data', (data) => {
        const text = data.toString();
        const trailer = new grpc.Metadata();
        trailer.set('x-echo-backend', name);
        if (text === 'fail') call.emit('error', { code: grpc.status.FAILED_PRECONDITION, details: `told to fail by ${name}`, metadata: trailer });
        else if (text === 'end') call.end(trailer);
        else call.write(`${name}:${text}`);
      });
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
  });
  await new Promise((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${grpcPort}`, grpc.ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())),
  );
  const ops = createServer((req, res) => {
    const ok = req.url === '/ready' ? ready : req.url === '/health';
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ready, name }));
  });
  await new Promise((resolve) => ops.listen(opsPort, '127.0.0.1', resolve));
  return {
    name,
    streams: () => streams,
    setReady(value) {
      ready = value;
    },
    close() {
      server.forceShutdown();
      return new Promise((resolve) => ops.close(() => resolve()));
    },
  };
}

export function echoClient(target) {
  const Client = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
  // Its own connection per client (grpc-js otherwise shares one between equal clients).
  return new Client(target, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
}

/**
 * One call: sends each message, waits for its echo, then `last` ("end", "fail" or none: half-close).
 * Resolves with the echoes, the status code, details and trailing metadata.
 */
export function converse(client, messages, last) {
  return new Promise((resolve) => {
    const echoes = [];
    const call = client.stream();
    let next = 0;
    const send = () => {
      if (next < messages.length) call.write(messages[next++]);
      else if (last) call.write(last);
      else call.end();
    };
    call.on('data', (echo) => {
      echoes.push(echo);
      send();
    });
    call.on('status', (status) => resolve({ echoes, code: status.code, details: status.details, trailer: status.metadata.get('x-echo-backend')[0] }));
    call.on('error', () => {});
    send();
  });
}
