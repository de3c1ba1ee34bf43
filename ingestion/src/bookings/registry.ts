/**
 * The station registry: a JSON file shipped with the project (ingestion/data/stations.json by
 * default), validated before anything touches Redis, so a typo stops the start with a message
 * naming the file and the entry.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export interface Station {
  id: string;
  name: string;
  lat: number;
  lon: number;
  /** Number of charging slots (chargers) at the station. */
  slots: number;
}

/** The Manhattan box of CONTRACTS.md; stations outside it are a data error. */
export const SERVICE_AREA = { minLat: 40.7, maxLat: 40.85, minLon: -74.02, maxLon: -73.93 } as const;

/** Compiled to dist/src/bookings/registry.js; the data file stays in ingestion/data/. */
export const DEFAULT_STATIONS_FILE = fileURLToPath(new URL('../../../data/stations.json', import.meta.url));

export class RegistryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegistryError';
  }
}

const ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** Checks shape, ids, positions and slot counts; returns the stations or throws naming each problem. */
export function validateRegistry(data: unknown, source = 'station registry'): Station[] {
  if (!Array.isArray(data) || data.length === 0) {
    throw new RegistryError(`${source}: expected a non-empty JSON array of stations`);
  }
  const problems: string[] = [];
  const seen = new Set<string>();
  const stations: Station[] = [];
  data.forEach((entry: unknown, index) => {
    const where = `entry ${index}`;
    if (typeof entry !== 'object' || entry === null) {
      problems.push(`${where}: not an object`);
      return;
    }
    const s = entry as Record<string, unknown>;
    const id = typeof s.id === 'string' ? s.id : '';
    const label = id ? `${where} (${id})` : where;
    if (!ID.test(id)) problems.push(`${label}: id must be 1-64 letters, digits, '_', '.', '-'`);
    else if (seen.has(id)) problems.push(`${label}: duplicate id`);
    seen.add(id);
    if (typeof s.name !== 'string' || s.name.trim() === '') problems.push(`${label}: name is missing`);
    const { lat, lon, slots } = s;
    if (typeof lat !== 'number' || lat < SERVICE_AREA.minLat || lat > SERVICE_AREA.maxLat) {
      problems.push(`${label}: lat must be a number from ${SERVICE_AREA.minLat} to ${SERVICE_AREA.maxLat}`);
    }
    if (typeof lon !== 'number' || lon < SERVICE_AREA.minLon || lon > SERVICE_AREA.maxLon) {
      problems.push(`${label}: lon must be a number from ${SERVICE_AREA.minLon} to ${SERVICE_AREA.maxLon}`);
    }
    if (typeof slots !== 'number' || !Number.isInteger(slots) || slots < 1 || slots > 1000) {
      problems.push(`${label}: slots must be an integer from 1 to 1000`);
    }
    stations.push({ id, name: String(s.name ?? '').trim(), lat: Number(lat), lon: Number(lon), slots: Number(slots) });
  });
  if (problems.length > 0) {
    throw new RegistryError(`${source}: ${problems.length} problem(s): ${problems.slice(0, 10).join('; ')}`);
  }
  return stations;
}

export async function readRegistry(file: string): Promise<Station[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new RegistryError(`cannot read station registry ${file}: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new RegistryError(`station registry ${file} is not valid JSON: ${(error as Error).message}`);
  }
  return validateRegistry(data, file);
}

/** Great-circle distance in km (the same model as Redis GEO, within its precision). */
export function distanceKm(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const R = 6372.797560856; // Redis' earth radius, so our figures match GEOSEARCH's.
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
}
