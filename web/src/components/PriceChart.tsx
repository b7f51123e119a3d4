import { Box, useComputedColorScheme } from "@mantine/core";
import {
  ColorType,
  LineSeries,
  createChart,
  createSeriesMarkers,
  type IChartApi,
  type ISeriesApi,
  type ISeriesMarkersPluginApi,
  type SeriesMarker,
  type Time,
  type UTCTimestamp,
} from "lightweight-charts";
import { useEffect, useRef } from "react";

export interface Point {
  time: number; // Unix seconds (fractions allowed; merged to whole seconds)
  value: number;
}

export interface Mark {
  time: number;
  label: string;
}

/** Points in ascending whole seconds, one per second (the last of each wins). */
export function chartPoints(points: Point[]): { time: UTCTimestamp; value: number }[] {
  const bySecond = new Map<number, number>();
  for (const p of [...points].sort((a, b) => a.time - b.time)) {
    if (Number.isFinite(p.value)) bySecond.set(Math.floor(p.time), p.value);
  }
  return [...bySecond.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([time, value]) => ({ time: time as UTCTimestamp, value }));
}

/** A line chart of prices (lightweight-charts), with optional markers (e.g. backtest matches). */
export function PriceChart({
  points,
  marks = [],
  height = 300,
  label,
}: {
  points: Point[];
  marks?: Mark[];
  height?: number;
  label: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<IChartApi | null>(null);
  const series = useRef<ISeriesApi<"Line"> | null>(null);
  const markers = useRef<ISeriesMarkersPluginApi<Time> | null>(null);
  const scheme = useComputedColorScheme("light");

  useEffect(() => {
    if (!box.current) return undefined;
    const dark = scheme === "dark";
    const made = createChart(box.current, {
      autoSize: true,
      height,
      layout: {
        background: { type: ColorType.Solid, color: "transparent" },
        textColor: dark ? "#c1c2c5" : "#495057",
        attributionLogo: false,
      },
      grid: {
        vertLines: { color: dark ? "#2c2e33" : "#f1f3f5" },
        horzLines: { color: dark ? "#2c2e33" : "#f1f3f5" },
      },
      timeScale: { timeVisible: true, secondsVisible: true },
      rightPriceScale: { borderVisible: false },
    });
    series.current = made.addSeries(LineSeries, { color: "#4c6ef5", lineWidth: 2 });
    markers.current = createSeriesMarkers(series.current, []);
    chart.current = made;
    return () => {
      made.remove();
      chart.current = null;
      series.current = null;
      markers.current = null;
    };
  }, [height, scheme]);

  useEffect(() => {
    const data = chartPoints(points);
    series.current?.setData(data);
    const known = new Set(data.map((d) => d.time as number));
    const list: SeriesMarker<Time>[] = marks
      .map((m) => ({ ...m, time: Math.floor(m.time) }))
      .filter((m) => known.has(m.time))
      .sort((a, b) => a.time - b.time)
      .map((m) => ({
        time: m.time as UTCTimestamp,
        position: "aboveBar",
        color: "#f03e3e",
        shape: "arrowDown",
        text: m.label,
      }));
    markers.current?.setMarkers(list);
    if (data.length > 0) chart.current?.timeScale().fitContent();
  }, [points, marks, scheme, height]);

  return <Box ref={box} h={height} role="img" aria-label={label} data-testid="price-chart" />;
}
