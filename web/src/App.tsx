import {
  ActionIcon,
  AppShell,
  Badge,
  Burger,
  Group,
  Kbd,
  NavLink,
  ScrollArea,
  Stack,
  Text,
  Title,
  Tooltip,
  useMantineColorScheme,
} from "@mantine/core";
import { useDisclosure, useHotkeys } from "@mantine/hooks";
import {
  IconActivity,
  IconAlarm,
  IconBell,
  IconBook2,
  IconChartLine,
  IconCurrencyEthereum,
  IconListDetails,
  IconLogout,
  IconMessageChatbot,
  IconMoonStars,
  IconRefresh,
  IconRoute,
  IconStack2,
  IconSun,
  IconTrashX,
  IconBroadcast,
} from "@tabler/icons-react";
import { useEffect, type ComponentType, type ReactNode } from "react";
import { Loading } from "./components/States";
import { linkHandler, navigate, usePath } from "./lib/router";
import { useSession } from "./lib/session";
import { AlertsPage } from "./pages/Alerts";
import { ChainPage } from "./pages/Chain";
import { ChatPage } from "./pages/Chat";
import { PricesPage } from "./pages/Prices";
import { RulesPage } from "./pages/Rules";
import { SearchPage } from "./pages/Search";
import { SignInPage } from "./pages/SignIn";
import { DlqPage } from "./pages/ops/Dlq";
import { LagPage } from "./pages/ops/Lag";
import { ReplayPage } from "./pages/ops/Replay";
import { TailPage } from "./pages/ops/Tail";
import { TopicsPage } from "./pages/ops/Topics";
import { TracePage } from "./pages/ops/Trace";

interface Screen {
  path: string;
  label: string;
  icon: ComponentType<{ size?: number; stroke?: number }>;
  page: ComponentType;
  operator?: boolean;
}

// Every path here is a client route the gateway serves index.html for (CLIENT_SECTIONS in
// producers/gateway/_web.py: the first segment of each).
export const SCREENS: Screen[] = [
  { path: "/chat", label: "Chat", icon: IconMessageChatbot, page: ChatPage },
  { path: "/rules", label: "Rules", icon: IconAlarm, page: RulesPage },
  { path: "/alerts", label: "Alerts", icon: IconBell, page: AlertsPage },
  { path: "/prices", label: "Prices", icon: IconChartLine, page: PricesPage },
  { path: "/search", label: "Knowledge", icon: IconBook2, page: SearchPage },
  { path: "/chain", label: "Chain", icon: IconCurrencyEthereum, page: ChainPage },
  { path: "/ops/topics", label: "Topics", icon: IconStack2, page: TopicsPage, operator: true },
  { path: "/ops/tail", label: "Live tail", icon: IconBroadcast, page: TailPage, operator: true },
  { path: "/ops/lag", label: "Consumer lag", icon: IconActivity, page: LagPage, operator: true },
  { path: "/ops/dlq", label: "Dead letters", icon: IconTrashX, page: DlqPage, operator: true },
  { path: "/ops/replay", label: "Replay", icon: IconRefresh, page: ReplayPage, operator: true },
  { path: "/ops/trace", label: "Trace", icon: IconRoute, page: TracePage, operator: true },
];

function NavItem({ screen, active, hotkey, onPick }: { screen: Screen; active: boolean; hotkey?: string; onPick: () => void }) {
  const Icon = screen.icon;
  return (
    <NavLink
      href={screen.path}
      label={screen.label}
      active={active}
      leftSection={<Icon size={18} stroke={1.6} />}
      rightSection={hotkey ? <Kbd size="xs">{hotkey}</Kbd> : null}
      onClick={(event) => {
        linkHandler(screen.path)(event);
        onPick();
      }}
      aria-current={active ? "page" : undefined}
    />
  );
}

function Shell({ children, screens, path }: { children: ReactNode; screens: Screen[]; path: string }) {
  const { me, isOperator, signOut } = useSession();
  const [opened, { toggle, close }] = useDisclosure(false);
  const { colorScheme, setColorScheme } = useMantineColorScheme();
  const user = screens.filter((s) => !s.operator);
  const ops = screens.filter((s) => s.operator);
  useHotkeys(
    screens.slice(0, 9).map((s, i) => [`alt+${i + 1}`, () => navigate(s.path)] as [string, () => void]),
  );
  return (
    <AppShell
      header={{ height: 56 }}
      navbar={{ width: 240, breakpoint: "sm", collapsed: { mobile: !opened } }}
      padding="md"
    >
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Menu" />
            <IconListDetails size={22} color="var(--mantine-color-indigo-6)" />
            <Title order={4}>Impressox</Title>
          </Group>
          <Group gap="xs" wrap="nowrap">
            <Text size="sm" c="dimmed" visibleFrom="xs" data-testid="signed-in-as">
              {me?.display_name || me?.user_id}
            </Text>
            {isOperator ? (
              <Badge variant="light" color="grape" visibleFrom="xs">
                operator
              </Badge>
            ) : null}
            <Tooltip label="Light or dark">
              <ActionIcon
                variant="default"
                aria-label="Toggle colour scheme"
                onClick={() => setColorScheme(colorScheme === "dark" ? "light" : "dark")}
              >
                {colorScheme === "dark" ? <IconSun size={16} /> : <IconMoonStars size={16} />}
              </ActionIcon>
            </Tooltip>
            <Tooltip label="Sign out">
              <ActionIcon variant="default" aria-label="Sign out" onClick={() => void signOut()}>
                <IconLogout size={16} />
              </ActionIcon>
            </Tooltip>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Screens">
        <ScrollArea>
          <Stack gap={2}>
            {user.map((s, i) => (
              <NavItem key={s.path} screen={s} active={path.startsWith(s.path)} hotkey={i < 9 ? `Alt ${i + 1}` : undefined} onPick={close} />
            ))}
            {isOperator ? (
              <>
                <Text size="xs" fw={700} c="dimmed" tt="uppercase" mt="md" mb={4} px="sm">
                  Operator console
                </Text>
                {ops.map((s, i) => {
                  const n = user.length + i + 1;
                  return (
                    <NavItem key={s.path} screen={s} active={path.startsWith(s.path)} hotkey={n <= 9 ? `Alt ${n}` : undefined} onPick={close} />
                  );
                })}
              </>
            ) : null}
          </Stack>
        </ScrollArea>
      </AppShell.Navbar>
      <AppShell.Main id="main">{children}</AppShell.Main>
    </AppShell>
  );
}

export function App() {
  const { me, checking, isOperator } = useSession();
  const path = usePath();
  const screens = SCREENS.filter((s) => !s.operator || isOperator);

  const known = screens.some((s) => path.startsWith(s.path));
  useEffect(() => {
    const hiddenHere = SCREENS.some((s) => path.startsWith(s.path));
    if (!checking && me && !known && !hiddenHere) navigate("/chat", { replace: true });
  }, [checking, me, path, known]);

  if (checking) return <Loading label="Checking your session…" />;
  if (!me) return <SignInPage />;
  const screen = screens.find((s) => path.startsWith(s.path));
  const hidden = SCREENS.find((s) => path.startsWith(s.path) && s.operator && !isOperator);
  let body: ReactNode;
  if (screen) {
    const Page = screen.page;
    body = <Page />;
  } else if (hidden) {
    body = (
      <Stack align="center" py="xl">
        <Title order={3}>Operators only</Title>
        <Text c="dimmed">This screen needs the operator scope.</Text>
      </Stack>
    );
  } else {
    body = <Loading />;
  }
  return (
    <Shell screens={screens} path={path}>
      {body}
    </Shell>
  );
}
