import { Badge, Card, Group, SegmentedControl, Stack, Text } from "@mantine/core";
import { IconBell } from "@tabler/icons-react";
import { useState } from "react";
import { PageHeader } from "../components/PageHeader";
import { Empty, LoadState } from "../components/States";
import { get } from "../lib/api";
import { conditionText, price, when } from "../lib/format";
import type { Alert } from "../lib/types";
import { useLoad } from "../lib/useLoad";

/** Why the alert fired, in words, from what the rule engine recorded with it. */
export function explain(alert: Alert): string {
  const c = alert.condition;
  const at = price(alert.price);
  const threshold = price(c.threshold);
  switch (c.kind) {
    case "above":
      return `${alert.symbol} traded at ${at}, above your threshold of ${threshold}.`;
    case "below":
      return `${alert.symbol} traded at ${at}, below your threshold of ${threshold}.`;
    case "crosses_above":
    case "crosses_below": {
      const dir = c.kind === "crosses_above" ? "up" : "down";
      const from = alert.previous_price ? ` from ${price(alert.previous_price)}` : "";
      return `${alert.symbol} crossed ${threshold} going ${dir}${from} to ${at}.`;
    }
    case "pct_change": {
      const change = alert.change_pct ? `${Number(alert.change_pct).toFixed(2)} %` : `at least ${threshold} %`;
      const ref = alert.reference_price ? ` from ${price(alert.reference_price)}${alert.reference_time ? ` (${when(alert.reference_time)})` : ""}` : "";
      return `${alert.symbol} moved ${change}${ref} to ${at} within ${c.window_s ?? "?"} s.`;
    }
    default:
      return `${alert.symbol} at ${at}: ${conditionText(c)}.`;
  }
}

export function AlertsPage() {
  const [limit, setLimit] = useState("100");
  const alerts = useLoad((signal) => get<Alert[]>("/v1/alerts", { limit }, signal), [limit], { refreshMs: 15000 });
  const list = alerts.data ?? [];
  return (
    <>
      <PageHeader
        title="Alerts"
        description="Every time one of your rules fired, newest first, with why."
        actions={<SegmentedControl size="xs" value={limit} onChange={setLimit} data={["50", "100", "500"]} aria-label="How many" />}
      />
      <LoadState error={alerts.error} loading={alerts.loading} hasData={alerts.data !== null} what="Alerts" route="GET /v1/alerts" onRetry={alerts.reload} />
      {alerts.data && list.length === 0 ? <Empty>No alert has fired yet.</Empty> : null}
      <Stack gap="sm" data-testid="alerts-list">
        {list.map((alert) => (
          <Card key={alert.match_id} withBorder radius="md" padding="sm">
            <Group justify="space-between" wrap="nowrap" align="flex-start">
              <Group gap="sm" wrap="nowrap" align="flex-start">
                <IconBell size={20} color="var(--mantine-color-orange-6)" style={{ marginTop: 2 }} />
                <Stack gap={2}>
                  <Group gap="xs">
                    <Text fw={600}>{alert.symbol}</Text>
                    <Badge variant="light" size="sm">
                      {conditionText(alert.condition)}
                    </Badge>
                  </Group>
                  <Text size="sm">{explain(alert)}</Text>
                  <Text size="xs" c="dimmed" className="mono">
                    rule {alert.rule_id} · tick {alert.tick_id}
                    {alert.tick_topic ? ` · ${String(alert.tick_topic)}[${String(alert.tick_partition)}]@${String(alert.tick_offset)}` : ""}
                  </Text>
                </Stack>
              </Group>
              <Stack gap={0} align="flex-end">
                <Text fw={600}>{price(alert.price)}</Text>
                <Text size="xs" c="dimmed" style={{ whiteSpace: "nowrap" }}>
                  {when(alert.triggered_at)}
                </Text>
              </Stack>
            </Group>
          </Card>
        ))}
      </Stack>
    </>
  );
}
