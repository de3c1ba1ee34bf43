/**
 * The interceptor on a real grpc-js server (localhost, no other servers): calls without a valid
 * token end UNAUTHENTICATED and the handler never runs, for a streaming and a unary method.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Metadata,
  Server,
  ServerCredentials,
  credentials,
  makeGenericClientConstructor,
  status as GrpcStatus,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { authInterceptor, tokenAuthenticator, tokenChecker } from '../src/auth.js';

const identity = (b: Buffer) => b;
const service: ServiceDefinition = {
  ping: {
    path: '/test.Probe/Ping',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  chat: {
    path: '/test.Probe/Chat',
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

const calls = { ping: 0, chat: 0 };
const refused: string[] = [];
let server: Server;
let address = '';
const Probe = makeGenericClientConstructor(service, 'Probe');

function metadata(token?: string | string[]): Metadata {
  const m = new Metadata();
  for (const t of [token ?? []].flat()) m.add('x-api-token', t);
  return m;
}

type ProbeClient = InstanceType<typeof Probe> & {
  ping(req: Buffer, md: Metadata, cb: (e: { code: number } | null, r?: Buffer) => void): void;
  chat(md: Metadata): NodeJS.ReadWriteStream & { write(b: Buffer): boolean; end(): void };
};

function unary(token?: string | string[]): Promise<{ code: number; body?: string }> {
  const c = new Probe(address, credentials.createInsecure()) as ProbeClient;
  return new Promise((resolve) =>
    c.ping(Buffer.from('hi'), metadata(token), (error, reply) => {
      c.close();
      resolve(error ? { code: error.code } : { code: 0, body: reply!.toString() });
    }),
  );
}

function streaming(token?: string | string[]): Promise<{ code: number; replies: string[] }> {
  const c = new Probe(address, credentials.createInsecure()) as ProbeClient;
  const call = c.chat(metadata(token));
  const replies: string[] = [];
  return new Promise((resolve) => {
    call.on('data', (b: Buffer) => replies.push(b.toString()));
    call.on('error', (e: { code: number }) => {
      c.close();
      resolve({ code: e.code, replies });
    });
    call.on('end', () => {
      c.close();
      resolve({ code: 0, replies });
    });
    call.write(Buffer.from('one'));
    call.end();
  });
}

test.before(async () => {
  server = new Server({
    interceptors: [authInterceptor(tokenAuthenticator(['alpha-token', 'beta-token']), (method, reason) => refused.push(`${method}:${reason}`))],
  });
  server.addService(service, {
    ping: (call: { request: Buffer }, callback: (e: null, r: Buffer) => void) => {
      calls.ping++;
      callback(null, Buffer.from(`pong ${call.request.toString()}`));
    },
    chat: (call: NodeJS.ReadWriteStream) => {
      calls.chat++;
      call.on('data', (b: Buffer) => call.write(Buffer.from(`echo ${b.toString()}`)));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  address = `127.0.0.1:${port}`;
});

test.after(() => {
  server.forceShutdown();
});

test('unary: missing, wrong, empty or doubled token → UNAUTHENTICATED, handler never runs', async () => {
  for (const token of [undefined, 'wrong', '', 'alpha-tokenX', ['alpha-token', 'beta-token']]) {
    const result = await unary(token);
    assert.is(result.code, GrpcStatus.UNAUTHENTICATED, `token ${JSON.stringify(token)}`);
  }
  assert.is(calls.ping, 0);
  assert.ok(refused.includes('/test.Probe/Ping:missing'));
  assert.ok(refused.includes('/test.Probe/Ping:wrong'));
});

test('streaming: missing or wrong token → UNAUTHENTICATED, handler never runs', async () => {
  for (const token of [undefined, 'wrong', 'beta']) {
    const result = await streaming(token);
    assert.is(result.code, GrpcStatus.UNAUTHENTICATED);
    assert.equal(result.replies, []);
  }
  assert.is(calls.chat, 0);
});

test('every configured token is accepted, for both kinds of call', async () => {
  assert.equal(await unary('alpha-token'), { code: 0, body: 'pong hi' });
  assert.equal(await unary('beta-token'), { code: 0, body: 'pong hi' });
  assert.equal(await streaming('beta-token'), { code: 0, replies: ['echo one'] });
  assert.is(calls.ping, 2);
  assert.is(calls.chat, 1);
});

test('tokenChecker with no tokens accepts nothing', () => {
  const check = tokenChecker([]);
  assert.is(check(''), false);
  assert.is(check('anything'), false);
});

test.run();
