// Numbers, times and symbols as people read them.

export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

export function ago(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "unknown";
  if (seconds < 1) return "caught up";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

export function price(value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === "") return "—";
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  const digits = Math.abs(n) >= 100 ? 2 : Math.abs(n) >= 1 ? 4 : 8;
  return n.toLocaleString(undefined, { maximumFractionDigits: digits });
}

export function conditionText(condition: { kind: string; threshold: string | number; window_s?: number | null } | null): string {
  if (!condition) return "—";
  const t = price(condition.threshold);
  switch (condition.kind) {
    case "above":
      return `price above ${t}`;
    case "below":
      return `price below ${t}`;
    case "crosses_above":
      return `crosses above ${t}`;
    case "crosses_below":
      return `crosses below ${t}`;
    case "pct_change":
      return `moves ${t} % within ${condition.window_s ?? "?"} s`;
    default:
      return `${condition.kind} ${t}`;
  }
}
