import {
  Accordion,
  ActionIcon,
  Badge,
  Button,
  Card,
  Group,
  Loader,
  Paper,
  ScrollArea,
  Stack,
  Text,
  Textarea,
  Tooltip,
} from "@mantine/core";
import { IconMessagePlus, IconSend, IconTool } from "@tabler/icons-react";
import { useCallback, useEffect, useRef, useState, type KeyboardEvent } from "react";
import { JsonView } from "../components/JsonView";
import { PageHeader } from "../components/PageHeader";
import { ErrorNote } from "../components/States";
import { ApiError, post } from "../lib/api";
import { followSse } from "../lib/sse";
import type { CloudEvent, ToolCall } from "../lib/types";

const STORAGE_KEY = "ixo.chat.session";
const DELTA = "ixo.chat.response.delta.v1";
const COMPLETED = "ixo.chat.response.completed.v1";
const TOOL = "ixo.agent.tool.called.v1";

interface Turn {
  requestId: string;
  prompt: string | null;
  deltas: Map<number, string>;
  text: string | null;
  toolCalls: ToolCall[];
  done: boolean;
  degraded: string | null;
}

/** `abc:offline` answers `abc` (the offline assistant's request id). */
function baseRequest(id: string): string {
  const at = id.indexOf(":");
  return at === -1 ? id : id.slice(0, at);
}

function answerText(turn: Turn): string {
  if (turn.text !== null) return turn.text;
  return [...turn.deltas.entries()].sort((a, b) => a[0] - b[0]).map(([, t]) => t).join("");
}

interface ResponseData {
  request_id: string;
  seq?: number;
  text?: string;
  tool_calls?: ToolCall[];
  call?: ToolCall;
  prompt?: string | null;
  degraded?: string | null;
}

export function applyEvent(turns: Turn[], event: CloudEvent<ResponseData>): Turn[] {
  const id = baseRequest(event.data.request_id);
  const next = [...turns];
  let index = next.findIndex((t) => t.requestId === id);
  if (index === -1) {
    next.push({ requestId: id, prompt: null, deltas: new Map(), text: null, toolCalls: [], done: false, degraded: null });
    index = next.length - 1;
  }
  const turn = { ...next[index]! };
  if (event.type === DELTA && typeof event.data.text === "string" && !turn.done) {
    turn.deltas = new Map(turn.deltas);
    turn.deltas.set(event.data.seq ?? turn.deltas.size, event.data.text);
  } else if (event.type === TOOL && event.data.call) {
    const call = event.data.call;
    if (!turn.toolCalls.some((c) => c.call_id === call.call_id)) turn.toolCalls = [...turn.toolCalls, call];
  } else if (event.type === COMPLETED) {
    turn.text = event.data.text ?? "";
    turn.done = true;
    turn.degraded = event.data.degraded ?? null;
    if (event.data.prompt && !turn.prompt) turn.prompt = event.data.prompt;
    const calls = event.data.tool_calls ?? [];
    const known = new Set(turn.toolCalls.map((c) => c.call_id));
    turn.toolCalls = [...turn.toolCalls.map((c) => calls.find((k) => k.call_id === c.call_id) ?? c), ...calls.filter((c) => !known.has(c.call_id))];
  }
  next[index] = turn;
  return next;
}

function ToolCalls({ calls }: { calls: ToolCall[] }) {
  if (calls.length === 0) return null;
  return (
    <Accordion variant="contained" radius="md" chevronPosition="left" data-testid="tool-calls">
      {calls.map((call) => (
        <Accordion.Item key={call.call_id} value={call.call_id}>
          <Accordion.Control icon={<IconTool size={16} />}>
            <Group gap="xs">
              <Text size="sm" fw={600} className="mono">
                {call.name}
              </Text>
              {call.error ? (
                <Badge color="red" variant="light" size="sm">
                  failed
                </Badge>
              ) : null}
            </Group>
          </Accordion.Control>
          <Accordion.Panel>
            <Stack gap="xs">
              <Text size="xs" c="dimmed">
                Arguments
              </Text>
              <JsonView value={call.arguments} maxHeight={200} />
              <Text size="xs" c="dimmed">
                {call.error ? "Error" : "Result"}
              </Text>
              <JsonView value={call.error ?? call.result ?? null} maxHeight={240} />
            </Stack>
          </Accordion.Panel>
        </Accordion.Item>
      ))}
    </Accordion>
  );
}

export function ChatPage() {
  const [sessionId, setSessionId] = useState<string | null>(() => localStorage.getItem(STORAGE_KEY));
  const [turns, setTurns] = useState<Turn[]>([]);
  const [text, setText] = useState("");
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [live, setLive] = useState(false);
  const seen = useRef(new Set<string>());
  const viewport = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!sessionId) return undefined;
    const controller = new AbortController();
    seen.current = new Set();
    void followSse(`/v1/chat/${encodeURIComponent(sessionId)}/events?since_s=3600`, {
      signal: controller.signal,
      onOpen: () => setLive(true),
      onError: (err) => {
        setLive(false);
        if (err.notFound) {
          localStorage.removeItem(STORAGE_KEY);
          setSessionId(null);
        }
      },
      onMessage: (message) => {
        let event: CloudEvent<ResponseData>;
        try {
          event = JSON.parse(message.data) as CloudEvent<ResponseData>;
        } catch {
          return;
        }
        if (!event.data || typeof event.data.request_id !== "string") return;
        if (seen.current.has(event.id)) return;
        seen.current.add(event.id);
        setTurns((current) => applyEvent(current, event));
      },
    });
    return () => {
      controller.abort();
      setLive(false);
    };
  }, [sessionId]);

  useEffect(() => {
    viewport.current?.scrollTo({ top: viewport.current.scrollHeight, behavior: "smooth" });
  }, [turns]);

  const send = useCallback(async () => {
    const prompt = text.trim();
    if (!prompt || sending) return;
    setSending(true);
    setError(null);
    try {
      const sent = await post<{ session_id: string; request_id: string }>("/v1/chat", {
        text: prompt,
        ...(sessionId ? { session_id: sessionId } : {}),
      });
      setTurns((current) => {
        const id = baseRequest(sent.request_id);
        if (current.some((t) => t.requestId === id)) {
          return current.map((t) => (t.requestId === id ? { ...t, prompt } : t));
        }
        return [...current, { requestId: id, prompt, deltas: new Map(), text: null, toolCalls: [], done: false, degraded: null }];
      });
      if (sent.session_id !== sessionId) {
        localStorage.setItem(STORAGE_KEY, sent.session_id);
        setSessionId(sent.session_id);
      }
      setText("");
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, String(err)));
    } finally {
      setSending(false);
    }
  }, [text, sending, sessionId]);

  function onKey(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      void send();
    }
  }

  function newSession() {
    localStorage.removeItem(STORAGE_KEY);
    setSessionId(null);
    setTurns([]);
  }

  return (
    <Stack h="calc(100dvh - 56px - 2 * var(--mantine-spacing-md))" gap="sm">
      <PageHeader
        title="Chat"
        description="Ask the market agent: prices, alerts, rules, news. Answers stream in as they are written."
        actions={
          <>
            {sessionId ? (
              <Badge variant="dot" color={live ? "teal" : "gray"} data-testid="chat-live">
                {live ? "live" : "connecting"}
              </Badge>
            ) : null}
            <Tooltip label="Start a new conversation">
              <ActionIcon variant="default" size="lg" aria-label="New conversation" onClick={newSession}>
                <IconMessagePlus size={18} />
              </ActionIcon>
            </Tooltip>
          </>
        }
      />
      <Paper withBorder radius="md" style={{ flex: 1, minHeight: 200 }}>
        <ScrollArea h="100%" viewportRef={viewport} p="md">
          <Stack gap="md" data-testid="chat-log" aria-live="polite">
            {turns.length === 0 ? (
              <Text c="dimmed" ta="center" py="xl" size="sm">
                Try “price BTC”, “alerts” or “alert ETH above 4000”.
              </Text>
            ) : null}
            {turns.map((turn) => {
              const answer = answerText(turn);
              return (
                <Stack key={turn.requestId} gap={6} data-testid="chat-turn">
                  {turn.prompt ? (
                    <Group justify="flex-end">
                      <Card bg="var(--mantine-primary-color-light)" py="xs" px="sm" maw="80%">
                        <Text size="sm" className="chat-bubble">
                          {turn.prompt}
                        </Text>
                      </Card>
                    </Group>
                  ) : null}
                  <ToolCalls calls={turn.toolCalls} />
                  <Card withBorder py="xs" px="sm" maw="90%">
                    {answer ? (
                      <Text size="sm" className="chat-bubble" data-testid="chat-answer" data-done={turn.done ? "true" : "false"}>
                        {answer}
                      </Text>
                    ) : (
                      <Group gap="xs">
                        <Loader size="xs" type="dots" />
                        <Text size="sm" c="dimmed">
                          thinking…
                        </Text>
                      </Group>
                    )}
                    {turn.degraded ? (
                      <Badge mt={6} size="xs" color="yellow" variant="light">
                        {turn.degraded === "offline" ? "offline assistant" : "error"}
                      </Badge>
                    ) : null}
                  </Card>
                </Stack>
              );
            })}
          </Stack>
        </ScrollArea>
      </Paper>
      {error ? <ErrorNote error={error} /> : null}
      <Group align="flex-end" gap="xs" wrap="nowrap">
        <Textarea
          style={{ flex: 1 }}
          placeholder="Message the agent (Enter sends, Shift+Enter for a new line)"
          aria-label="Message"
          autosize
          minRows={1}
          maxRows={6}
          maxLength={16000}
          value={text}
          onChange={(e) => setText(e.currentTarget.value)}
          onKeyDown={onKey}
        />
        <Button onClick={() => void send()} loading={sending} leftSection={<IconSend size={16} />} disabled={!text.trim()}>
          Send
        </Button>
      </Group>
    </Stack>
  );
}
