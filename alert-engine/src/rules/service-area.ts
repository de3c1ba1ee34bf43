/**
 * outside_service_area: the position is outside the service area's polygon(s) by more than
 * ALERT_SERVICE_AREA_MARGIN_M (150 m: GPS noise, roads along the shore). The area is the
 * simulator's Manhattan outline (data/manhattan.geojson, copied from simulator/src/manhattan/outline.ts)
 * unless ALERT_SERVICE_AREA_FILE names a GeoJSON Polygon, MultiPolygon, Feature or
 * FeatureCollection of them (holes are honoured). Cleared by the first position back inside.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '@greenlane/common';
import type { RuleThresholds } from '../config.js';
import type { Telemetry, Verdict } from '../types.js';

type Ring = Array<[number, number]>;
/** Outer ring first, then holes. */
type Polygon = Ring[];

export interface ServiceArea {
  name: string;
  polygons: Polygon[];
  bbox: [minLon: number, minLat: number, maxLon: number, maxLat: number];
}

export const DEFAULT_AREA_FILE = new URL('../../../data/manhattan.geojson', import.meta.url);

function ring(value: unknown, where: string): Ring {
  if (!Array.isArray(value) || value.length < 4) throw new Error(`${where}: a ring needs at least 4 positions`);
  return value.map((p, i) => {
    if (!Array.isArray(p) || typeof p[0] !== 'number' || typeof p[1] !== 'number' || !Number.isFinite(p[0]) || !Number.isFinite(p[1]) || Math.abs(p[0]) > 180 || Math.abs(p[1]) > 90) {
      throw new Error(`${where}: position ${i} is not [lon, lat]`);
    }
    return [p[0], p[1]] as [number, number];
  });
}

function polygonsOf(geo: unknown, where: string): Polygon[] {
  if (geo === null || typeof geo !== 'object') throw new Error(`${where}: not a GeoJSON object`);
  const g = geo as { type?: unknown; coordinates?: unknown; geometry?: unknown; features?: unknown };
  switch (g.type) {
    case 'FeatureCollection':
      if (!Array.isArray(g.features)) throw new Error(`${where}: FeatureCollection without features`);
      return g.features.flatMap((f, i) => polygonsOf(f, `${where}.features[${i}]`));
    case 'Feature':
      return polygonsOf(g.geometry, `${where}.geometry`);
    case 'Polygon':
      if (!Array.isArray(g.coordinates) || g.coordinates.length === 0) throw new Error(`${where}: Polygon without rings`);
      return [g.coordinates.map((r, i) => ring(r, `${where}.coordinates[${i}]`))];
    case 'MultiPolygon':
      if (!Array.isArray(g.coordinates)) throw new Error(`${where}: MultiPolygon without polygons`);
      return g.coordinates.map((p, i) => {
        if (!Array.isArray(p) || p.length === 0) throw new Error(`${where}.coordinates[${i}]: polygon without rings`);
        return p.map((r, j) => ring(r, `${where}.coordinates[${i}][${j}]`));
      });
    default:
      throw new Error(`${where}: type ${JSON.stringify(g.type)} is not Polygon, MultiPolygon, Feature or FeatureCollection`);
  }
}

export function parseServiceArea(text: string, name: string): ServiceArea {
  const polygons = polygonsOf(JSON.parse(text), 'GeoJSON');
  if (polygons.length === 0) throw new Error('GeoJSON: no polygon');
  const bbox: ServiceArea['bbox'] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [lon, lat] of polygons.flatMap((p) => p[0]!)) {
    bbox[0] = Math.min(bbox[0], lon);
    bbox[1] = Math.min(bbox[1], lat);
    bbox[2] = Math.max(bbox[2], lon);
    bbox[3] = Math.max(bbox[3], lat);
  }
  return { name, polygons, bbox };
}

/** The area of ALERT_SERVICE_AREA_FILE, or the default; a bad file is a ConfigError naming the variable. */
export function loadServiceArea(file: string | undefined): ServiceArea {
  if (file === undefined) return parseServiceArea(readFileSync(DEFAULT_AREA_FILE, 'utf8'), 'manhattan (default)');
  try {
    return parseServiceArea(readFileSync(file, 'utf8'), file);
  } catch (error) {
    throw new ConfigError('ALERT_SERVICE_AREA_FILE', file, `a readable GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection (${(error as Error).message})`);
  }
}

function inRing(lon: number, lat: number, r: Ring): boolean {
  let inside = false;
  for (let i = 0, j = r.length - 1; i < r.length; j = i++) {
    const [xi, yi] = r[i]!;
    const [xj, yj] = r[j]!;
    if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export function inside(area: ServiceArea, lon: number, lat: number): boolean {
  return area.polygons.some((p) => inRing(lon, lat, p[0]!) && !p.slice(1).some((hole) => inRing(lon, lat, hole)));
}

/** Metres from the point to the nearest edge of the area (local equirectangular projection: fine at city scale). */
export function distanceToEdgeM(area: ServiceArea, lon: number, lat: number): number {
  const kx = 111_320 * Math.cos((lat * Math.PI) / 180);
  const ky = 110_540;
  let best = Infinity;
  for (const polygon of area.polygons) {
    for (const r of polygon) {
      for (let i = 1; i < r.length; i++) {
        const ax = (r[i - 1]![0] - lon) * kx, ay = (r[i - 1]![1] - lat) * ky;
        const bx = (r[i]![0] - lon) * kx, by = (r[i]![1] - lat) * ky;
        const dx = bx - ax, dy = by - ay;
        const len = dx * dx + dy * dy;
        const t = len === 0 ? 0 : Math.max(0, Math.min(1, -(ax * dx + ay * dy) / len));
        best = Math.min(best, Math.hypot(ax + t * dx, ay + t * dy));
      }
    }
  }
  return best;
}

export function serviceAreaVerdict(t: Telemetry, area: ServiceArea, th: RuleThresholds): Verdict {
  if (inside(area, t.lon, t.lat)) return { holds: false, values: { lat: t.lat, lon: t.lon } };
  const distance = distanceToEdgeM(area, t.lon, t.lat);
  if (distance <= th.areaMarginM) return { holds: false, values: { lat: t.lat, lon: t.lon, outside_m: Math.round(distance) } };
  return { holds: true, severity: 'warning', values: { lat: t.lat, lon: t.lon, outside_m: Math.round(distance), area: area.name } };
}
