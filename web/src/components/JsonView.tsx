import { ActionIcon, Box, Code, CopyButton, Tooltip } from "@mantine/core";
import { IconCheck, IconCopy } from "@tabler/icons-react";

/** Pretty JSON with a copy button; long values scroll inside the box. */
export function JsonView({ value, maxHeight = 420 }: { value: unknown; maxHeight?: number }) {
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  return (
    <Box pos="relative" maw="100%" style={{ minWidth: 0 }}>
      <Code block style={{ maxHeight, maxWidth: "100%", overflow: "auto", whiteSpace: "pre", fontSize: 12 }} data-testid="json-view">
        {text}
      </Code>
      <CopyButton value={text}>
        {({ copied, copy }) => (
          <Tooltip label={copied ? "Copied" : "Copy JSON"} withArrow>
            <ActionIcon
              variant="subtle"
              color={copied ? "teal" : "gray"}
              onClick={copy}
              pos="absolute"
              top={6}
              right={6}
              aria-label="Copy JSON"
            >
              {copied ? <IconCheck size={16} /> : <IconCopy size={16} />}
            </ActionIcon>
          </Tooltip>
        )}
      </CopyButton>
    </Box>
  );
}
