import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { get } from '../api.js';
import { latencyQuantile, meanBatchSize, requestRates } from '../live_rates.js';
import type { LiveReading } from '../types.js';
import { Chart } from './chart.js';

const POLL_MS = 2000;
/** Points kept: ten minutes at one reading every two seconds. */
const HISTORY = 300;

interface Point {
  /** Seconds since the epoch. */
  at: number;
  rates: Record<string, number>;
  p50: number | null;
  p99: number | null;
  batch: number | null;
}

function series(points: readonly Point[], pick: (p: Point) => number | null | undefined, times: number[]): (number | null)[] {
  return points.length === times.length ? points.map((p) => pick(p) ?? null) : [];
}

/** Requests, latency and batching as this replica counts them, the replicas and connections, refreshed every two seconds. */
export function LivePage() {
  const [points, setPoints] = useState<Point[]>([]);
  const [latest, setLatest] = useState<LiveReading | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let previous: LiveReading | null = null;
    let stopped = false;
    const read = () => get<LiveReading>('/live').then((reading) => {
      if (stopped) return;
      setLatest(reading);
      setError(null);
      if (previous !== null) {
        const before = previous;
        const point: Point = {
          at: reading.at / 1000, rates: requestRates(before, reading),
          p50: latencyQuantile(before, reading, 0.5), p99: latencyQuantile(before, reading, 0.99), batch: meanBatchSize(before, reading),
        };
        setPoints((all) => [...all.slice(-(HISTORY - 1)), point]);
      }
      previous = reading;
    }, (e: Error) => !stopped && setError(e.message));
    void read();
    const timer = setInterval(read, POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);

  const times = points.map((p) => p.at);
  const operations = [...new Set(points.flatMap((p) => Object.keys(p.rates)))].sort();
  const rateData = [times, ...operations.map((op) => series(points, (p) => p.rates[op] ?? 0, times))] as uPlot.AlignedData;
  const ms = (v: number | null) => (v === null ? null : v * 1000);
  const latencyData = [times, series(points, (p) => ms(p.p50), times), series(points, (p) => ms(p.p99), times)] as uPlot.AlignedData;
  const batchData = [times, series(points, (p) => p.batch, times)] as uPlot.AlignedData;
  const health = latest?.health;
  const status = (ok: boolean | undefined, label: string) =>
    html`<span class=${`badge ${ok ? 'ok' : 'bad'}`}>${label}: ${ok === undefined ? '…' : ok ? 'up' : 'down'}</span>`;

  return html`
    <h1>Live</h1>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <div class="health">
      ${status(health?.broker, 'Broker')} ${status(health?.database, 'Database')}
      <span class=${`badge ${health?.notReady ? 'bad' : 'ok'}`}>${health ? (health.notReady ? `not ready: ${health.notReady}` : 'ready') : '…'}</span>
      <span class="badge">Replicas: ${latest?.replicas ? latest.replicas.length : '?'}</span>
      ${latest?.replicas?.map((r) => html`<span class="replica">${r.id}</span>`)}
    </div>
    <p class="hint">Figures of this replica (the one serving the console), as its /metrics exports them; a reading every ${POLL_MS / 1000} s.</p>
    <div class="charts">
      <${Chart} title="Requests/s by operation" unit="req/s" series=${operations.length ? operations : ['(none yet)']}
        data=${operations.length ? rateData : [times, times.map(() => 0)]} />
      <${Chart} title="Latency" unit="ms" series=${['p50', 'p99']} data=${latencyData} />
      <${Chart} title="Requests per transaction" unit="requests" series=${['mean batch size']} data=${batchData} />
    </div>`;
}
