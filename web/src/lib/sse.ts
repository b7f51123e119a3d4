// Server-Sent Events over fetch: the gateway names each event after its CloudEvent type, which
// EventSource can only catch one name at a time; a fetch stream sees them all, can be aborted,
// and resumes after a dropped connection with `Last-Event-ID` (the gateway's SSE ids).

import { ApiError, authHeaders, describeError } from "./api";

export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
}

export interface SseOptions {
  signal: AbortSignal;
  onMessage: (message: SseMessage) => void;
  onOpen?: () => void;
  onError?: (error: ApiError) => void;
  /** Reconnect after a dropped stream (not after a 4xx answer). */
  retryMs?: number;
}

/** Split SSE text into messages; returns the messages and the unfinished rest. */
export function parseSse(buffer: string): { messages: SseMessage[]; rest: string } {
  const messages: SseMessage[] = [];
  const normalised = buffer.replace(/\r\n?/g, "\n");
  const blocks = normalised.split("\n\n");
  const rest = blocks.pop() ?? "";
  for (const block of blocks) {
    let id: string | null = null;
    let event = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "event") event = value;
      else if (field === "id") id = value;
    }
    if (data.length > 0) messages.push({ id, event, data: data.join("\n") });
  }
  return { messages, rest };
}

/** Follow `url` until `signal` aborts. */
export async function followSse(url: string, options: SseOptions): Promise<void> {
  const { signal, onMessage } = options;
  const retryMs = options.retryMs ?? 2000;
  let lastId: string | null = null;
  while (!signal.aborted) {
    try {
      const headers: Record<string, string> = { Accept: "text/event-stream", ...authHeaders("GET") };
      if (lastId) headers["Last-Event-ID"] = lastId;
      const response = await fetch(url, { headers, credentials: "same-origin", signal });
      if (!response.ok || !response.body) {
        let body: unknown = null;
        try {
          body = await response.json();
        } catch {
          body = null;
        }
        const error = new ApiError(response.status, describeError(response.status, body), body);
        options.onError?.(error);
        if (response.status >= 400 && response.status < 500) return;
      } else {
        options.onOpen?.();
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          const { messages, rest } = parseSse(buffer);
          buffer = rest;
          for (const message of messages) {
            if (message.id) lastId = message.id;
            onMessage(message);
          }
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      options.onError?.(new ApiError(0, "The stream was interrupted; reconnecting."));
      void err;
    }
    if (signal.aborted) return;
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
}
