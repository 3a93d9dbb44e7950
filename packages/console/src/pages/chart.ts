import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

const COLOURS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777', '#4b5563', '#65a30d'];

/** A time-series chart (uPlot); made anew when its series change, fed new data otherwise. */
export function Chart({ title, unit, series, data }: {
  title: string; unit: string; series: readonly string[]; data: uPlot.AlignedData;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const names = series.join('\u0000');
  useEffect(() => {
    if (!box.current) return;
    plot.current = new uPlot({
      title, width: 560, height: 220,
      scales: { x: { time: true } },
      axes: [{}, { label: unit }],
      series: [{}, ...series.map((label, i) => ({ label, stroke: COLOURS[i % COLOURS.length]!, width: 2, spanGaps: true }))],
    }, data, box.current);
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, [names]);
  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);
  // The newest value of each series, for whoever reads the page without seeing the canvas (tests, scripts).
  const latest = JSON.stringify(data.slice(1).map((values) => values.at(-1) ?? null));
  return html`<div class="chart" ref=${box} data-title=${title} data-latest=${latest}></div>`;
}
