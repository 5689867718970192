/**
 * ferry's own metrics from the host side, through the Temporal SDK's metric meter: they leave the
 * worker with the SDK's own metrics (its Prometheus endpoint when `ferry worker --metrics-address`
 * is set; nowhere otherwise). Tagged with the host, so one scrape config covers a fleet.
 */
import { metricMeter } from '@temporalio/activity';

/** A dump step finished: how long CRIU kept the process frozen, and what it wrote. */
export function recordDump(host: string, kind: 'pre-dump' | 'dump', frozenMs: number, bytes: number): void {
  const tags = { host, kind };
  metricMeter.createCounter('ferry_layers_dumped', 'layers', 'CRIU dumps taken (pre-dumps and final dumps)').add(1, tags);
  metricMeter.createHistogram('ferry_dump_frozen', 'float', 'ms', 'time CRIU kept the process frozen, per dump').record(frozenMs, tags);
  metricMeter.createCounter('ferry_dump_bytes', 'bytes', 'bytes of images written by dumps').add(bytes, tags);
}

/** A layer upload finished: the bytes it sent (files already stored are not counted). */
export function recordStored(host: string, bytesSent: number): void {
  metricMeter.createCounter('ferry_bytes_stored', 'bytes', 'bytes sent to the store by layer uploads').add(bytesSent, { host });
}
