// The gateway's HTTP API, as the signed-in browser calls it: same origin, the session cookie
// sent by the browser, and on every write the CSRF header holding the `ixo_csrf` cookie's value
// (decision 0112). Errors become an ApiError with the HTTP status and the gateway's detail.

export const CSRF_COOKIE = "ixo_csrf";
const TOKEN_KEY = "ixo.token";
export const CSRF_HEADER = "X-CSRF-Token";
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

export class ApiError extends Error {
  readonly status: number;
  readonly detail: unknown;

  constructor(status: number, message: string, detail: unknown = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }

  /** The route does not exist on this gateway (yet), or the thing asked for is not there. */
  get notFound(): boolean {
    return this.status === 404;
  }
}

export function readCookie(name: string): string | null {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

/** A human sentence from FastAPI's error bodies: `{detail: "..."}` or a 422 list of errors. */
export function describeError(status: number, body: unknown): string {
  if (body && typeof body === "object" && "detail" in body) {
    const detail = (body as { detail: unknown }).detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail
        .map((item) => {
          if (item && typeof item === "object") {
            const it = item as { loc?: unknown[]; msg?: string };
            const where = Array.isArray(it.loc) ? it.loc.filter((l) => l !== "body").join(".") : "";
            return where ? `${where}: ${it.msg ?? "invalid"}` : (it.msg ?? "invalid");
          }
          return String(item);
        })
        .join("; ");
    }
  }
  if (status === 401) return "Sign in first.";
  if (status === 403) return "You may not do this.";
  if (status === 404) return "Not found.";
  if (status === 503) return "A service behind the gateway is not answering; try again soon.";
  return `The gateway answered ${status}.`;
}

let onUnauthorized: (() => void) | null = null;

/** Called when a request answers 401 (the session ended): the app shows the sign-in page. */
export function setUnauthorizedHandler(handler: (() => void) | null): void {
  onUnauthorized = handler;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Record<string, string | number | boolean | null | undefined>;
  signal?: AbortSignal;
  quiet401?: boolean;
}

export function withQuery(path: string, query?: RequestOptions["query"]): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== null && value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

// An API token, for callers the password session cannot serve (operators: a password session
// has the user scope only). Kept for this tab only (sessionStorage), sent as a bearer header;
// with it no cookie decides, so no CSRF header is needed (decision 0159).
export function apiToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setApiToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** The headers of a request: the token when signed in with one, else CSRF on a write. */
export function authHeaders(method: string): Record<string, string> {
  const token = apiToken();
  if (token) return { Authorization: `Bearer ${token}` };
  if (SAFE.has(method)) return {};
  const csrf = readCookie(CSRF_COOKIE);
  return csrf ? { [CSRF_HEADER]: csrf } : {};
}

export function writeHeaders(method: string): Record<string, string> {
  return { Accept: "application/json", ...authHeaders(method) };
}

export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = (options.method ?? "GET").toUpperCase();
  const headers = writeHeaders(method);
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await fetch(withQuery(path, options.query), {
      method,
      headers,
      body,
      credentials: "same-origin",
      signal: options.signal,
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ApiError(0, "The gateway cannot be reached. Is it running?");
  }
  const text = await response.text();
  let parsed: unknown = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!response.ok) {
    if (response.status === 401 && !options.quiet401 && onUnauthorized) onUnauthorized();
    throw new ApiError(response.status, describeError(response.status, parsed), parsed);
  }
  return parsed as T;
}

export const get = <T>(path: string, query?: RequestOptions["query"], signal?: AbortSignal) =>
  api<T>(path, { query, signal });
export const post = <T>(path: string, body?: unknown) => api<T>(path, { method: "POST", body });
export const del = <T>(path: string) => api<T>(path, { method: "DELETE" });
