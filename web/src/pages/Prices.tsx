import { Badge, Button, Card, Chip, Group, SimpleGrid, Stack, Text, TextInput } from "@mantine/core";
import { IconSearch } from "@tabler/icons-react";
import { useEffect, useState, type FormEvent } from "react";
import { PageHeader } from "../components/PageHeader";
import { PriceChart, type Point } from "../components/PriceChart";
import { ErrorNote } from "../components/States";
import { ApiError, get } from "../lib/api";
import { price, when } from "../lib/format";
import { useSession } from "../lib/session";
import { followSse } from "../lib/sse";
import type { CloudEvent, Price } from "../lib/types";

const FAVOURITES = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];
const MAX_POINTS = 2000;
const POLL_MS = 2000;

interface TickData {
  symbol: string;
  price: string;
  venue: string;
  ts: string;
}

export function PricesPage() {
  const { isOperator } = useSession();
  const [input, setInput] = useState("BTCUSDT");
  const [symbol, setSymbol] = useState("BTCUSDT");
  const [latest, setLatest] = useState<Price | null>(null);
  const [points, setPoints] = useState<Point[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const [mode, setMode] = useState<"live" | "polling">(isOperator ? "live" : "polling");

  // The latest price (also the symbol's normal form) and, without the tail, a poll.
  useEffect(() => {
    const controller = new AbortController();
    setPoints([]);
    setLatest(null);
    setError(null);
    const load = async () => {
      try {
        const found = await get<Price>(`/v1/prices/${encodeURIComponent(symbol)}`, undefined, controller.signal);
        setLatest(found);
        setError(null);
        setPoints((cur) => [...cur, { time: Date.parse(found.ts) / 1000, value: Number(found.price) }].slice(-MAX_POINTS));
      } catch (err) {
        if (controller.signal.aborted) return;
        setError(err instanceof ApiError ? err : new ApiError(0, String(err)));
      }
    };
    void load();
    const timer = mode === "polling" ? window.setInterval(() => void load(), POLL_MS) : undefined;
    return () => {
      controller.abort();
      if (timer) window.clearInterval(timer);
    };
  }, [symbol, mode]);

  // Operators see every tick live, from the topic tail (SSE).
  useEffect(() => {
    if (mode !== "live" || !latest) return undefined;
    const controller = new AbortController();
    const wanted = latest.symbol;
    void followSse("/v1/topics/ixo.market.ticks/tail", {
      signal: controller.signal,
      onError: (err) => {
        if (err.status === 403 || err.notFound) setMode("polling");
      },
      onMessage: (message) => {
        try {
          const event = JSON.parse(message.data) as CloudEvent<TickData>;
          if (event.data?.symbol !== wanted) return;
          const point = { time: Date.parse(event.data.ts) / 1000, value: Number(event.data.price) };
          setPoints((cur) => [...cur, point].slice(-MAX_POINTS));
          setLatest((cur) => (cur ? { ...cur, price: event.data.price, ts: event.data.ts, venue: event.data.venue } : cur));
        } catch {
          /* not a tick: ignore */
        }
      },
    });
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [mode, latest?.symbol]);

  function submit(event: FormEvent) {
    event.preventDefault();
    if (input.trim()) setSymbol(input.trim().toUpperCase());
  }

  return (
    <>
      <PageHeader
        title="Prices"
        description="The latest price of a symbol and its moves while you watch."
        actions={
          <Badge variant="dot" color={mode === "live" ? "teal" : "blue"} data-testid="prices-mode">
            {mode === "live" ? "live ticks" : `refreshing every ${POLL_MS / 1000} s`}
          </Badge>
        }
      />
      <Stack>
        <form onSubmit={submit}>
          <Group align="flex-end" gap="xs">
            <TextInput label="Symbol" value={input} onChange={(e) => setInput(e.currentTarget.value)} w={200} leftSection={<IconSearch size={14} />} />
            <Button type="submit" variant="light">
              Show
            </Button>
            <Chip.Group
              value={symbol}
              onChange={(v) => {
                const picked = Array.isArray(v) ? v[0] : v;
                if (picked) {
                  setSymbol(picked);
                  setInput(picked);
                }
              }}
            >
              <Group gap={6}>
                {FAVOURITES.map((s) => (
                  <Chip key={s} value={s} size="sm">
                    {s}
                  </Chip>
                ))}
              </Group>
            </Chip.Group>
          </Group>
        </form>
        {error?.notFound ? (
          <Card withBorder>
            <Text c="dimmed" size="sm">
              {error.message} — no tick has been seen for it. Check the symbol, or that the market feed runs.
            </Text>
          </Card>
        ) : error ? (
          <ErrorNote error={error} />
        ) : null}
        {latest ? (
          <SimpleGrid cols={{ base: 2, sm: 4 }}>
            <Card withBorder>
              <Text size="xs" c="dimmed">
                {latest.symbol}
              </Text>
              <Text size="xl" fw={700} data-testid="latest-price">
                {price(latest.price)}
              </Text>
            </Card>
            <Card withBorder>
              <Text size="xs" c="dimmed">
                Venue
              </Text>
              <Text fw={600}>{latest.venue}</Text>
            </Card>
            <Card withBorder>
              <Text size="xs" c="dimmed">
                Exchange time
              </Text>
              <Text fw={600} size="sm">
                {when(latest.ts)}
              </Text>
            </Card>
            <Card withBorder>
              <Text size="xs" c="dimmed">
                Points on the chart
              </Text>
              <Text fw={600}>{points.length}</Text>
            </Card>
          </SimpleGrid>
        ) : null}
        <Card withBorder padding="xs">
          {points.length > 0 ? <PriceChart points={points} label={`Price of ${latest?.symbol ?? symbol}`} height={360} /> : <NotYet />}
        </Card>
      </Stack>
    </>
  );
}

function NotYet() {
  return (
    <Text c="dimmed" size="sm" ta="center" py="xl">
      The chart fills in as prices arrive.
    </Text>
  );
}

