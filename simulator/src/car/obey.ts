/**
 * What a realistic car does with an operator's command that passed the common checks
 * (commands/validate.ts), as a pure function of its state: the new state and the outcome.
 *
 * - EMERGENCY_STOP: 0 km/h at once, and it stays where it is until RESUME (a stay goes on: the car
 *   is not moving anyway). A trip it was on waits and goes on after RESUME.
 * - RESUME: lets go of any hold (an emergency stop, or parked at base).
 * - REROUTE / RETURN_TO_BASE: drives to the point along Manhattan's streets (manhattan/streets.ts),
 *   before anything else: a car plugged in unplugs (the stay ends), a booking trip is given up;
 *   RETURN_TO_BASE parks it at the point. Refused under an emergency stop (RESUME first) and for a
 *   point off the island the car drives on.
 * - START_CHARGING / STOP_CHARGING: resume or pause the stay at the station it is plugged in at;
 *   the meter never goes down within the stay (a pause holds its reading).
 */
import { CommandType, type VehicleCommand } from '@greenlane/common/gen/fleet/fleet';
import type { Execution } from '../commands/handler.js';
import type { Position } from './model.js';
import type { SimCar, Trip } from './behavior.js';
import { insideIsland, shoreDistanceKm } from '../manhattan/streets.js';

/** A point this far off the shoreline is still reachable (a pier, a depot on the water's edge). */
export const REACH_BEYOND_SHORE_KM = 0.5;

export function reachable(p: Position): boolean {
  return insideIsland(p) || shoreDistanceKm(p) <= REACH_BEYOND_SHORE_KM;
}

export function obey(sim: SimCar, command: VehicleCommand, now: number): { sim: SimCar; execution: Execution } {
  switch (command.type) {
    case CommandType.EMERGENCY_STOP: {
      const note = sim.hold === 'emergency-stop' ? 'already stopped' : '';
      return { sim: { ...sim, hold: 'emergency-stop', car: { ...sim.car, velocity: 0 } }, execution: { accepted: true, note } };
    }
    case CommandType.RESUME: {
      if (sim.hold === undefined) return { sim, execution: { accepted: true, note: 'not stopped' } };
      const { hold: _hold, ...free } = sim;
      return { sim: free, execution: { accepted: true } };
    }
    case CommandType.RETURN_TO_BASE:
    case CommandType.REROUTE:
      return sendOnTrip(sim, { kind: command.type === CommandType.REROUTE ? 'reroute' : 'return-to-base', target: { lat: command.latitude, lon: command.longitude } }, now);
    case CommandType.START_CHARGING:
    case CommandType.STOP_CHARGING: {
      // The common checks made sure the car is plugged in at the command's station.
      const phase = sim.phase;
      if (phase.kind !== 'charging') return { sim, execution: { accepted: false, reason: 'not plugged in' } };
      if (command.type === CommandType.STOP_CHARGING) {
        if (phase.pausedAt !== undefined) return { sim, execution: { accepted: true, note: 'already stopped' } };
        return { sim: { ...sim, phase: { ...phase, pausedAt: now } }, execution: { accepted: true } };
      }
      if (phase.pausedAt === undefined) return { sim, execution: { accepted: true, note: 'already charging' } };
      const { pausedAt: _paused, ...charging } = phase;
      return { sim: { ...sim, phase: charging }, execution: { accepted: true } };
    }
    default:
      return { sim, execution: { accepted: false, reason: `unknown command type ${command.type}` } };
  }
}

function sendOnTrip(sim: SimCar, trip: Trip, now: number): { sim: SimCar; execution: Execution } {
  if (sim.hold === 'emergency-stop') return { sim, execution: { accepted: false, reason: 'emergency-stopped: send RESUME first' } };
  if (!reachable(trip.target)) {
    return { sim, execution: { accepted: false, reason: `(${trip.target.lat}, ${trip.target.lon}) is off Manhattan, where this car drives` } };
  }
  const notes: string[] = [];
  if (sim.phase.kind === 'charging') notes.push(`unplugged from ${sim.phase.stationId}`);
  if (sim.phase.kind === 'to-station') notes.push(`gave up the trip to ${sim.phase.stationId}`);
  const { hold: _hold, ...free } = sim;
  const stays = sim.phase.kind === 'charging' ? sim.stays + 1 : sim.stays;
  // No booking on the way; once there, a car low on battery asks at once.
  return { sim: { ...free, stays, trip, phase: { kind: 'driving', nextBookingAt: now } }, execution: { accepted: true, note: notes.join('; ') } };
}
