import { Table, Text } from "@mantine/core";

function cell(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** A table of JSON objects whose shape is not fixed yet: the columns are the keys seen. */
export function DataTable({ rows, columns, testId }: { rows: Record<string, unknown>[]; columns?: string[]; testId?: string }) {
  const keys = columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))].slice(0, 10);
  return (
    <Table.ScrollContainer minWidth={Math.max(480, keys.length * 120)}>
      <Table striped highlightOnHover data-testid={testId}>
        <Table.Thead>
          <Table.Tr>
            {keys.map((k) => (
              <Table.Th key={k}>{k.replaceAll("_", " ")}</Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((row, i) => (
            <Table.Tr key={i}>
              {keys.map((k) => (
                <Table.Td key={k}>
                  <Text size="sm" className="clip" title={cell(row[k])}>
                    {cell(row[k])}
                  </Text>
                </Table.Td>
              ))}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

/** The rows of a listing answered as a bare list or as `{<name>: [...]}`. */
export function rowsOf(value: unknown, ...names: string[]): Record<string, unknown>[] {
  if (Array.isArray(value)) return value as Record<string, unknown>[];
  if (value && typeof value === "object") {
    for (const name of names) {
      const found = (value as Record<string, unknown>)[name];
      if (Array.isArray(found)) return found as Record<string, unknown>[];
    }
  }
  return [];
}
