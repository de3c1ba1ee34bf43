/**
 * The WebSocket wire form of car positions, shared by the service (encodes) and the page (decodes;
 * esbuild bundles this file into it), so the two never drift. Platform-neutral: typed arrays only.
 *
 * A binary message is one frame of cars in columns (little-endian, as the typed arrays of every
 * platform GreenLane runs on):
 *
 *   offset  size        field
 *   0       u16         magic 0x474c ("GL")
 *   2       u8          version (1)
 *   3       u8          kind: 1 = snapshot (every car; replaces what the page has), 2 = delta
 *   4       u32         count: cars in this frame
 *   8       u32         seq: the service's tick number
 *   12      u32         namesFrom: index of the first car id in the names block
 *   16      u32         namesBytes: length of the names block
 *   20      u32         reserved (0)
 *   24      f64         base: unix ms; car timestamps are offsets from it
 *   32      u32[count]  car index (0-based, allocated in order of first sight; stable for the service's life)
 *           i32[count]  latitude, microdegrees
 *           i32[count]  longitude, microdegrees
 *           u32[count]  timestamp - base, ms (the CarStatus' own timestamp)
 *           u16[count]  battery, hundredths of a percent (0..10000)
 *           u16[count]  velocity, tenths of a km/h
 *           u8[count]   flags (FLAG_*)
 *           names       UTF-8, car ids of indices namesFrom.. separated by '\n' (ids the page has not seen yet)
 *
 * 10,000 cars: 32 + 21 x 10,000 bytes = about 210 kB per snapshot, less per delta.
 * JSON text messages carry everything else (`{"type":"status"|"stations"|"alerts",...}`).
 */
export const MAGIC = 0x474c;
export const VERSION = 1;
export const KIND_SNAPSHOT = 1;
export const KIND_DELTA = 2;
export const HEADER_BYTES = 32;
export const BYTES_PER_CAR = 21;

export const FLAG_CHARGING = 1;
/** No event for LIVEOPS_WEB_OFFLINE_AFTER_MS. */
export const FLAG_OFFLINE = 2;
/** An active alert (battery below 15 %). */
export const FLAG_ALERT = 4;
/** Velocity 0. */
export const FLAG_STOPPED = 8;
/** Plugged in at a station (station_id set). */
export const FLAG_PLUGGED = 16;

export interface CarColumns {
  index: Uint32Array;
  lat: Int32Array;
  lon: Int32Array;
  timestamp: Float64Array;
  battery: Uint16Array;
  velocity: Uint16Array;
  flags: Uint8Array;
}

export interface FrameInput {
  kind: number;
  seq: number;
  /** Row numbers into the columns: the cars of this frame. */
  rows: ArrayLike<number>;
  count: number;
  columns: CarColumns;
  namesFrom: number;
  /** UTF-8 bytes of the names block. */
  names: Uint8Array;
}

export function frameBytes(count: number, namesBytes: number): number {
  return HEADER_BYTES + BYTES_PER_CAR * count + namesBytes;
}

/** Encodes a frame into a new ArrayBuffer. */
export function encodeFrame(f: FrameInput): ArrayBuffer {
  const n = f.count;
  const buffer = new ArrayBuffer(frameBytes(n, f.names.length));
  const view = new DataView(buffer);
  let base = Infinity;
  for (let i = 0; i < n; i++) {
    const ts = f.columns.timestamp[f.rows[i]!]!;
    if (ts < base) base = ts;
  }
  if (!Number.isFinite(base)) base = 0;
  view.setUint16(0, MAGIC, true);
  view.setUint8(2, VERSION);
  view.setUint8(3, f.kind);
  view.setUint32(4, n, true);
  view.setUint32(8, f.seq >>> 0, true);
  view.setUint32(12, f.namesFrom, true);
  view.setUint32(16, f.names.length, true);
  view.setUint32(20, 0, true);
  view.setFloat64(24, base, true);
  let offset = HEADER_BYTES;
  const index = new Uint32Array(buffer, offset, n);
  offset += 4 * n;
  const lat = new Int32Array(buffer, offset, n);
  offset += 4 * n;
  const lon = new Int32Array(buffer, offset, n);
  offset += 4 * n;
  const ts = new Uint32Array(buffer, offset, n);
  offset += 4 * n;
  const battery = new Uint16Array(buffer, offset, n);
  offset += 2 * n;
  const velocity = new Uint16Array(buffer, offset, n);
  offset += 2 * n;
  const flags = new Uint8Array(buffer, offset, n);
  offset += n;
  const c = f.columns;
  for (let i = 0; i < n; i++) {
    const row = f.rows[i]!;
    index[i] = c.index[row]!;
    lat[i] = c.lat[row]!;
    lon[i] = c.lon[row]!;
    ts[i] = Math.min(0xffffffff, Math.max(0, c.timestamp[row]! - base));
    battery[i] = c.battery[row]!;
    velocity[i] = c.velocity[row]!;
    flags[i] = c.flags[row]!;
  }
  new Uint8Array(buffer, offset, f.names.length).set(f.names);
  return buffer;
}

export interface DecodedFrame {
  kind: number;
  seq: number;
  count: number;
  base: number;
  namesFrom: number;
  names: string[];
  index: Uint32Array;
  lat: Int32Array;
  lon: Int32Array;
  /** Offsets from base, ms. */
  ts: Uint32Array;
  battery: Uint16Array;
  velocity: Uint16Array;
  flags: Uint8Array;
}

/** Decodes a binary frame (views into `buffer`, no copies); throws on a foreign or truncated one. */
export function decodeFrame(buffer: ArrayBuffer, byteOffset = 0, byteLength = buffer.byteLength - byteOffset): DecodedFrame {
  if (byteLength < HEADER_BYTES) throw new Error(`frame of ${byteLength} bytes is shorter than its header`);
  // Typed-array views need aligned offsets: copy when the message does not start on 4 bytes.
  if (byteOffset % 4 !== 0) {
    buffer = buffer.slice(byteOffset, byteOffset + byteLength);
    byteOffset = 0;
  }
  const view = new DataView(buffer, byteOffset, byteLength);
  if (view.getUint16(0, true) !== MAGIC || view.getUint8(2) !== VERSION) throw new Error('not a GreenLane frame (magic or version)');
  const n = view.getUint32(4, true);
  const namesBytes = view.getUint32(16, true);
  if (byteLength !== frameBytes(n, namesBytes)) throw new Error(`frame of ${byteLength} bytes, header says ${frameBytes(n, namesBytes)}`);
  let offset = byteOffset + HEADER_BYTES;
  const take = <T>(make: (b: ArrayBuffer, o: number, l: number) => T, size: number): T => {
    const array = make(buffer, offset, n);
    offset += size * n;
    return array;
  };
  const index = take((b, o, l) => new Uint32Array(b, o, l), 4);
  const lat = take((b, o, l) => new Int32Array(b, o, l), 4);
  const lon = take((b, o, l) => new Int32Array(b, o, l), 4);
  const ts = take((b, o, l) => new Uint32Array(b, o, l), 4);
  const battery = take((b, o, l) => new Uint16Array(b, o, l), 2);
  const velocity = take((b, o, l) => new Uint16Array(b, o, l), 2);
  const flags = take((b, o, l) => new Uint8Array(b, o, l), 1);
  const text = new TextDecoder().decode(new Uint8Array(buffer, offset, namesBytes));
  return {
    kind: view.getUint8(3),
    seq: view.getUint32(8, true),
    count: n,
    base: view.getFloat64(24, true),
    namesFrom: view.getUint32(12, true),
    names: text === '' ? [] : text.split('\n'),
    index,
    lat,
    lon,
    ts,
    battery,
    velocity,
    flags,
  };
}

/** A station as the page gets it (JSON message `stations`, GET /api/v1/stations). */
export interface StationView {
  id: string;
  name: string;
  lat: number;
  lon: number;
  slots: number;
  /** Free slots; undefined until Redis has answered. */
  free?: number;
}

/** CLI colours: green above 50 %, yellow 20–50 %, red below 20 %. */
export function batteryBand(battery: number): 'green' | 'yellow' | 'red' {
  return battery > 50 ? 'green' : battery >= 20 ? 'yellow' : 'red';
}

/** CONTRACTS.md: CRITICAL BATTERY! below 15 %. */
export const CRITICAL_BELOW = 15;
