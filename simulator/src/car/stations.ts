import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Position } from './model.js';

/** The station registry the ingestion's booking desk serves (ingestion/data/stations.json). */
export const DEFAULT_STATIONS_FILE = fileURLToPath(new URL('../../../../ingestion/data/stations.json', import.meta.url));

/**
 * Station positions by id, from a JSON array of {id, lat, lon, ...} (or {stations: [...]}).
 * Without a registry the map is empty and cars reach a booked station after the trip's updates.
 */
export function parseStations(json: string): Map<string, Position> {
  const parsed = JSON.parse(json) as unknown;
  const list = Array.isArray(parsed) ? parsed : (parsed as { stations?: unknown }).stations;
  if (!Array.isArray(list)) throw new Error('expected a JSON array of stations');
  const stations = new Map<string, Position>();
  for (const item of list as Array<Record<string, unknown>>) {
    const id = item.id ?? item.station_id;
    const lat = Number(item.lat ?? item.latitude);
    const lon = Number(item.lon ?? item.longitude);
    if (typeof id === 'string' && Number.isFinite(lat) && Number.isFinite(lon)) stations.set(id, { lat, lon });
  }
  return stations;
}

export function loadStations(file: string | undefined): { stations: Map<string, Position>; source: string | undefined } {
  const path = file ?? (existsSync(DEFAULT_STATIONS_FILE) ? DEFAULT_STATIONS_FILE : undefined);
  if (path === undefined) return { stations: new Map(), source: undefined };
  return { stations: parseStations(readFileSync(path, 'utf8')), source: path };
}
