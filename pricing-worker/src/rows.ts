/**
 * Charging samples plus their prices, as the column arrays the database writer sends (one array
 * per column, so a batch is one statement). kwh_usage is not computed here: it depends on the
 * previous sample of the stay, which may be in an earlier batch or another process's, so the
 * writer derives it inside the database from the stored meter readings (see db-writer.ts).
 */
import type { ChargingSamples } from './decode.js';

export interface RowColumns {
  count: number;
  /** Per row, the index of its message in the Kafka batch. */
  source: number[];
  timeMs: number[];
  sessionId: string[];
  stationId: string[];
  carId: string[];
  meterKwh: number[];
  priceRate: number[];
}

export function buildRows(samples: ChargingSamples, prices: Float64Array): RowColumns {
  if (prices.length !== samples.count) throw new Error(`${prices.length} prices for ${samples.count} samples`);
  return {
    count: samples.count,
    source: Array.from(samples.source),
    timeMs: Array.from(samples.time),
    sessionId: samples.sessionId,
    stationId: samples.stationId,
    carId: samples.carId,
    meterKwh: Array.from(samples.meter),
    priceRate: Array.from(prices),
  };
}

/** Rows [from, to): a part of a batch, written on its own. */
export function sliceRows(rows: RowColumns, from: number, to: number): RowColumns {
  return {
    count: to - from,
    source: rows.source.slice(from, to),
    timeMs: rows.timeMs.slice(from, to),
    sessionId: rows.sessionId.slice(from, to),
    stationId: rows.stationId.slice(from, to),
    carId: rows.carId.slice(from, to),
    meterKwh: rows.meterKwh.slice(from, to),
    priceRate: rows.priceRate.slice(from, to),
  };
}
