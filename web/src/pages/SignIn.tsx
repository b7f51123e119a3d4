import { Alert, Button, Center, Paper, PasswordInput, Stack, Tabs, Text, TextInput, Title } from "@mantine/core";
import { IconChartLine, IconKey, IconLock, IconUser } from "@tabler/icons-react";
import { useEffect, useState, type FormEvent } from "react";
import { ApiError } from "../lib/api";
import { useSession } from "../lib/session";

export function SignInPage() {
  const { signIn, signInWithToken, error: sessionError } = useSession();
  const [userId, setUserId] = useState("");
  const [password, setPassword] = useState("");
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    document.title = "Sign in · Impressox";
  }, []);

  async function attempt(action: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "Signing in failed.");
    } finally {
      setBusy(false);
    }
  }

  function submitPassword(event: FormEvent) {
    event.preventDefault();
    void attempt(() => signIn(userId.trim(), password));
  }

  function submitToken(event: FormEvent) {
    event.preventDefault();
    void attempt(() => signInWithToken(token.trim()));
  }

  return (
    <Center mih="100vh" p="md" bg="var(--mantine-color-default-hover)">
      <Paper withBorder shadow="md" p="xl" radius="lg" w="100%" maw={420} component="main">
        <Stack>
          <Stack gap={4} align="center">
            <IconChartLine size={36} color="var(--mantine-color-indigo-6)" />
            <Title order={2}>Impressox</Title>
            <Text c="dimmed" size="sm">
              Sign in to your market agent
            </Text>
          </Stack>
          {error ? (
            <Alert color="red" variant="light" icon={<IconLock size={16} />} role="alert" data-testid="signin-error">
              {error}
            </Alert>
          ) : null}
          {sessionError ? (
            <Alert color="yellow" variant="light" role="status">
              {sessionError.message}
            </Alert>
          ) : null}
          <Tabs defaultValue="password" keepMounted={false}>
            <Tabs.List grow mb="md">
              <Tabs.Tab value="password" leftSection={<IconUser size={14} />}>
                With a password
              </Tabs.Tab>
              <Tabs.Tab value="token" leftSection={<IconKey size={14} />}>
                With an API token
              </Tabs.Tab>
            </Tabs.List>
            <Tabs.Panel value="password">
              <form onSubmit={submitPassword} aria-label="Sign in with a password">
                <Stack>
                  <TextInput label="User id" name="user_id" autoComplete="username" required autoFocus value={userId} onChange={(e) => setUserId(e.currentTarget.value)} />
                  <PasswordInput label="Password" name="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.currentTarget.value)} />
                  <Button type="submit" loading={busy} fullWidth>
                    Sign in
                  </Button>
                  <Text size="xs" c="dimmed" ta="center">
                    An operator sets your password with <code>ixo users passwd</code>.
                  </Text>
                </Stack>
              </form>
            </Tabs.Panel>
            <Tabs.Panel value="token">
              <form onSubmit={submitToken} aria-label="Sign in with an API token">
                <Stack>
                  <PasswordInput label="API token" name="token" autoComplete="off" required placeholder="ixo_…" value={token} onChange={(e) => setToken(e.currentTarget.value)} />
                  <Button type="submit" loading={busy} fullWidth>
                    Sign in with the token
                  </Button>
                  <Text size="xs" c="dimmed" ta="center">
                    For operators: a token with the operator scope (<code>ixo tokens create --user NAME --scope user --scope operator</code>) opens the operator console. It is kept in this tab only.
                  </Text>
                </Stack>
              </form>
            </Tabs.Panel>
          </Tabs>
        </Stack>
      </Paper>
    </Center>
  );
}
