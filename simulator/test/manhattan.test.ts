/**
 * Cars drive on Manhattan (manhattan/streets.ts): inside the island's shoreline, along its street
 * grid, and to stations that are themselves on land.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRandom } from '../src/car/prng.js';
import { loadStations } from '../src/car/stations.js';
import { defaultBehavior, newSimCar, update } from '../src/car/behavior.js';
import { AVENUE_KM, STREET_KM, drive, driveToward, insideIsland, locate, newCar, nodePosition, routeTo, shoreDistanceKm, streetGrid } from '../src/manhattan/streets.js';
import { MANHATTAN_OUTLINE } from '../src/manhattan/outline.js';

test('the outline is Manhattan alone: Times Square and Harlem inside; New Jersey, the Bronx, Queens and the rivers outside', () => {
  assert.ok(MANHATTAN_OUTLINE.length > 20);
  const inside = { 'Times Square': [40.758, -73.9855], Harlem: [40.8116, -73.9465], Inwood: [40.867, -73.921], 'Wall Street': [40.7065, -74.009] };
  const outside = { Hoboken: [40.744, -74.032], 'the Bronx': [40.845, -73.915], 'Long Island City': [40.745, -73.948], Hudson: [40.77, -74.005], 'East River': [40.735, -73.968] };
  for (const [name, [lat, lon]] of Object.entries(inside)) assert.ok(insideIsland({ lat: lat!, lon: lon! }), name);
  for (const [name, [lat, lon]] of Object.entries(outside)) assert.not.ok(insideIsland({ lat: lat!, lon: lon! }), name);
});

test('the street network covers the island from the Battery to Inwood', () => {
  const grid = streetGrid();
  assert.ok(grid.nodes.length > 800, `${grid.nodes.length} intersections`);
  assert.ok(grid.edges.length > 1500, `${grid.edges.length} roads`);
  const lats = grid.nodes.map((k) => nodePosition(k).lat);
  assert.ok(Math.min(...lats) < 40.712, `southernmost intersection at ${Math.min(...lats)}`);
  assert.ok(Math.max(...lats) > 40.86, `northernmost intersection at ${Math.max(...lats)}`);
  for (const k of grid.nodes) assert.ok(insideIsland(nodePosition(k)));
});

test('200 cars over 300 updates each never leave the island, and drive along the grid', () => {
  const random = createRandom(7);
  let positions = 0;
  for (let c = 0; c < 200; c++) {
    let car = newCar(`CAR-${c}`, random, 100);
    for (let i = 0; i < 300; i++) {
      const before = car;
      car = drive({ ...car, battery: 100 }, random, 2000);
      positions += 1;
      assert.ok(insideIsland(car), `${car.carId} at ${car.lat},${car.lon} after update ${i}`);
      // On a road of the grid: a located position lies on a block face of the right length.
      const at = locate(car);
      assert.ok(at.lengthKm === STREET_KM || at.lengthKm === AVENUE_KM || at.lengthKm === 0, `${car.carId} off the grid`);
      // At most 60 km/h for 2 s: about 33 m, never a jump.
      const km = Math.hypot((car.lat - before.lat) * 111.32, (car.lon - before.lon) * 111.32 * Math.cos((40.78 * Math.PI) / 180));
      assert.ok(km <= 0.034, `${car.carId} jumped ${km} km`);
    }
  }
  assert.is(positions, 60_000);
});

test('every station of the shipped registry is on land, and a car reaches each along the roads', () => {
  const { stations } = loadStations(undefined);
  assert.ok(stations.size >= 50);
  const random = createRandom(11);
  for (const [id, station] of stations) {
    assert.ok(insideIsland(station), `${id} is in the water`);
    assert.ok(shoreDistanceKm(station) > 0.05, `${id} is on the shore`);
    const route = routeTo(newCar('CAR-X', random), station);
    for (const p of route) assert.ok(insideIsland(p), `${id}: the way passes ${p.lat},${p.lon}`);
    let car = newCar('CAR-Y', random, 60);
    for (let i = 0; i < 5; i++) {
      car = driveToward(car, station, random, 2000, 0.5);
      assert.ok(insideIsland(car), `${id}: on the way at ${car.lat},${car.lon}`);
    }
    car = driveToward(car, station, random, 2000, Infinity);
    assert.equal([car.lat, car.lon, car.velocity], [station.lat, station.lon, 0]);
  }
});

test('realistic cars start and drive on the island', () => {
  const config = defaultBehavior(2000, loadStations(undefined).stations);
  const random = createRandom(3);
  for (let c = 0; c < 100; c++) {
    let sim = newSimCar(`CAR-${c}`, random);
    for (let i = 0; i < 50; i++) {
      const next = update(sim, 1_700_000_000_000 + i * 2000, random, config);
      sim = next.sim;
      assert.ok(insideIsland({ lat: next.status.latitude, lon: next.status.longitude }), `${sim.car.carId} update ${i}`);
    }
  }
});

test.run();
