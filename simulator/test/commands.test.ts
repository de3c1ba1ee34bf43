import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CommandOutcome, CommandType } from '@greenlane/common/gen/fleet/fleet';
import { checkCommand, commandTypeName, knownType, validCoordinates } from '../src/commands/validate.js';
import { AnsweredCommands } from '../src/commands/executed.js';
import { CarCommands, addCommandCounts, emptyCommandCounts, type Execution } from '../src/commands/handler.js';
import { commandLogLine } from '../src/commands/command-log.js';
import { NOW, command } from './command-fixtures.js';

const CAR = { carId: 'CAR-042', pluggedInAt: undefined };
const PLUGGED = { carId: 'CAR-042', pluggedInAt: 'ST-017' };

const validate = suite('command checks');

validate('a valid command for this car passes', () => {
  assert.is(checkCommand(command(), CAR, NOW), undefined);
  assert.is(checkCommand(command({ type: CommandType.RESUME }), CAR, NOW), undefined);
  assert.is(checkCommand(command({ type: CommandType.REROUTE, latitude: 40.75, longitude: -73.98 }), CAR, NOW), undefined);
  assert.is(checkCommand(command({ type: CommandType.START_CHARGING, stationId: 'ST-017' }), PLUGGED, NOW), undefined);
});

validate('another car\'s command is not for this car', () => {
  assert.match(checkCommand(command({ carId: 'CAR-043' }), CAR, NOW)!, /^not for this car/);
  assert.match(checkCommand(command({ carId: '' }), CAR, NOW)!, /^not for this car/);
});

validate('past expires_at it is expired; at expires_at it is not yet', () => {
  assert.match(checkCommand(command({ expiresAt: NOW - 1 }), CAR, NOW)!, /^expired/);
  assert.is(checkCommand(command({ expiresAt: NOW }), CAR, NOW), undefined);
  assert.match(checkCommand(command({ expiresAt: 0 }), CAR, NOW)!, /^expired/);
});

validate('unknown types, COMMAND_TYPE_UNKNOWN or a number from a newer server, are named', () => {
  assert.is(checkCommand(command({ type: CommandType.COMMAND_TYPE_UNKNOWN }), CAR, NOW), 'unknown command type 0');
  assert.is(checkCommand(command({ type: 42 as CommandType }), CAR, NOW), 'unknown command type 42');
  assert.is(knownType(6), true);
  assert.is(knownType(7), false);
  assert.is(commandTypeName(CommandType.RETURN_TO_BASE), 'RETURN_TO_BASE');
  assert.is(commandTypeName(42), 'UNKNOWN_42');
});

validate('REROUTE and RETURN_TO_BASE need coordinates within ±85 / ±180, not both 0', () => {
  for (const type of [CommandType.REROUTE, CommandType.RETURN_TO_BASE]) {
    assert.match(checkCommand(command({ type }), CAR, NOW)!, /^invalid coordinates \(0, 0\)/);
    assert.match(checkCommand(command({ type, latitude: 85.1, longitude: 10 }), CAR, NOW)!, /^invalid coordinates/);
    assert.match(checkCommand(command({ type, latitude: 40, longitude: -180.5 }), CAR, NOW)!, /^invalid coordinates/);
    assert.match(checkCommand(command({ type, latitude: Number.NaN, longitude: 1 }), CAR, NOW)!, /^invalid coordinates/);
  }
  assert.is(validCoordinates(-85, 180), true);
  assert.is(validCoordinates(0, 1), true);
  assert.is(validCoordinates(0, 0), false);
});

validate('START_CHARGING and STOP_CHARGING only where the car is plugged in', () => {
  for (const type of [CommandType.START_CHARGING, CommandType.STOP_CHARGING]) {
    assert.match(checkCommand(command({ type, stationId: 'ST-017' }), CAR, NOW)!, /^not plugged in/);
    assert.is(checkCommand(command({ type, stationId: 'ST-001' }), PLUGGED, NOW), 'not plugged in at ST-001 (plugged in at ST-017)');
    assert.is(checkCommand(command({ type, stationId: '' }), PLUGGED, NOW), 'station_id missing');
  }
});

validate('the car checks its own id before the rest: another car\'s expired command is "not for this car"', () => {
  assert.match(checkCommand(command({ carId: 'CAR-001', expiresAt: NOW - 5, type: 99 as CommandType }), CAR, NOW)!, /^not for this car/);
});

const desk = suite('command desk');

desk('a command is carried out once; every repeat gets the same answer and is counted as a duplicate', () => {
  const counts = emptyCommandCounts();
  const commands = new CarCommands(counts);
  let executions = 0;
  const execute = (): Execution => {
    executions += 1;
    return { accepted: true, note: 'stopped' };
  };
  const first = commands.receive(command(), CAR, NOW, execute);
  const again = commands.receive(command(), CAR, NOW + 5_000, execute);
  // Even past its expiry, a repeat is answered as the first copy was.
  const late = commands.receive(command(), CAR, NOW + 60_000, execute);
  assert.is(executions, 1);
  assert.equal(first.result, { commandId: 'cmd-1', outcome: CommandOutcome.COMMAND_ACCEPTED, reason: 'stopped' });
  assert.equal(again.result, first.result);
  assert.equal(late.result, first.result);
  assert.equal([first.carriedOut, again.carriedOut, late.carriedOut], [true, false, false]);
  assert.equal([first.duplicate, again.duplicate], [false, true]);
  assert.equal(counts, { received: 3, executed: 1, duplicates: 2, rejected: 0 });
});

desk('a rejected command is never executed, and its repeats are rejected the same way', () => {
  const counts = emptyCommandCounts();
  const commands = new CarCommands(counts);
  const execute = (): Execution => assert.unreachable('not executed') as never;
  const first = commands.receive(command({ carId: 'CAR-001' }), CAR, NOW, execute);
  const again = commands.receive(command({ carId: 'CAR-001' }), CAR, NOW, execute);
  assert.is(first.result.outcome, CommandOutcome.COMMAND_REJECTED);
  assert.match(first.result.reason, /^not for this car/);
  assert.equal(again.result, first.result);
  assert.equal(counts, { received: 2, executed: 0, duplicates: 1, rejected: 1 });
});

desk('the mode may refuse a valid command; the refusal is the answer', () => {
  const counts = emptyCommandCounts();
  const commands = new CarCommands(counts);
  const decision = commands.receive(command({ commandId: 'c2' }), CAR, NOW, () => ({ accepted: false, reason: 'emergency-stopped: send RESUME first' }));
  assert.equal(decision.result, { commandId: 'c2', outcome: CommandOutcome.COMMAND_REJECTED, reason: 'emergency-stopped: send RESUME first' });
  assert.is(decision.carriedOut, false);
  assert.equal(counts, { received: 1, executed: 0, duplicates: 0, rejected: 1 });
});

desk('different ids are different commands', () => {
  const counts = emptyCommandCounts();
  const commands = new CarCommands(counts);
  let executions = 0;
  for (const id of ['a', 'b', 'c', 'a']) commands.receive(command({ commandId: id }), CAR, NOW, () => ((executions += 1), { accepted: true }));
  assert.is(executions, 3);
  assert.equal(counts, { received: 4, executed: 3, duplicates: 1, rejected: 0 });
});

desk('the set of answered ids is bounded: the oldest are forgotten first', () => {
  const answered = new AnsweredCommands(3);
  for (const id of ['a', 'b', 'c', 'd']) answered.remember({ commandId: id, outcome: CommandOutcome.COMMAND_ACCEPTED, reason: '' });
  assert.is(answered.size, 3);
  assert.is(answered.get('a'), undefined);
  assert.ok(answered.get('b') && answered.get('d'));
  // Remembering an id again does not replace its first answer.
  answered.remember({ commandId: 'b', outcome: CommandOutcome.COMMAND_REJECTED, reason: 'x' });
  assert.is(answered.get('b')!.outcome, CommandOutcome.COMMAND_ACCEPTED);

  const counts = emptyCommandCounts();
  const commands = new CarCommands(counts, 1_000);
  for (let i = 0; i < 1_500; i++) commands.receive(command({ commandId: `id-${i}` }), CAR, NOW, () => ({ accepted: true }));
  // Within the last thousand a repeat is recognised.
  assert.is(commands.receive(command({ commandId: 'id-1499' }), CAR, NOW, () => assert.unreachable() as never).duplicate, true);
  assert.is(commands.receive(command({ commandId: 'id-500' }), CAR, NOW, () => assert.unreachable() as never).duplicate, true);
});

desk('counts add up across cars and workers', () => {
  assert.equal(addCommandCounts({ received: 3, executed: 1, duplicates: 1, rejected: 1 }, { received: 2, executed: 2, duplicates: 0, rejected: 0 }), {
    received: 5,
    executed: 3,
    duplicates: 1,
    rejected: 1,
  });
});

desk('a command-log line is one JSON object with the four fields', () => {
  const line = commandLogLine({ commandId: 'cmd-1', carId: 'CAR-042', type: 'EMERGENCY_STOP', at: NOW });
  assert.ok(line.endsWith('\n'));
  assert.equal(JSON.parse(line), { command_id: 'cmd-1', car_id: 'CAR-042', type: 'EMERGENCY_STOP', at: NOW });
});

validate.run();
desk.run();
