/**
 * Commands over a real gRPC stream: a stub of ingestion's side of the contract (it acknowledges
 * every CarStatus and pushes commands only to streams that declared the capability) against the
 * simulator's streams, realistic and load mode.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as grpc from '@grpc/grpc-js';
import { BookingStatus, CommandOutcome, CommandType, FleetServiceService, type BookingResponse, type CarStatus, type VehicleCommand } from '@greenlane/common/gen/fleet/fleet';
import { waitFor } from '@greenlane/common/testing';
import { CarStream, type PendingStatus } from '../src/car-stream.js';
import { createFleetClient, tokenMetadata } from '../src/grpc-client.js';
import { runRealistic } from '../src/realistic/run-realistic.js';
import { runLoad } from '../src/load/run-load.js';
import type { CarriedOut } from '../src/commands/command-log.js';

interface StreamSeen {
  capabilities: string[];
  carId: string;
  statuses: CarStatus[];
  answers: CarStatus[];
}

type Script = (stream: StreamSeen, write: (command: VehicleCommand) => void, status: CarStatus) => void;

/** Acks every CarStatus in order; `script` decides which commands to push after each one. */
async function startStub(script: Script): Promise<{ target: string; streams: StreamSeen[]; close(): void }> {
  const streams: StreamSeen[] = [];
  const server = new grpc.Server();
  server.addService(FleetServiceService, {
    streamTelemetry: (call: grpc.ServerDuplexStream<CarStatus, BookingResponse>) => {
      const seen: StreamSeen = { capabilities: call.metadata.get('x-greenlane-capabilities').map(String), carId: '', statuses: [], answers: [] };
      streams.push(seen);
      const capable = seen.capabilities.some((c) => c.split(',').map((s) => s.trim()).includes('commands'));
      call.on('data', (s: CarStatus) => {
        seen.carId = s.carId;
        seen.statuses.push(s);
        if (s.commandResult) seen.answers.push(s);
        call.write({ bookingId: '', carId: s.carId, stationId: '', status: BookingStatus.BOOKING_UNKNOWN, message: '', timestamp: s.timestamp, priceRate: 0, command: undefined });
        if (capable) {
          script(seen, (command) => call.write({ bookingId: '', carId: command.carId, stationId: '', status: BookingStatus.BOOKING_UNKNOWN, message: '', timestamp: Date.now(), priceRate: 0, command }), s);
        }
      });
      call.on('error', () => {});
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { target: `127.0.0.1:${port}`, streams, close: () => server.forceShutdown() };
}

function command(over: Partial<VehicleCommand>): VehicleCommand {
  return { commandId: 'c-1', carId: 'CAR-001', type: CommandType.EMERGENCY_STOP, issuedAt: Date.now(), expiresAt: Date.now() + 60_000, latitude: 0, longitude: 0, stationId: '', ...over };
}

function status(n: number): CarStatus {
  return { carId: 'CAR-900', latitude: 40.75, longitude: -73.98, batteryLevel: 50, velocity: 10, timestamp: n, stationId: '', charging: false, chargeEnergyKwh: 0, pluggedInAt: 0, bookingRequest: undefined, commandResult: undefined };
}

test('a command on the stream is no acknowledgement: acks still match messages in order', async () => {
  const server = new grpc.Server();
  server.addService(FleetServiceService, {
    streamTelemetry: (call: grpc.ServerDuplexStream<CarStatus, BookingResponse>) => {
      call.on('data', (s: CarStatus) => {
        // A command before every ack, and two before the second.
        const push = (id: string) => call.write({ bookingId: '', carId: s.carId, stationId: '', status: BookingStatus.BOOKING_UNKNOWN, message: '', timestamp: 0, priceRate: 0, command: command({ commandId: id, carId: s.carId }) });
        push(`before-${s.timestamp}`);
        if (s.timestamp === 2) push('extra');
        call.write({ bookingId: '', carId: s.carId, stationId: '', status: BookingStatus.BOOKING_UNKNOWN, message: `ack ${s.timestamp}`, timestamp: s.timestamp, priceRate: 0, command: undefined });
      });
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const client = createFleetClient(`127.0.0.1:${port}`, 0);
  const acked: Array<[number, string]> = [];
  const commands: string[] = [];
  const stream = new CarStream(client, tokenMetadata('t', { commands: true }), {
    onAck: (m: PendingStatus, r) => acked.push([m.status.timestamp, r.message]),
    onCommand: (c) => commands.push(c.commandId),
    onRejected: () => assert.unreachable('not refused'),
  });
  stream.start();
  for (let n = 1; n <= 3; n++) stream.send(status(n), 0);
  await waitFor('three acks', () => acked.length === 3);
  assert.equal(acked, [[1, 'ack 1'], [2, 'ack 2'], [3, 'ack 3']]);
  assert.equal(commands, ['before-1', 'before-2', 'extra', 'before-3']);
  assert.is(stream.inflight, 0);
  await stream.close();
  client.close();
  server.forceShutdown();
});

test('realistic cars declare the capability, obey once, answer every copy the same, and reject what is not theirs', async () => {
  // Each answer makes the stub send the next command: a stop, the same stop again, another car's, a type from a newer server.
  const sequence = [
    command({ commandId: 'stop-1' }),
    command({ commandId: 'stop-1' }),
    command({ commandId: 'other', carId: 'CAR-999', type: CommandType.REROUTE, latitude: 40.75, longitude: -73.98 }),
    command({ commandId: 'newer', type: 77 as CommandType }),
  ];
  let next = 0;
  const stub = await startStub((seen, write, s) => {
    const due = seen.statuses.length === 1 || s.commandResult !== undefined;
    if (due && next < sequence.length) write(sequence[next++]!);
  });
  const carried: CarriedOut[] = [];
  let stop: () => void = () => {};
  const stopSignal = new Promise<void>((resolve) => (stop = resolve));
  const running = runRealistic({
    target: stub.target, token: 't', cars: 1, intervalMs: 100, durationSec: 0, channels: 1, seed: 5, carPrefix: 'CAR-', stations: new Map(),
    onCommandCarriedOut: (c) => carried.push(c), stopSignal,
  });
  try {
    await waitFor('four answers', () => (stub.streams[0]?.answers.length ?? 0) === 4, 10_000);
    // A few more ticks after the stop.
    const ticks = stub.streams[0]!.statuses.length;
    await waitFor('more ticks', () => stub.streams[0]!.statuses.length >= ticks + 3, 10_000);
  } finally {
    stop();
  }
  const summary = await running;
  stub.close();
  const seen = stub.streams[0]!;
  assert.equal(seen.capabilities, ['commands']);
  const answers = seen.answers.map((s) => s.commandResult!);
  assert.equal(answers[0], { commandId: 'stop-1', outcome: CommandOutcome.COMMAND_ACCEPTED, reason: '' });
  assert.equal(answers[1], answers[0]);
  assert.is(answers[2]!.outcome, CommandOutcome.COMMAND_REJECTED);
  assert.match(answers[2]!.reason, /^not for this car/);
  assert.equal([answers[3]!.outcome, answers[3]!.reason], [CommandOutcome.COMMAND_REJECTED, 'unknown command type 77']);
  // From the stop's answer on, the car stands still where it stopped.
  const from = seen.statuses.indexOf(seen.answers[0]!);
  const after = seen.statuses.slice(from);
  assert.ok(after.length >= 6);
  for (const s of after) assert.equal([s.velocity, s.latitude, s.longitude], [0, after[0]!.latitude, after[0]!.longitude]);
  // Every CarStatus of the car is later than the one before (an answer never shares a tick's timestamp).
  for (let i = 1; i < seen.statuses.length; i++) assert.ok(seen.statuses[i]!.timestamp > seen.statuses[i - 1]!.timestamp);
  assert.equal(carried.map((c) => [c.commandId, c.carId, c.type]), [['stop-1', 'CAR-001', 'EMERGENCY_STOP']]);
  assert.equal(summary.commands, { received: 4, executed: 1, duplicates: 1, rejected: 2 });
  assert.is(summary.failed, 0);
  assert.is(summary.acked, summary.sent);
});

test('load mode answers commands only with --commands; each valid one accepted once, every answer acknowledged', async () => {
  // Every car gets one command and then the same one again.
  const stub = await startStub((seen, write, s) => {
    const id = `${s.carId}-cmd`;
    if (seen.statuses.length === 1) write(command({ commandId: id, carId: s.carId }));
    else if (s.commandResult !== undefined && seen.answers.length === 1) write(command({ commandId: id, carId: s.carId }));
  });
  const lines: string[] = [];
  const base = { target: stub.target, token: 't', cars: 3, durationSec: 1, rate: undefined, inflight: 1, channels: 1, threads: 1, seed: 9, intervalMs: 2000, carPrefix: 'LOADCMD-', drainMs: 3000 };
  const withCommands = await runLoad({ ...base, commands: true, commandLog: (chunk) => lines.push(chunk) });
  const capable = stub.streams.splice(0);
  const without = await runLoad({ ...base });
  const plain = stub.streams.splice(0);
  stub.close();

  assert.is(capable.length, 3);
  assert.ok(capable.every((s) => s.capabilities.join() === 'commands'));
  assert.equal(withCommands.commands, { received: 6, executed: 3, duplicates: 3, rejected: 0 });
  assert.ok(capable.every((s) => s.answers.length === 2 && s.answers.every((a) => a.commandResult!.outcome === CommandOutcome.COMMAND_ACCEPTED)));
  assert.is(withCommands.acked, withCommands.sent);
  assert.is(withCommands.failed, 0);
  const logged = lines.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(logged.map((l) => [l.command_id, l.car_id, l.type]).sort(), [
    ['LOADCMD-001-cmd', 'LOADCMD-001', 'EMERGENCY_STOP'],
    ['LOADCMD-002-cmd', 'LOADCMD-002', 'EMERGENCY_STOP'],
    ['LOADCMD-003-cmd', 'LOADCMD-003', 'EMERGENCY_STOP'],
  ]);
  assert.ok(logged.every((l) => typeof l.at === 'number'));

  assert.is(plain.length, 3);
  assert.ok(plain.every((s) => s.capabilities.length === 0 && s.answers.length === 0));
  assert.equal(without.commands, { received: 0, executed: 0, duplicates: 0, rejected: 0 });
  assert.is(without.acked, without.sent);
});

test.run();
