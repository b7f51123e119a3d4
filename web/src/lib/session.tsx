// Who is signed in: `/v1/me` on start; the sign-in page when it answers 401 (or when any later
// request does: the session expired).

import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { ApiError, api, apiToken, post, setApiToken, setUnauthorizedHandler } from "./api";
import type { Me } from "./types";

interface SessionState {
  me: Me | null;
  checking: boolean;
  error: ApiError | null;
  isOperator: boolean;
  signIn: (userId: string, password: string) => Promise<void>;
  signInWithToken: (token: string) => Promise<void>;
  signOut: () => Promise<void>;
}

const SessionContext = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(true);
  const [error, setError] = useState<ApiError | null>(null);

  const loadMe = useCallback(async () => {
    try {
      setMe(await api<Me>("/v1/me", { quiet401: true }));
      setError(null);
    } catch (err) {
      setMe(null);
      if (err instanceof ApiError && err.status === 401 && apiToken()) setApiToken(null);
      if (err instanceof ApiError && err.status !== 401) setError(err);
    } finally {
      setChecking(false);
    }
  }, []);

  useEffect(() => {
    void loadMe();
    setUnauthorizedHandler(() => {
      setApiToken(null);
      setMe(null);
    });
    return () => setUnauthorizedHandler(null);
  }, [loadMe]);

  const signIn = useCallback(
    async (userId: string, password: string) => {
      await api("/v1/auth/login", {
        method: "POST",
        body: { user_id: userId, password },
        quiet401: true,
      });
      await loadMe();
    },
    [loadMe],
  );

  const signInWithToken = useCallback(
    async (token: string) => {
      setApiToken(token);
      try {
        setMe(await api<Me>("/v1/me", { quiet401: true }));
        setError(null);
      } catch (err) {
        setApiToken(null);
        throw err instanceof ApiError && err.status === 401 ? new ApiError(401, "That token is not valid (revoked or mistyped).") : err;
      }
    },
    [],
  );

  const signOut = useCallback(async () => {
    try {
      if (apiToken()) setApiToken(null);
      else await post("/v1/auth/logout");
    } finally {
      setMe(null);
    }
  }, []);

  const value = useMemo<SessionState>(
    () => ({
      me,
      checking,
      error,
      isOperator: me?.scopes.includes("operator") ?? false,
      signIn,
      signInWithToken,
      signOut,
    }),
    [me, checking, error, signIn, signInWithToken, signOut],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const found = useContext(SessionContext);
  if (!found) throw new Error("useSession outside SessionProvider");
  return found;
}
