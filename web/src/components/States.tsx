import { Alert, Button, Center, Group, Loader, Stack, Text, ThemeIcon, Title } from "@mantine/core";
import { IconAlertTriangle, IconPlugConnectedX } from "@tabler/icons-react";
import type { ReactNode } from "react";
import type { ApiError } from "../lib/api";

/** A screen whose gateway route does not exist yet (404): says so, never crashes. */
export function NotAvailable({ what, route }: { what: string; route: string }) {
  return (
    <Center py="xl" data-testid="not-available">
      <Stack align="center" gap="xs" maw={480}>
        <ThemeIcon size={48} radius="xl" variant="light" color="gray">
          <IconPlugConnectedX size={28} />
        </ThemeIcon>
        <Title order={4} ta="center">{what}: not available on this gateway</Title>
        <Text c="dimmed" ta="center" size="sm">
          The gateway does not answer <code>{route}</code> yet. Update the gateway to a version
          that has it; the rest of the app works without it.
        </Text>
      </Stack>
    </Center>
  );
}

export function ErrorNote({ error, onRetry }: { error: ApiError; onRetry?: () => void }) {
  return (
    <Alert color="red" variant="light" icon={<IconAlertTriangle size={18} />} role="alert">
      <Group justify="space-between" wrap="nowrap">
        <Text size="sm">{error.message}</Text>
        {onRetry ? (
          <Button size="xs" variant="white" color="red" onClick={onRetry}>
            Retry
          </Button>
        ) : null}
      </Group>
    </Alert>
  );
}

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <Center py="xl">
      <Group gap="xs">
        <Loader size="sm" />
        <Text c="dimmed" size="sm">
          {label}
        </Text>
      </Group>
    </Center>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return (
    <Center py="xl">
      <Text c="dimmed" size="sm" ta="center">
        {children}
      </Text>
    </Center>
  );
}

/** Standard handling of a load's outcome: 404 is "not available", other errors a note. */
export function LoadState({
  error,
  loading,
  hasData,
  what,
  route,
  onRetry,
}: {
  error: ApiError | null;
  loading: boolean;
  hasData: boolean;
  what: string;
  route: string;
  onRetry?: () => void;
}) {
  if (error?.notFound) return <NotAvailable what={what} route={route} />;
  if (error) return <ErrorNote error={error} onRetry={onRetry} />;
  if (loading && !hasData) return <Loading />;
  return null;
}
