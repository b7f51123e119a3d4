import {
  ActionIcon,
  Alert,
  Badge,
  Button,
  Card,
  Group,
  Modal,
  NumberInput,
  Paper,
  Select,
  SimpleGrid,
  Stack,
  Switch,
  Table,
  Text,
  TextInput,
  Title,
  Tooltip,
} from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconEdit, IconFlask, IconPlus, IconTrash, IconX } from "@tabler/icons-react";
import { useMemo, useState } from "react";
import { PageHeader } from "../components/PageHeader";
import { PriceChart, type Mark, type Point } from "../components/PriceChart";
import { Empty, ErrorNote, LoadState } from "../components/States";
import { ApiError, del, get, post } from "../lib/api";
import { conditionText, price, when } from "../lib/format";
import type { BacktestMatch, Channel, Condition, Receipt, Rule } from "../lib/types";
import { useLoad } from "../lib/useLoad";

const KINDS: { value: Condition["kind"]; label: string }[] = [
  { value: "above", label: "Price above" },
  { value: "below", label: "Price below" },
  { value: "crosses_above", label: "Crosses above" },
  { value: "crosses_below", label: "Crosses below" },
  { value: "pct_change", label: "Moves by % within a window" },
];
const CHANNEL_KINDS = [
  { value: "telegram", label: "Telegram chat" },
  { value: "discord", label: "Discord channel" },
  { value: "webhook", label: "Webhook URL" },
];

interface Draft {
  rule_id: string | null;
  symbol: string;
  kind: Condition["kind"];
  threshold: string;
  window_s: number | "";
  channels: Channel[];
  cooldown_s: number | "";
  repeat: boolean;
}

const EMPTY: Draft = { rule_id: null, symbol: "BTCUSDT", kind: "above", threshold: "", window_s: 300, channels: [], cooldown_s: 0, repeat: false };

function draftOf(rule: Rule): Draft {
  return {
    rule_id: rule.rule_id,
    symbol: rule.symbol,
    kind: rule.condition?.kind ?? "above",
    threshold: String(rule.condition?.threshold ?? ""),
    window_s: rule.condition?.window_s ?? 300,
    channels: rule.channels,
    cooldown_s: rule.cooldown_s,
    repeat: rule.repeat,
  };
}

/** The JSON body of a draft, as `POST /v1/rules` takes it. */
export function ruleBody(d: Draft): Record<string, unknown> {
  const condition: Record<string, unknown> = { kind: d.kind, threshold: d.threshold.trim() };
  if (d.kind === "pct_change") condition.window_s = d.window_s === "" ? null : d.window_s;
  return {
    ...(d.rule_id ? { rule_id: d.rule_id } : {}),
    symbol: d.symbol.trim(),
    condition,
    channels: d.channels.filter((c) => c.target.trim()),
    cooldown_s: d.cooldown_s === "" ? 0 : d.cooldown_s,
    repeat: d.repeat,
  };
}

/** The symbol's ticks since `since` (`GET /v1/prices/{symbol}/history`), or null where the
 * gateway has no such route (the chart then draws the matches alone). */
async function priceHistory(symbol: string, since: string): Promise<Point[] | null> {
  try {
    const found = await get<unknown>(`/v1/prices/${encodeURIComponent(symbol)}/history`, { since, limit: 5000 });
    const items = Array.isArray(found) ? found : ((found as { points?: unknown[] } | null)?.points ?? []);
    return (items as { ts?: string; time?: string; price?: string | number }[])
      .map((p) => ({ time: Date.parse(p.ts ?? p.time ?? "") / 1000, value: Number(p.price) }))
      .filter((p) => Number.isFinite(p.time) && Number.isFinite(p.value));
  } catch {
    return null;
  }
}

function RuleForm({ initial, onSaved, onClose }: { initial: Draft; onSaved: (ruleId: string | null) => void; onClose: () => void }) {
  const [d, setD] = useState<Draft>(initial);
  const [busy, setBusy] = useState<"save" | "test" | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [hours, setHours] = useState<number | "">(24);
  const [result, setResult] = useState<{ count: number; matches: BacktestMatch[]; history: Point[] | null } | null>(null);
  const set = (patch: Partial<Draft>) => setD((cur) => ({ ...cur, ...patch }));

  async function save() {
    setBusy("save");
    setError(null);
    try {
      const receipt = await post<Receipt>("/v1/rules", ruleBody(d));
      for (const warning of receipt.warnings ?? []) {
        notifications.show({ color: "yellow", title: "Check this", message: warning });
      }
      onSaved(typeof receipt.rule_id === "string" ? receipt.rule_id : d.rule_id);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, String(err)));
    } finally {
      setBusy(null);
    }
  }

  async function backtest() {
    setBusy("test");
    setError(null);
    try {
      const since = new Date(Date.now() - (hours === "" ? 24 : hours) * 3600_000).toISOString();
      const { rule_id: _ignored, ...rule } = ruleBody(d);
      void _ignored;
      const found = await post<{ count: number; matches: BacktestMatch[] }>("/v1/rules/backtest", { rule, since });
      setResult({ ...found, history: await priceHistory(d.symbol.trim(), since) });
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, String(err)));
    } finally {
      setBusy(null);
    }
  }

  const chart = useMemo(() => {
    if (!result) return { points: [] as Point[], marks: [] as Mark[] };
    // The price line: the symbol's tick history when the gateway serves it, else the prices
    // the rule fired at (each match is a point of the series, so every marker sits on it).
    const fired: Point[] = result.matches.map((m) => ({ time: Date.parse(m.alert.triggered_at) / 1000, value: Number(m.alert.price) }));
    const points = result.history && result.history.length > 0 ? [...result.history, ...fired] : fired;
    const marks: Mark[] = result.matches.map((m) => ({ time: Date.parse(m.alert.triggered_at) / 1000, label: price(m.alert.price) }));
    return { points, marks };
  }, [result]);

  return (
    <Stack>
      {error ? <ErrorNote error={error} /> : null}
      <SimpleGrid cols={{ base: 1, sm: 2 }}>
        <TextInput label="Symbol" description="BTC means BTCUSDT" required value={d.symbol} onChange={(e) => set({ symbol: e.currentTarget.value })} data-autofocus />
        <Select label="Condition" data={KINDS} value={d.kind} allowDeselect={false} onChange={(v) => v && set({ kind: v as Condition["kind"] })} />
        <TextInput
          label={d.kind === "pct_change" ? "Change (%)" : "Price"}
          description={d.kind === "pct_change" ? "negative for a fall" : "a decimal, e.g. 70000"}
          required
          inputMode="decimal"
          value={d.threshold}
          onChange={(e) => set({ threshold: e.currentTarget.value })}
        />
        {d.kind === "pct_change" ? (
          <NumberInput label="Window (seconds)" min={1} value={d.window_s} onChange={(v) => set({ window_s: typeof v === "number" ? v : "" })} />
        ) : (
          <NumberInput label="Cooldown (seconds)" description="quiet time after it fires" min={0} value={d.cooldown_s} onChange={(v) => set({ cooldown_s: typeof v === "number" ? v : "" })} />
        )}
      </SimpleGrid>
      <Switch label="Fire again after the cooldown (repeat)" checked={d.repeat} onChange={(e) => set({ repeat: e.currentTarget.checked })} />
      <Stack gap={6}>
        <Group justify="space-between">
          <Text size="sm" fw={500}>
            Notify
          </Text>
          <Button size="compact-xs" variant="subtle" leftSection={<IconPlus size={14} />} onClick={() => set({ channels: [...d.channels, { kind: "webhook", target: "" }] })}>
            Add a channel
          </Button>
        </Group>
        {d.channels.length === 0 ? (
          <Text size="xs" c="dimmed">
            No channel: the alert is recorded and shown in Alerts.
          </Text>
        ) : null}
        {d.channels.map((channel, i) => (
          <Group key={i} gap="xs" wrap="nowrap">
            <Select
              aria-label="Channel kind"
              data={CHANNEL_KINDS}
              value={channel.kind}
              allowDeselect={false}
              w={170}
              onChange={(v) => set({ channels: d.channels.map((c, j) => (j === i ? { ...c, kind: (v ?? c.kind) as Channel["kind"] } : c)) })}
            />
            <TextInput
              aria-label="Channel target"
              style={{ flex: 1 }}
              placeholder={channel.kind === "webhook" ? "https://…" : "chat or channel id"}
              value={channel.target}
              onChange={(e) => {
                const target = e.currentTarget.value;
                set({ channels: d.channels.map((c, j) => (j === i ? { ...c, target } : c)) });
              }}
            />
            <ActionIcon variant="subtle" color="gray" aria-label="Remove channel" onClick={() => set({ channels: d.channels.filter((_, j) => j !== i) })}>
              <IconX size={16} />
            </ActionIcon>
          </Group>
        ))}
      </Stack>
      <Paper withBorder p="sm" radius="md">
        <Stack gap="xs">
          <Group justify="space-between" align="flex-end">
            <Title order={5}>Backtest this draft</Title>
            <Group gap="xs" align="flex-end">
              <NumberInput aria-label="Hours of history" size="xs" w={110} min={1} max={24 * 30} value={hours} onChange={(v) => setHours(typeof v === "number" ? v : "")} suffix=" h" />
              <Button size="xs" variant="light" leftSection={<IconFlask size={14} />} loading={busy === "test"} onClick={() => void backtest()}>
                Backtest
              </Button>
            </Group>
          </Group>
          {result ? (
            <Stack gap="xs" data-testid="backtest-result">
              <Text size="sm">
                {result.count === 0 ? "It would not have fired in that time." : `It would have fired ${result.count} time${result.count === 1 ? "" : "s"}.`}
              </Text>
              {chart.points.length > 0 ? <PriceChart points={chart.points} marks={chart.marks} height={220} label={`Backtest matches of ${d.symbol}`} /> : null}
              {result.matches.slice(0, 20).map((m) => (
                <Text key={m.alert.match_id} size="xs" c="dimmed">
                  {when(m.alert.triggered_at)} at {price(m.alert.price)}: {m.reason}
                </Text>
              ))}
            </Stack>
          ) : null}
        </Stack>
      </Paper>
      <Group justify="flex-end">
        <Button variant="default" onClick={onClose}>
          Cancel
        </Button>
        <Button onClick={() => void save()} loading={busy === "save"}>
          {d.rule_id ? "Save changes" : "Create rule"}
        </Button>
      </Group>
    </Stack>
  );
}

export function RulesPage() {
  const rules = useLoad((signal) => get<Rule[]>("/v1/rules", undefined, signal), []);
  const [editing, setEditing] = useState<Draft | null>(null);
  const [pending, setPending] = useState<string | null>(null);

  /** The list comes from the projection: wait (briefly) until the change is visible there. */
  async function refreshUntil(check: (list: Rule[]) => boolean) {
    for (let i = 0; i < 20; i++) {
      try {
        const list = await get<Rule[]>("/v1/rules");
        if (check(list)) break;
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    rules.reload();
  }

  async function remove(rule: Rule) {
    if (!window.confirm(`Delete the rule on ${rule.symbol} (${conditionText(rule.condition)})?`)) return;
    setPending(rule.rule_id);
    try {
      await del(`/v1/rules/${encodeURIComponent(rule.rule_id)}`);
      notifications.show({ color: "teal", message: "Rule deleted" });
      await refreshUntil((list) => !list.some((r) => r.rule_id === rule.rule_id));
    } catch (err) {
      notifications.show({ color: "red", title: "Not deleted", message: err instanceof ApiError ? err.message : String(err) });
    } finally {
      setPending(null);
    }
  }

  const list = rules.data ?? [];
  return (
    <>
      <PageHeader
        title="Rules"
        description="Price alerts: when a condition holds, an alert is recorded and sent to your channels."
        actions={
          <Button leftSection={<IconPlus size={16} />} onClick={() => setEditing(EMPTY)}>
            New rule
          </Button>
        }
      />
      <LoadState error={rules.error} loading={rules.loading} hasData={rules.data !== null} what="Rules" route="GET /v1/rules" onRetry={rules.reload} />
      {rules.data && list.length === 0 ? <Empty>No rules yet. Create one, or ask the chat to “alert me when BTC is above 70000”.</Empty> : null}
      {list.length > 0 ? (
        <Card withBorder p={0} radius="md">
          <Table.ScrollContainer minWidth={640}>
            <Table highlightOnHover verticalSpacing="sm" data-testid="rules-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Symbol</Table.Th>
                  <Table.Th>Condition</Table.Th>
                  <Table.Th>Channels</Table.Th>
                  <Table.Th>Repeat</Table.Th>
                  <Table.Th>Updated</Table.Th>
                  <Table.Th aria-label="Actions" />
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {list.map((rule) => (
                  <Table.Tr key={rule.rule_id} data-testid="rule-row">
                    <Table.Td fw={600}>{rule.symbol}</Table.Td>
                    <Table.Td>{conditionText(rule.condition)}</Table.Td>
                    <Table.Td>
                      <Group gap={4}>
                        {rule.channels.length === 0 ? <Text size="sm" c="dimmed">—</Text> : null}
                        {rule.channels.map((c, i) => (
                          <Badge key={i} variant="light" size="sm">
                            {c.kind}
                          </Badge>
                        ))}
                      </Group>
                    </Table.Td>
                    <Table.Td>{rule.repeat ? `every ${rule.cooldown_s} s` : "once"}</Table.Td>
                    <Table.Td>
                      <Text size="sm" c="dimmed">
                        {when(rule.updated_at)}
                      </Text>
                    </Table.Td>
                    <Table.Td>
                      <Group gap={4} justify="flex-end" wrap="nowrap">
                        <Tooltip label="Edit or backtest">
                          <ActionIcon variant="subtle" aria-label={`Edit rule ${rule.rule_id}`} onClick={() => setEditing(draftOf(rule))}>
                            <IconEdit size={16} />
                          </ActionIcon>
                        </Tooltip>
                        <Tooltip label="Delete">
                          <ActionIcon variant="subtle" color="red" aria-label={`Delete rule ${rule.rule_id}`} loading={pending === rule.rule_id} onClick={() => void remove(rule)}>
                            <IconTrash size={16} />
                          </ActionIcon>
                        </Tooltip>
                      </Group>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        </Card>
      ) : null}
      <Modal opened={editing !== null} onClose={() => setEditing(null)} title={editing?.rule_id ? "Edit rule" : "New rule"} size="lg">
        {editing ? (
          <RuleForm
            initial={editing}
            onClose={() => setEditing(null)}
            onSaved={(ruleId) => {
              const before = new Map(list.map((r) => [r.rule_id, r.updated_at]));
              setEditing(null);
              notifications.show({ color: "teal", message: "Rule saved" });
              void refreshUntil((fresh) =>
                ruleId ? fresh.some((r) => r.rule_id === ruleId && r.updated_at !== before.get(ruleId)) : fresh.length > list.length,
              );
            }}
          />
        ) : null}
      </Modal>
      <Alert variant="transparent" color="gray" mt="md" p={0}>
        <Text size="xs" c="dimmed">
          Changes are events: a new or edited rule shows here once the projector has applied it (usually within a second).
        </Text>
      </Alert>
    </>
  );
}

