import { Accordion, Badge, Card, Group, Stack, Table, Text } from "@mantine/core";
import { useRef } from "react";
import { PageHeader } from "../../components/PageHeader";
import { PriceChart, type Point } from "../../components/PriceChart";
import { Empty, LoadState } from "../../components/States";
import { get } from "../../lib/api";
import { ago } from "../../lib/format";
import type { LagRow } from "../../lib/types";
import { useLoad } from "../../lib/useLoad";

const REFRESH_MS = 5000;
const HISTORY = 720; // an hour of samples at 5 s

interface GroupLag {
  group: string;
  lag: number;
  lagS: number | null;
  rows: LagRow[];
}

export function groupLag(rows: LagRow[]): GroupLag[] {
  const by = new Map<string, GroupLag>();
  for (const row of rows) {
    const g = by.get(row.group) ?? { group: row.group, lag: 0, lagS: 0, rows: [] };
    g.lag += row.lag;
    g.lagS = row.lag_s === null || g.lagS === null ? (row.lag > 0 ? null : g.lagS) : Math.max(g.lagS, row.lag_s);
    g.rows.push(row);
    by.set(row.group, g);
  }
  return [...by.values()].sort((a, b) => b.lag - a.lag || a.group.localeCompare(b.group));
}

function color(lagS: number | null, lag: number): string {
  if (lag === 0) return "teal";
  if (lagS === null || lagS > 300) return "red";
  if (lagS > 30) return "orange";
  return "yellow";
}

export function LagPage() {
  const history = useRef(new Map<string, Point[]>());
  const lag = useLoad(
    async (signal) => {
      const rows = await get<LagRow[]>("/v1/ops/lag", undefined, signal);
      const now = Date.now() / 1000;
      for (const g of groupLag(rows)) {
        const kept = history.current.get(g.group) ?? [];
        kept.push({ time: now, value: g.lagS ?? 0 });
        history.current.set(g.group, kept.slice(-HISTORY));
      }
      return rows;
    },
    [],
    { refreshMs: REFRESH_MS },
  );
  const groups = groupLag(lag.data ?? []);
  return (
    <>
      <PageHeader title="Consumer lag" description="Each consumer group: records behind per partition, and how long ago the oldest unprocessed record was written." />
      <LoadState error={lag.error} loading={lag.loading} hasData={lag.data !== null} what="Consumer lag" route="GET /v1/ops/lag" onRetry={lag.reload} />
      {lag.data && groups.length === 0 ? <Empty>No consumer group has committed offsets yet.</Empty> : null}
      {groups.length > 0 ? (
        <Accordion variant="separated" multiple data-testid="lag-groups">
          {groups.map((g) => (
            <Accordion.Item key={g.group} value={g.group}>
              <Accordion.Control>
                <Group justify="space-between" wrap="nowrap" pr="sm">
                  <Text className="mono" size="sm">
                    {g.group}
                  </Text>
                  <Group gap="xs" wrap="nowrap">
                    <Badge color={color(g.lagS, g.lag)} variant="light">
                      {g.lag.toLocaleString()} behind
                    </Badge>
                    <Badge color={color(g.lagS, g.lag)} variant="outline">
                      {g.lag === 0 ? "caught up" : `${ago(g.lagS)} behind`}
                    </Badge>
                  </Group>
                </Group>
              </Accordion.Control>
              <Accordion.Panel>
                <Stack>
                  <Table.ScrollContainer minWidth={560}>
                    <Table>
                      <Table.Thead>
                        <Table.Tr>
                          <Table.Th>Topic</Table.Th>
                          <Table.Th ta="right">Partition</Table.Th>
                          <Table.Th ta="right">Committed</Table.Th>
                          <Table.Th ta="right">End</Table.Th>
                          <Table.Th ta="right">Lag</Table.Th>
                          <Table.Th ta="right">Behind</Table.Th>
                        </Table.Tr>
                      </Table.Thead>
                      <Table.Tbody>
                        {g.rows.map((r) => (
                          <Table.Tr key={`${r.topic}:${r.partition}`}>
                            <Table.Td className="mono">{r.topic}</Table.Td>
                            <Table.Td ta="right">{r.partition}</Table.Td>
                            <Table.Td ta="right">{r.committed ?? "—"}</Table.Td>
                            <Table.Td ta="right">{r.end}</Table.Td>
                            <Table.Td ta="right">{r.lag}</Table.Td>
                            <Table.Td ta="right">{r.lag === 0 ? "—" : ago(r.lag_s)}</Table.Td>
                          </Table.Tr>
                        ))}
                      </Table.Tbody>
                    </Table>
                  </Table.ScrollContainer>
                  <Card withBorder padding="xs">
                    <Text size="xs" c="dimmed" mb={4}>
                      Lag in seconds while this page is open
                    </Text>
                    <PriceChart points={history.current.get(g.group) ?? []} height={160} label={`Lag in time of ${g.group}`} />
                  </Card>
                </Stack>
              </Accordion.Panel>
            </Accordion.Item>
          ))}
        </Accordion>
      ) : null}
    </>
  );
}
