import { Accordion, Alert, Badge, Button, Card, Group, Modal, Stack, Table, Text } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconRefresh, IconSend } from "@tabler/icons-react";
import { useState } from "react";
import { JsonView } from "../../components/JsonView";
import { PageHeader } from "../../components/PageHeader";
import { Empty, ErrorNote, LoadState } from "../../components/States";
import { ApiError, get, post } from "../../lib/api";
import { when } from "../../lib/format";
import type { DeadLetter, DlqTopic, RequeueResult } from "../../lib/types";
import { useLoad } from "../../lib/useLoad";

interface ErrorGroup {
  label: string;
  errorType: string;
  records: DeadLetter[];
}

/** Dead letters grouped by their error type and the first line of their error. */
export function groupByError(records: DeadLetter[]): ErrorGroup[] {
  const by = new Map<string, ErrorGroup>();
  for (const r of records) {
    const errorType = r.error_type ?? r.headers?.["x-error-type"] ?? "unknown";
    const first = (r.error ?? r.headers?.["x-error"] ?? "").split("\n")[0]!.slice(0, 160);
    const label = first ? `${errorType}: ${first}` : errorType;
    const g = by.get(label) ?? { label, errorType, records: [] };
    g.records.push(r);
    by.set(label, g);
  }
  return [...by.values()].sort((a, b) => b.records.length - a.records.length);
}

/** The route of a dead-letter topic's records (the name may carry the deployment's prefix). */
export function dlqPath(topic: string, action: "records" | "requeue"): string {
  return `/v1/ops/dlq/${encodeURIComponent(topic)}/${action}`;
}

const RECORDS_SHOWN = 500;

function DlqRecords({ topic }: { topic: string }) {
  const records = useLoad((signal) => get<DeadLetter[]>(dlqPath(topic, "records"), { limit: RECORDS_SHOWN }, signal), [topic]);
  const [open, setOpen] = useState<DeadLetter | null>(null);
  const list = records.data ?? [];
  const groups = groupByError(list);
  return (
    <>
      <LoadState error={records.error} loading={records.loading} hasData={records.data !== null} what="Showing dead letters" route={`GET ${dlqPath(topic, "records")}`} onRetry={records.reload} />
      {records.data !== null && list.length === 0 ? <Empty>This dead-letter topic is empty.</Empty> : null}
      <Accordion variant="contained" multiple data-testid="dlq-groups">
        {groups.map((g) => (
          <Accordion.Item key={g.label} value={g.label}>
            <Accordion.Control>
              <Group justify="space-between" wrap="nowrap" pr="sm">
                <Text size="sm" className="clip" title={g.label}>
                  {g.label}
                </Text>
                <Badge color="red" variant="light">
                  {g.records.length}
                </Badge>
              </Group>
            </Accordion.Control>
            <Accordion.Panel>
              <Table.ScrollContainer minWidth={560}>
                <Table highlightOnHover>
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Position</Table.Th>
                      <Table.Th>Time</Table.Th>
                      <Table.Th>Group</Table.Th>
                      <Table.Th>Key</Table.Th>
                      <Table.Th />
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {g.records.map((r) => (
                      <Table.Tr key={`${r.partition}:${r.offset}`} data-testid="dlq-record">
                        <Table.Td className="mono">
                          {r.partition}@{r.offset}
                        </Table.Td>
                        <Table.Td>{when(r.timestamp)}</Table.Td>
                        <Table.Td className="mono">{r.headers?.["x-consumer-group"] ?? "—"}</Table.Td>
                        <Table.Td className="mono">{r.key ?? "—"}</Table.Td>
                        <Table.Td>
                          <Button size="compact-xs" variant="subtle" onClick={() => setOpen(r)}>
                            Show
                          </Button>
                        </Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            </Accordion.Panel>
          </Accordion.Item>
        ))}
      </Accordion>
      <Modal opened={open !== null} onClose={() => setOpen(null)} title="Dead letter" size="xl">
        {open ? <JsonView value={open} maxHeight={600} /> : null}
      </Modal>
    </>
  );
}

function Requeue({ topic, onDone }: { topic: DlqTopic; onDone: () => void }) {
  const [plan, setPlan] = useState<RequeueResult | null>(null);
  const [busy, setBusy] = useState<"dry" | "real" | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  async function run(dryRun: boolean) {
    setBusy(dryRun ? "dry" : "real");
    setError(null);
    try {
      const result = await post<RequeueResult>(dlqPath(topic.name, "requeue"), { dry_run: dryRun });
      if (dryRun) setPlan(result);
      else {
        setPlan(null);
        notifications.show({
          color: "teal",
          title: "Requeued",
          message: `${result.requeued} record${result.requeued === 1 ? "" : "s"} republished to ${result.target}${result.already_requeued ? `; ${result.already_requeued} were requeued before` : ""}.`,
        });
        onDone();
      }
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, String(err)));
    } finally {
      setBusy(null);
    }
  }

  return (
    <Stack gap="xs">
      {error?.notFound ? (
        <Alert color="gray" variant="light">
          {error.message} (<code>POST {dlqPath(topic.name, "requeue")}</code>); <code>ixo dlq requeue</code> does the same from a shell.
        </Alert>
      ) : error ? (
        <ErrorNote error={error} />
      ) : null}
      {plan ? (
        <Alert color="yellow" variant="light" title="Dry run: nothing was republished yet" data-testid="dlq-plan">
          <Stack gap={4}>
            <Text size="sm">
              {plan.requeued} record{plan.requeued === 1 ? "" : "s"} would be republished to <code>{plan.target}</code>
              {plan.already_requeued ? `; ${plan.already_requeued} already requeued (skipped)` : ""}
              {plan.skipped ? `; ${plan.skipped} cannot be requeued` : ""}.
            </Text>
            {Object.entries(plan.by_group).map(([g, n]) => (
              <Text key={g} size="xs" className="mono">
                {g}: {n}
              </Text>
            ))}
            <Group mt="xs">
              <Button size="xs" color="red" leftSection={<IconSend size={14} />} loading={busy === "real"} disabled={plan.requeued === 0} onClick={() => void run(false)}>
                Requeue {plan.requeued} record{plan.requeued === 1 ? "" : "s"}
              </Button>
              <Button size="xs" variant="default" onClick={() => setPlan(null)}>
                Cancel
              </Button>
            </Group>
          </Stack>
        </Alert>
      ) : (
        <Group>
          <Button size="xs" variant="light" leftSection={<IconRefresh size={14} />} loading={busy === "dry"} onClick={() => void run(true)}>
            Requeue all… (dry run first)
          </Button>
        </Group>
      )}
    </Stack>
  );
}

export function DlqPage() {
  const dlqs = useLoad((signal) => get<DlqTopic[]>("/v1/ops/dlq", undefined, signal), [], { refreshMs: 10000 });
  const [tick, setTick] = useState(0);
  const list = (dlqs.data ?? []).filter((t) => t.messages > 0);
  return (
    <>
      <PageHeader title="Dead letters" description="Records a consumer could never process, grouped by error. Requeue shows what it would republish first; a record requeued twice is republished once." />
      <LoadState error={dlqs.error} loading={dlqs.loading} hasData={dlqs.data !== null} what="Dead letters" route="GET /v1/ops/dlq" onRetry={dlqs.reload} />
      {dlqs.data !== null && list.length === 0 ? <Empty>No dead letters. Everything was processed.</Empty> : null}
      <Stack>
        {list.map((t) => (
          <Card key={t.name} withBorder radius="md" data-testid="dlq-topic">
            <Stack>
              <Group justify="space-between">
                <Stack gap={0}>
                  <Text fw={600} className="mono">
                    {t.name}
                  </Text>
                  <Text size="xs" c="dimmed">
                    from {t.source}
                  </Text>
                </Stack>
                <Badge color="red" size="lg" variant="light">
                  {t.messages} record{t.messages === 1 ? "" : "s"}
                </Badge>
              </Group>
              <Requeue
                topic={t}
                onDone={() => {
                  dlqs.reload();
                  setTick((n) => n + 1);
                }}
              />
              <DlqRecords key={tick} topic={t.name} />
            </Stack>
          </Card>
        ))}
      </Stack>
    </>
  );
}
