import { Badge, Button, Card, Group, Stack, Text, TextInput, Timeline } from "@mantine/core";
import { IconRoute } from "@tabler/icons-react";
import { useEffect, useState, type FormEvent } from "react";
import { JsonView } from "../../components/JsonView";
import { PageHeader } from "../../components/PageHeader";
import { Empty, ErrorNote, Loading } from "../../components/States";
import { ApiError, get } from "../../lib/api";
import { when } from "../../lib/format";
import { navigate, useSearchParam } from "../../lib/router";
import type { TraceEntry, TraceView } from "../../lib/types";

export function TracePage() {
  const fromUrl = useSearchParam("id");
  const [input, setInput] = useState(fromUrl ?? "");
  const [entries, setEntries] = useState<TraceEntry[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState<number | null>(null);
  const [tookMs, setTookMs] = useState<number | null>(null);

  useEffect(() => {
    if (!fromUrl) return;
    setInput(fromUrl);
    const controller = new AbortController();
    setBusy(true);
    setError(null);
    const started = performance.now();
    get<TraceView>(`/v1/trace/${encodeURIComponent(fromUrl)}`, undefined, controller.signal)
      .then((found) => {
        // In time order already (the index is scored by event time); sorted again, stable.
        const list = found.events.slice().sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
        setEntries(list);
        setTotal(found.total);
        setTookMs(performance.now() - started);
      })
      .catch((err: unknown) => {
        if (controller.signal.aborted) return;
        setEntries(null);
        setError(err instanceof ApiError ? err : new ApiError(0, String(err)));
      })
      .finally(() => setBusy(false));
    return () => controller.abort();
  }, [fromUrl]);

  function submit(event: FormEvent) {
    event.preventDefault();
    if (input.trim()) navigate(`/ops/trace?id=${encodeURIComponent(input.trim())}`);
  }

  return (
    <>
      <PageHeader title="Trace" description="Everything that happened for one correlation id, across topics, in time order." />
      <form onSubmit={submit}>
        <Group align="flex-end" gap="xs" mb="md">
          <TextInput label="Correlation id" placeholder="a chat request id, an event id…" value={input} onChange={(e) => setInput(e.currentTarget.value)} style={{ flex: 1, minWidth: 260 }} className="mono" />
          <Button type="submit" leftSection={<IconRoute size={16} />} loading={busy}>
            Trace
          </Button>
        </Group>
      </form>
      {error ? (
        error.notFound ? (
          <Card withBorder>
            <Text size="sm" c="dimmed" data-testid="trace-not-found">
              {error.message === "Not Found" ? "Tracing is not available on this gateway (GET /v1/trace/{correlation_id})." : error.message}
            </Text>
          </Card>
        ) : (
          <ErrorNote error={error} />
        )
      ) : null}
      {busy && !entries ? <Loading label="Tracing…" /> : null}
      {entries && entries.length === 0 ? <Empty>Nothing recorded for this correlation id.</Empty> : null}
      {entries && entries.length > 0 ? (
        <Card withBorder radius="md">
          <Text size="xs" c="dimmed" mb="md">
            {entries.length} event{entries.length === 1 ? "" : "s"} on {new Set(entries.map((e) => e.topic)).size} topic{new Set(entries.map((e) => e.topic)).size === 1 ? "" : "s"}
            {total > entries.length ? ` (the first ${entries.length} of ${total})` : ""}
            {tookMs !== null ? ` · found in ${Math.round(tookMs)} ms` : ""}
          </Text>
          <Timeline active={entries.length} bulletSize={18} lineWidth={2} data-testid="trace-timeline">
            {entries.map((e, i) => (
              <Timeline.Item
                key={`${e.topic}:${e.partition}:${e.offset}`}
                data-testid="trace-event"
                title={
                  <Group gap="xs">
                    <Text size="sm" fw={600} className="mono">
                      {e.type}
                    </Text>
                    <Badge size="xs" variant="light">
                      {e.topic}
                    </Badge>
                  </Group>
                }
              >
                <Stack gap={4}>
                  <Text size="xs" c="dimmed">
                    {when(e.time)}
                    {` · ${e.source} · ${e.partition}@${e.offset}`}
                    {e.subject ? ` · ${e.subject}` : ""}
                  </Text>
                  <Button size="compact-xs" variant="subtle" w="fit-content" onClick={() => setOpen(open === i ? null : i)}>
                    {open === i ? "Hide" : "Show"} JSON
                  </Button>
                  {open === i ? <JsonView value={e} maxHeight={360} /> : null}
                </Stack>
              </Timeline.Item>
            ))}
          </Timeline>
        </Card>
      ) : null}
    </>
  );
}
