// The JSON shapes the web app reads. The gateway's own routes (producers/gateway) are typed
// after their Python models; the operator routes of issue 14 are typed after the contract the
// app assumes (docs/notes-for-readme/web.md lists them) and read defensively.

export interface CloudEvent<D = Record<string, unknown>> {
  specversion: string;
  id: string;
  type: string;
  source: string;
  time: string;
  subject?: string;
  datacontenttype?: string;
  correlationid?: string;
  causationid?: string;
  data: D;
}

export interface Me {
  user_id: string;
  display_name: string;
  scopes: string[];
  via: string;
  identities: { platform: string; platform_user_id: string; chat_id: string }[];
}

export interface Condition {
  kind: "above" | "below" | "crosses_above" | "crosses_below" | "pct_change";
  threshold: string | number;
  window_s?: number | null;
}

export interface Channel {
  kind: "telegram" | "discord" | "webhook";
  target: string;
}

export interface Rule {
  rule_id: string;
  user_id: string;
  symbol: string;
  condition: Condition | null;
  channels: Channel[];
  cooldown_s: number;
  repeat: boolean;
  updated_at: string;
}

export interface Receipt {
  topic: string;
  partition: number;
  offset: number;
  rule_id?: string;
  warnings?: string[];
  [key: string]: unknown;
}

export interface Alert {
  match_id: string;
  rule_id: string;
  symbol: string;
  price: string;
  condition: Condition;
  tick_id: string;
  triggered_at: string;
  previous_price?: string | null;
  reference_price?: string | null;
  reference_time?: string | null;
  change_pct?: string | null;
  explanation?: string | null;
  [key: string]: unknown;
}

export interface BacktestMatch {
  alert: { match_id: string; symbol: string; price: string; triggered_at: string };
  reason: string;
}

export interface Price {
  symbol: string;
  price: string;
  volume?: string | null;
  venue: string;
  ts: string;
  event_id: string;
}

export interface ToolCall {
  call_id: string;
  name: string;
  arguments: Record<string, unknown>;
  result?: unknown;
  error?: string | null;
}

export interface Hit {
  doc_id: string;
  chunk: number;
  text: string;
  score: number;
  source: "post" | "document";
  citation: string;
  url?: string | null;
  title?: string | null;
  symbols: string[];
  created_at?: string | null;
}

export interface TopicInfo {
  name: string;
  partitions: number;
  messages: number;
  end_offsets: Record<string, number>;
  retention: string | null;
}

export interface LagRow {
  group: string;
  topic: string;
  partition: number;
  committed: number | null;
  end: number;
  lag: number;
  lag_s: number | null;
}

/** A dead letter as `GET /v1/ops/dlq/{topic}/records` lists it (as `ixo dlq show --json`). */
export interface DeadLetter {
  topic: string;
  partition: number;
  offset: number;
  timestamp: string | null;
  key: string | null;
  headers: Record<string, string>;
  error_type: string | null;
  error: string | null;
  source_topic: string | null;
  source_partition: number | null;
  source_offset: number | null;
  value: unknown;
}

/** One error type of a dead-letter topic in the `GET /v1/ops/dlq` overview. */
export interface DlqErrorSummary {
  error_type: string;
  count: number;
  groups: Record<string, number>;
  examples: Record<string, unknown>[];
}

/** A dead-letter topic in the `GET /v1/ops/dlq` overview. */
export interface DlqTopic {
  name: string;
  source: string;
  messages: number;
  scanned: number;
  errors: DlqErrorSummary[];
}

/** The answer of `POST /v1/ops/dlq/{topic}/requeue` (as `ixo dlq requeue --json`). */
export interface RequeueResult {
  dlq: string;
  target: string;
  dry_run: boolean;
  requeued: number;
  already_requeued: number;
  skipped: number;
  by_group: Record<string, number>;
  records: { partition: number; offset: number; group: string | null; type: string | null; id: string | null }[];
  skipped_records: { partition: number; offset: number; reason: string }[];
}

export type ReplayState = "running" | "done" | "failed";

/** A replay job: `POST /v1/ops/replay/{projection}` starts one, `GET /v1/ops/replay/{replay_id}` follows it. */
export interface ReplayStatus {
  replay_id: string;
  projection: string;
  state: ReplayState;
  records: number;
  total: number;
  since: string | null;
  by: string;
  started_at: string;
  finished_at: string | null;
  error: string | null;
  result: { collection: string; records: number; invalid: number; seconds: number; swapped: boolean } | null;
}

/** The answer of `GET /v1/trace/{correlation_id}`. */
export interface TraceView {
  correlation_id: string;
  total: number;
  truncated: boolean;
  events: TraceEntry[];
}

export interface TraceEntry {
  time: string;
  topic: string;
  partition: number;
  offset: number;
  type: string;
  id: string;
  subject: string;
  source: string;
  causationid: string | null;
}
