import { Card, Stack, Title } from "@mantine/core";
import { DataTable, rowsOf } from "../components/DataTable";
import { PageHeader } from "../components/PageHeader";
import { Empty, LoadState } from "../components/States";
import { get } from "../lib/api";
import { useLoad } from "../lib/useLoad";

const LOG_COLUMNS = ["block_number", "event", "address", "args", "tx_hash", "log_index", "removed"];
const ALERT_COLUMNS = ["alert_id", "symbol", "kind", "threshold", "owner", "active", "tx_hash"];

export function ChainPage() {
  const logs = useLoad((signal) => get<unknown>("/v1/chain/logs", { limit: 100 }, signal), [], { refreshMs: 10000 });
  const alerts = useLoad((signal) => get<unknown>("/v1/chain/alerts", undefined, signal), []);
  const logRows = rowsOf(logs.data, "logs", "items");
  const alertRows = rowsOf(alerts.data, "alerts", "items");
  return (
    <>
      <PageHeader title="Chain" description="Contract events seen on chain (a reorg marks a log removed), and your alerts registered on chain." />
      <Stack>
        <Card withBorder radius="md">
          <Title order={4} mb="sm">
            Your on-chain alerts
          </Title>
          <LoadState error={alerts.error} loading={alerts.loading} hasData={alerts.data !== null} what="On-chain alerts" route="GET /v1/chain/alerts" onRetry={alerts.reload} />
          {alerts.data !== null && alertRows.length === 0 ? <Empty>No alert registered on chain by your wallets.</Empty> : null}
          {alertRows.length > 0 ? <DataTable rows={alertRows} columns={ALERT_COLUMNS} testId="chain-alerts" /> : null}
        </Card>
        <Card withBorder radius="md">
          <Title order={4} mb="sm">
            Chain events
          </Title>
          <LoadState error={logs.error} loading={logs.loading} hasData={logs.data !== null} what="Chain events" route="GET /v1/chain/logs" onRetry={logs.reload} />
          {logs.data !== null && logRows.length === 0 ? <Empty>No contract event seen yet.</Empty> : null}
          {logRows.length > 0 ? <DataTable rows={logRows} columns={LOG_COLUMNS} testId="chain-logs" /> : null}
        </Card>
      </Stack>
    </>
  );
}
