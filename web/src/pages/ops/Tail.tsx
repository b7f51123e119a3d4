import {
  Badge,
  Button,
  Card,
  Drawer,
  Group,
  ScrollArea,
  Select,
  SimpleGrid,
  Stack,
  Switch,
  Table,
  Text,
  TextInput,
  Textarea,
} from "@mantine/core";
import { IconPlayerPause, IconPlayerPlay, IconTrash } from "@tabler/icons-react";
import { useEffect, useMemo, useRef, useState } from "react";
import { JsonView } from "../../components/JsonView";
import { PageHeader } from "../../components/PageHeader";
import { ErrorNote, NotAvailable } from "../../components/States";
import { ApiError, get } from "../../lib/api";
import { matches, parseFields, type TailFilter } from "../../lib/filter";
import { when } from "../../lib/format";
import { navigate, useSearchParam } from "../../lib/router";
import { followSse } from "../../lib/sse";
import type { TopicInfo } from "../../lib/types";

const KEEP = 500;
const BUFFER = 5000;

interface Row {
  seq: number;
  sseId: string | null;
  type: string;
  key: string;
  time: string | null;
  data: unknown;
  raw: unknown;
}

function rowOf(seq: number, sseId: string | null, eventName: string, text: string): Row {
  let raw: unknown = text;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = text;
  }
  const ce = raw && typeof raw === "object" ? (raw as Record<string, unknown>) : {};
  return {
    seq,
    sseId,
    type: typeof ce.type === "string" ? ce.type : eventName === "message" ? "(not a CloudEvent)" : eventName,
    key: typeof ce.subject === "string" ? ce.subject : "",
    time: typeof ce.time === "string" ? ce.time : null,
    data: "data" in ce ? ce.data : raw,
    raw,
  };
}

export function TailPage() {
  const fromUrl = useSearchParam("topic");
  const [topics, setTopics] = useState<string[]>([]);
  const [topic, setTopic] = useState<string | null>(fromUrl ?? "ixo.market.ticks");
  const [fromBeginning, setFromBeginning] = useState(false);
  const [paused, setPaused] = useState(false);
  const [typeFilter, setTypeFilter] = useState("");
  const [keyFilter, setKeyFilter] = useState("");
  const [fieldText, setFieldText] = useState("");
  const [rows, setRows] = useState<Row[]>([]);
  const [scanned, setScanned] = useState(0);
  const [error, setError] = useState<ApiError | null>(null);
  const [live, setLive] = useState(false);
  const [open, setOpen] = useState<Row | null>(null);
  const seq = useRef(0);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;

  const parsed = useMemo(() => parseFields(fieldText), [fieldText]);
  const filter: TailFilter = { type: typeFilter.trim(), key: keyFilter.trim(), fields: parsed.fields };
  const shown = useMemo(
    () => rows.filter((row) => matches(row, filter)).slice(0, KEEP),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [rows, filter.type, filter.key, parsed],
  );

  useEffect(() => {
    if (fromUrl) setTopic(fromUrl);
  }, [fromUrl]);

  useEffect(() => {
    get<TopicInfo[]>("/v1/topics")
      .then((found) => setTopics(found.map((t) => t.name).sort()))
      .catch(() => setTopics([]));
  }, []);

  useEffect(() => {
    if (!topic) return undefined;
    const controller = new AbortController();
    setRows([]);
    setScanned(0);
    setError(null);
    setLive(false);
    const url = `/v1/topics/${encodeURIComponent(topic)}/tail${fromBeginning ? "?from_beginning=true" : ""}`;
    void followSse(url, {
      signal: controller.signal,
      onOpen: () => {
        setLive(true);
        setError(null);
      },
      onError: (err) => {
        setLive(false);
        setError(err);
      },
      onMessage: (message) => {
        if (pausedRef.current) return;
        setScanned((n) => n + 1);
        const row = rowOf(seq.current++, message.id, message.event, message.data);
        setRows((cur) => [row, ...cur].slice(0, BUFFER));
      },
    });
    return () => controller.abort();
  }, [topic, fromBeginning]);

  // The list has the deployment's full names (with its prefix); a link may give the
  // catalogue name, which the gateway resolves too: show the full name it stands for.
  const shownTopic = topics.find((n) => n === topic || (topic !== null && n.endsWith(`.${topic}`))) ?? topic;
  const options = shownTopic && !topics.includes(shownTopic) ? [shownTopic, ...topics] : topics;
  return (
    <>
      <PageHeader
        title="Live tail"
        description="Follow any topic as it is written; filter on type, key and data fields; open a record to see it whole."
        actions={
          <>
            <Badge variant="dot" color={live ? (paused ? "yellow" : "teal") : "gray"} data-testid="tail-status">
              {live ? (paused ? "paused" : "live") : "connecting"}
            </Badge>
            <Button size="xs" variant="default" leftSection={paused ? <IconPlayerPlay size={14} /> : <IconPlayerPause size={14} />} onClick={() => setPaused(!paused)}>
              {paused ? "Resume" : "Pause"}
            </Button>
            <Button size="xs" variant="default" leftSection={<IconTrash size={14} />} onClick={() => setRows([])}>
              Clear
            </Button>
          </>
        }
      />
      <Card withBorder radius="md" mb="md">
        <SimpleGrid cols={{ base: 1, sm: 2, lg: 4 }}>
          <Select
            label="Topic"
            searchable
            data={options}
            value={shownTopic}
            allowDeselect={false}
            onChange={(v) => {
              if (v && v !== shownTopic) {
                setTopic(v);
                navigate(`/ops/tail?topic=${encodeURIComponent(v)}`, { replace: true });
              }
            }}
          />
          <TextInput label="Type contains" placeholder="ixo.market.tick" value={typeFilter} onChange={(e) => setTypeFilter(e.currentTarget.value)} />
          <TextInput label="Key contains" placeholder="BTCUSDT" value={keyFilter} onChange={(e) => setKeyFilter(e.currentTarget.value)} />
          <Textarea
            label="Data fields"
            placeholder="price>70000, venue=binance"
            autosize
            minRows={1}
            maxRows={4}
            value={fieldText}
            onChange={(e) => setFieldText(e.currentTarget.value)}
            error={parsed.invalid.length ? `cannot read: ${parsed.invalid.join(", ")} (use field=value, >, <, !=, ~)` : undefined}
          />
        </SimpleGrid>
        <Group mt="sm" justify="space-between">
          <Switch label="From the beginning (every retained record)" checked={fromBeginning} onChange={(e) => setFromBeginning(e.currentTarget.checked)} />
          <Text size="xs" c="dimmed" data-testid="tail-filters">
            {[
              filter.type ? `type ~ ${filter.type}` : null,
              filter.key ? `key ~ ${filter.key}` : null,
              ...filter.fields.map((f) => `${f.path.join(".")} ${f.op} ${f.value}`),
            ]
              .filter(Boolean)
              .join(" · ") || "no filter"}
          </Text>
          <Text size="xs" c="dimmed" data-testid="tail-counts">
            {scanned.toLocaleString()} seen · {shown.length.toLocaleString()} shown{shown.length >= KEEP ? ` (the newest ${KEEP})` : ""}
          </Text>
        </Group>
      </Card>
      {error?.notFound ? <NotAvailable what={`The tail of ${topic ?? "this topic"}`} route={`GET /v1/topics/${topic}/tail`} /> : error && !live ? <ErrorNote error={error} /> : null}
      <Card withBorder p={0} radius="md">
        <ScrollArea h="calc(100dvh - 380px)" mih={240}>
          <Table highlightOnHover stickyHeader data-testid="tail-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Time</Table.Th>
                <Table.Th>Type</Table.Th>
                <Table.Th>Key</Table.Th>
                <Table.Th>Data</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {shown.map((row) => (
                <Table.Tr
                  key={row.seq}
                  tabIndex={0}
                  style={{ cursor: "pointer" }}
                  onClick={() => setOpen(row)}
                  onKeyDown={(e) => {
                    if (e.key === "Enter" || e.key === " ") {
                      e.preventDefault();
                      setOpen(row);
                    }
                  }}
                  data-testid="tail-row"
                >
                  <Table.Td>
                    <Text size="xs" style={{ whiteSpace: "nowrap" }}>
                      {when(row.time)}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Text size="xs" className="mono">
                      {row.type}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Text size="xs" className="mono">
                      {row.key || "—"}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Text size="xs" className="mono clip">
                      {JSON.stringify(row.data)}
                    </Text>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
          {shown.length === 0 ? (
            <Text c="dimmed" size="sm" ta="center" py="xl">
              {live ? "Waiting for records that pass the filters…" : "Connecting…"}
            </Text>
          ) : null}
        </ScrollArea>
      </Card>
      <Drawer opened={open !== null} onClose={() => setOpen(null)} position="right" size="lg" title={open?.type ?? "Record"}>
        {open ? (
          <Stack>
            <Text size="xs" c="dimmed" className="mono">
              {open.sseId ? `position ${open.sseId}` : null}
            </Text>
            <JsonView value={open.raw} maxHeight={640} />
          </Stack>
        ) : null}
      </Drawer>
    </>
  );
}
