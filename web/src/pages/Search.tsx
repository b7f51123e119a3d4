import { Anchor, Badge, Button, Card, Group, NumberInput, Select, Stack, Text, TextInput } from "@mantine/core";
import { IconExternalLink, IconFileText, IconSearch } from "@tabler/icons-react";
import { useState, type FormEvent } from "react";
import { PageHeader } from "../components/PageHeader";
import { Empty, ErrorNote, Loading, NotAvailable } from "../components/States";
import { ApiError, get } from "../lib/api";
import { when } from "../lib/format";
import type { Hit } from "../lib/types";

export function SearchPage() {
  const [q, setQ] = useState("");
  const [k, setK] = useState<number | "">(10);
  const [source, setSource] = useState<string | null>(null);
  const [symbol, setSymbol] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [hits, setHits] = useState<Hit[] | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!q.trim()) return;
    setBusy(true);
    setError(null);
    try {
      const found = await get<{ hits: Hit[] }>("/v1/search", { q: q.trim(), k: k === "" ? 10 : k, source, symbol: symbol.trim() || null });
      setHits(found.hits);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, String(err)));
      setHits(null);
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <PageHeader title="Knowledge" description="Search scraped posts and your own documents; every passage comes with its source." />
      <form onSubmit={(e) => void submit(e)} role="search">
        <Group align="flex-end" gap="xs" mb="md">
          <TextInput style={{ flex: 1, minWidth: 220 }} label="Search" placeholder="e.g. ETF inflows, halving, staking yields" value={q} onChange={(e) => setQ(e.currentTarget.value)} leftSection={<IconSearch size={14} />} maxLength={500} />
          <Select label="Source" w={150} clearable placeholder="all" data={[{ value: "post", label: "Posts" }, { value: "document", label: "My documents" }]} value={source} onChange={setSource} />
          <TextInput label="Symbol" w={110} placeholder="BTC" value={symbol} onChange={(e) => setSymbol(e.currentTarget.value)} />
          <NumberInput label="Results" w={90} min={1} max={50} value={k} onChange={(v) => setK(typeof v === "number" ? v : "")} />
          <Button type="submit" loading={busy}>
            Search
          </Button>
        </Group>
      </form>
      {error?.notFound ? <NotAvailable what="Knowledge search" route="GET /v1/search" /> : null}
      {error && error.status === 503 ? (
        <ErrorNote error={new ApiError(503, `${error.message} (the knowledge store is not connected: is the embedder running?)`)} />
      ) : error && !error.notFound ? (
        <ErrorNote error={error} />
      ) : null}
      {busy && !hits ? <Loading label="Searching…" /> : null}
      {hits && hits.length === 0 ? <Empty>Nothing found. Try other words, or ingest documents with “ixo ingest”.</Empty> : null}
      <Stack gap="sm" data-testid="search-hits">
        {(hits ?? []).map((hit) => (
          <Card key={`${hit.doc_id}:${hit.chunk}`} withBorder radius="md" padding="sm">
            <Stack gap={6}>
              <Group justify="space-between" wrap="nowrap">
                <Group gap="xs">
                  <Badge variant="light" color={hit.source === "post" ? "blue" : "grape"} leftSection={hit.source === "document" ? <IconFileText size={12} /> : null}>
                    {hit.source}
                  </Badge>
                  {hit.title ? <Text fw={600} size="sm">{hit.title}</Text> : null}
                  {hit.symbols.map((s) => (
                    <Badge key={s} size="xs" variant="outline">
                      {s}
                    </Badge>
                  ))}
                </Group>
                <Text size="xs" c="dimmed">
                  score {hit.score.toFixed(3)}
                </Text>
              </Group>
              <Text size="sm" lineClamp={6}>
                {hit.text}
              </Text>
              <Group gap="xs">
                <Text size="xs" c="dimmed">
                  Source:
                </Text>
                {hit.url ? (
                  <Anchor href={hit.url} target="_blank" rel="noopener noreferrer" size="xs" data-testid="citation">
                    {hit.citation} <IconExternalLink size={11} />
                  </Anchor>
                ) : (
                  <Text size="xs" className="mono" data-testid="citation">
                    {hit.citation}
                  </Text>
                )}
                {hit.created_at ? (
                  <Text size="xs" c="dimmed">
                    · {when(hit.created_at)}
                  </Text>
                ) : null}
              </Group>
            </Stack>
          </Card>
        ))}
      </Stack>
    </>
  );
}
