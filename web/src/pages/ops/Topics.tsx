import { Anchor, Badge, Card, Group, Table, Text, Tooltip } from "@mantine/core";
import { useRef } from "react";
import { PageHeader } from "../../components/PageHeader";
import { Empty, LoadState } from "../../components/States";
import { get } from "../../lib/api";
import { linkHandler } from "../../lib/router";
import type { TopicInfo } from "../../lib/types";
import { useLoad } from "../../lib/useLoad";

const REFRESH_MS = 5000;

interface Sample {
  at: number;
  messages: number;
}

/** Records per second over the samples kept (the last minute). */
export function rate(samples: Sample[]): number | null {
  if (samples.length < 2) return null;
  const first = samples[0]!;
  const last = samples[samples.length - 1]!;
  const seconds = (last.at - first.at) / 1000;
  if (seconds <= 0) return null;
  return Math.max(0, (last.messages - first.messages) / seconds);
}

export function TopicsPage() {
  const history = useRef(new Map<string, Sample[]>());
  const topics = useLoad(
    async (signal) => {
      const found = await get<TopicInfo[]>("/v1/topics", undefined, signal);
      const now = Date.now();
      for (const t of found) {
        const total = Object.values(t.end_offsets).reduce((a, b) => a + b, 0);
        const kept = (history.current.get(t.name) ?? []).filter((s) => now - s.at <= 60_000);
        kept.push({ at: now, messages: total });
        history.current.set(t.name, kept);
      }
      return found;
    },
    [],
    { refreshMs: REFRESH_MS },
  );
  const list = topics.data ?? [];
  return (
    <>
      <PageHeader title="Topics" description={`Every topic of the catalogue and its dead-letter topic: partitions, end offsets and the recent write rate (refreshed every ${REFRESH_MS / 1000} s).`} />
      <LoadState error={topics.error} loading={topics.loading} hasData={topics.data !== null} what="Topics" route="GET /v1/topics" onRetry={topics.reload} />
      {topics.data && list.length === 0 ? <Empty>No topic exists yet: they are created when the services start.</Empty> : null}
      {list.length > 0 ? (
        <Card withBorder p={0} radius="md">
          <Table.ScrollContainer minWidth={720}>
            <Table highlightOnHover data-testid="topics-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Topic</Table.Th>
                  <Table.Th ta="right">Partitions</Table.Th>
                  <Table.Th ta="right">Messages</Table.Th>
                  <Table.Th>End offsets</Table.Th>
                  <Table.Th ta="right">Rate</Table.Th>
                  <Table.Th>Retention</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {list.map((t) => {
                  const r = rate(history.current.get(t.name) ?? []);
                  const dlq = t.name.endsWith(".dlq");
                  const tail = `/ops/tail?topic=${encodeURIComponent(t.name)}`;
                  return (
                    <Table.Tr key={t.name}>
                      <Table.Td>
                        <Group gap={6} wrap="nowrap">
                          <Anchor href={tail} onClick={linkHandler(tail)} className="mono" size="sm">
                            {t.name}
                          </Anchor>
                          {dlq && t.messages > 0 ? (
                            <Badge color="red" size="xs">
                              dead letters
                            </Badge>
                          ) : null}
                        </Group>
                      </Table.Td>
                      <Table.Td ta="right">{t.partitions}</Table.Td>
                      <Table.Td ta="right">{t.messages.toLocaleString()}</Table.Td>
                      <Table.Td>
                        <Tooltip label={Object.entries(t.end_offsets).map(([p, o]) => `p${p}: ${o}`).join(", ") || "empty"} multiline maw={320}>
                          <Text size="xs" className="mono clip">
                            {Object.entries(t.end_offsets).map(([p, o]) => `${p}:${o}`).join(" ") || "—"}
                          </Text>
                        </Tooltip>
                      </Table.Td>
                      <Table.Td ta="right">
                        <Text size="sm" c={r ? undefined : "dimmed"}>
                          {r === null ? "…" : `${r < 10 ? r.toFixed(1) : Math.round(r)}/s`}
                        </Text>
                      </Table.Td>
                      <Table.Td>
                        <Text size="sm" c="dimmed">
                          {t.retention ?? "—"}
                        </Text>
                      </Table.Td>
                    </Table.Tr>
                  );
                })}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        </Card>
      ) : null}
    </>
  );
}
