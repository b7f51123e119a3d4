// The live tail's filters: on the event type, the key (the CloudEvent subject, which is the
// record key) and data fields. A data filter is one `path op value` per line or comma:
// `symbol=BTCUSDT`, `price>70000`, `condition.kind!=above`, `text~halving` (contains).

export interface FieldFilter {
  path: string[];
  op: "=" | "!=" | ">" | "<" | ">=" | "<=" | "~";
  value: string;
}

export interface TailFilter {
  type: string;
  key: string;
  fields: FieldFilter[];
}

const PATTERN = /^\s*([A-Za-z0-9_.-]+)\s*(!=|>=|<=|=|>|<|~)\s*(.*?)\s*$/;

/** Parse the data filters; returns the filters and the parts it could not read. */
export function parseFields(text: string): { fields: FieldFilter[]; invalid: string[] } {
  const fields: FieldFilter[] = [];
  const invalid: string[] = [];
  for (const part of text.split(/[\n,]/)) {
    if (!part.trim()) continue;
    const match = PATTERN.exec(part);
    if (!match) {
      invalid.push(part.trim());
      continue;
    }
    const path = match[1]!.replace(/^data\./, "").split(".");
    fields.push({ path, op: match[2] as FieldFilter["op"], value: match[3]! });
  }
  return { fields, invalid };
}

function at(data: unknown, path: string[]): unknown {
  let current: unknown = data;
  for (const step of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[step];
  }
  return current;
}

function compare(actual: unknown, f: FieldFilter): boolean {
  if (actual === undefined) return f.op === "!=";
  const text = typeof actual === "object" ? JSON.stringify(actual) : String(actual);
  const a = Number(text);
  const b = Number(f.value);
  const numeric = text.trim() !== "" && f.value.trim() !== "" && Number.isFinite(a) && Number.isFinite(b);
  switch (f.op) {
    case "=":
      return numeric ? a === b : text === f.value;
    case "!=":
      return numeric ? a !== b : text !== f.value;
    case "~":
      return text.toLowerCase().includes(f.value.toLowerCase());
    case ">":
      return numeric && a > b;
    case "<":
      return numeric && a < b;
    case ">=":
      return numeric && a >= b;
    case "<=":
      return numeric && a <= b;
    default:
      return false;
  }
}

export interface TailRecord {
  type: string;
  key: string;
  data: unknown;
}

export function matches(record: TailRecord, filter: TailFilter): boolean {
  if (filter.type && !record.type.toLowerCase().includes(filter.type.toLowerCase())) return false;
  if (filter.key && !record.key.toLowerCase().includes(filter.key.toLowerCase())) return false;
  return filter.fields.every((f) => compare(at(record.data, f.path), f));
}
