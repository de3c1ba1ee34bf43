import hdr from 'hdr-histogram-js';

export type LatencyHistogram = hdr.Histogram;

export interface LatencySummaryMs {
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/** Ack latencies in microseconds, 3 significant digits, growing as needed. */
export function createLatencyHistogram(): LatencyHistogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, autoResize: true });
}

export function recordMs(histogram: LatencyHistogram, ms: number): void {
  histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
}

/** Histograms cross worker boundaries in the standard compressed HdrHistogram encoding. */
export function encodeHistogram(histogram: LatencyHistogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

export function mergeEncoded(encoded: string[]): LatencyHistogram {
  const merged = createLatencyHistogram();
  for (const text of encoded) merged.add(hdr.decodeFromCompressedBase64(text));
  return merged;
}

export function summarizeMs(histogram: LatencyHistogram): LatencySummaryMs {
  if (histogram.totalCount === 0) return { p50: 0, p99: 0, p999: 0, max: 0 };
  const max = histogram.maxValue;
  // Percentiles report the top of their bucket, which can pass the exact maximum; cap them at it.
  const ms = (us: number) => Math.round(Math.min(us, max)) / 1000;
  return {
    p50: ms(histogram.getValueAtPercentile(50)),
    p99: ms(histogram.getValueAtPercentile(99)),
    p999: ms(histogram.getValueAtPercentile(99.9)),
    max: ms(max),
  };
}
