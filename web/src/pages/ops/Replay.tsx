import { Alert, Button, Card, Group, Progress, Select, Stack, Text, TextInput } from "@mantine/core";
import { IconPlayerPlay } from "@tabler/icons-react";
import { useEffect, useState } from "react";
import { PageHeader } from "../../components/PageHeader";
import { ErrorNote } from "../../components/States";
import { ApiError, get, post } from "../../lib/api";
import { when } from "../../lib/format";
import type { ReplayStatus } from "../../lib/types";

// The projector's projections (consumers/projector PROJECTIONS): what the gateway replays.
const PROJECTIONS = ["prices", "rules", "alerts", "conversations", "deliveries", "subscriptions", "schedules", "users", "links", "posts", "chain_logs"];
const POLL_MS = 1000;
const UNITS_S: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** The `since` the gateway takes (an RFC 3339 time with its zone) from what an operator types:
 * a duration back from now (15m, 2h, 1d) or a time (without a zone: the browser's local time).
 * Anything else is sent as typed, for the gateway to name the problem. */
export function sinceParam(text: string, now: number = Date.now()): string {
  const value = text.trim();
  const relative = /^(\d+)\s*([smhd])$/i.exec(value);
  if (relative) return new Date(now - Number(relative[1]) * UNITS_S[relative[2]!.toLowerCase()]! * 1000).toISOString();
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? value : new Date(parsed).toISOString();
}

const finished = (s: ReplayStatus) => s.state === "done" || s.state === "failed";

export function ReplayPage() {
  const [projection, setProjection] = useState<string | null>("prices");
  const [since, setSince] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [status, setStatus] = useState<ReplayStatus | null>(null);

  useEffect(() => {
    if (!status || finished(status)) return undefined;
    const timer = window.setInterval(() => {
      get<ReplayStatus>(`/v1/ops/replay/${encodeURIComponent(status.replay_id)}`)
        .then((next) => {
          setStatus(next);
          setError(null);
        })
        .catch((err: unknown) => setError(err instanceof ApiError ? err : new ApiError(0, String(err))));
    }, POLL_MS);
    return () => window.clearInterval(timer);
  }, [status]);

  async function start() {
    if (!projection) return;
    if (!window.confirm(`Rebuild the ${projection} projection${since ? ` from ${since}` : " from the beginning"}?`)) return;
    setBusy(true);
    setError(null);
    try {
      const body = since.trim() ? { since: sinceParam(since) } : undefined;
      setStatus(await post<ReplayStatus>(`/v1/ops/replay/${encodeURIComponent(projection)}`, body));
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, String(err)));
    } finally {
      setBusy(false);
    }
  }

  const percent = status?.total ? Math.min(100, (status.records / status.total) * 100) : status?.state === "done" ? 100 : null;
  return (
    <>
      <PageHeader title="Replay" description="Rebuild a read model from its topic: from the beginning into a fresh copy swapped in at the end, or re-apply records since a time." />
      <Card withBorder radius="md" maw={720}>
        <Stack>
          <Group align="flex-end" gap="xs">
            <Select label="Projection" data={PROJECTIONS} value={projection} onChange={setProjection} allowDeselect={false} w={200} />
            <TextInput label="Since (optional)" description="ISO time or 15m, 2h; empty: from the beginning" value={since} onChange={(e) => setSince(e.currentTarget.value)} w={260} />
            <Button leftSection={<IconPlayerPlay size={16} />} loading={busy} onClick={() => void start()}>
              Start replay
            </Button>
          </Group>
          {error ? <ErrorNote error={error} /> : null}
          {status ? (
            <Stack gap={4} data-testid="replay-status">
              <Group justify="space-between">
                <Text size="sm" fw={600}>
                  <span data-testid="replay-state">
                    {status.projection}: {status.state}
                  </span>
                </Text>
                <Text size="sm" c="dimmed">
                  {status.records.toLocaleString()}
                  {status.total ? ` / ${status.total.toLocaleString()}` : ""} records
                </Text>
              </Group>
              <Progress value={percent ?? 100} animated={percent === null && status.state === "running"} striped={status.state === "running"} color={status.state === "failed" ? "red" : undefined} />
              <Text size="xs" c="dimmed">
                started {when(status.started_at)}
                {status.since ? ` · records since ${when(status.since)}` : " · from the beginning"}
                {status.finished_at ? ` · finished ${when(status.finished_at)}` : ""}
                {status.result ? ` · ${status.result.invalid} invalid · ${status.result.seconds} s${status.result.swapped ? " · swapped in" : ""}` : ""}
              </Text>
              {status.error ? (
                <Alert color="red" variant="light">
                  {status.error}
                </Alert>
              ) : null}
            </Stack>
          ) : null}
        </Stack>
      </Card>
    </>
  );
}
