#!/usr/bin/env node
// Compile with the pinned solcjs through standard JSON and write a build-info file.
//
// stdin:  a complete solc standard JSON input (every source inlined: no import callback)
// argv:   <build-info path to write> <build id>
// stdout: one JSON line {"ok", "solcVersion", "solcLongVersion", "errors": [...], "warnings": n}
// exit:   0 compiled (build-info written), 1 compile errors, 2 bad invocation
//
// The build-info has the Hardhat 2 shape ({_format, id, solcVersion, solcLongVersion, input,
// output}) that OpenZeppelin's upgrades-core reads for its storage-layout checks.
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');

function fail(message) {
  process.stdout.write(JSON.stringify({ ok: false, errors: [message], warnings: 0 }) + '\n');
  process.exit(2);
}

const [outPath, buildId] = process.argv.slice(2);
if (!outPath || !buildId) fail('usage: compile.cjs <build-info path> <build id> < input.json');

let raw;
try {
  raw = fs.readFileSync(0, 'utf8');
  JSON.parse(raw);
} catch (err) {
  fail(`the standard JSON input on stdin is not JSON: ${err.message}`);
}

const output = JSON.parse(solc.compile(raw));
const diagnostics = output.errors || [];
const errors = diagnostics
  .filter((d) => d.severity === 'error')
  .map((d) => (d.formattedMessage || d.message).trim());
const warnings = diagnostics.filter((d) => d.severity !== 'error').length;
const longVersion = solc.version();
const shortVersion = longVersion.split('+')[0];

if (errors.length === 0) {
  const buildInfo = {
    _format: 'hh-sol-build-info-1',
    id: buildId,
    solcVersion: shortVersion,
    solcLongVersion: longVersion,
    input: JSON.parse(raw),
    output,
  };
  fs.mkdirSync(path.dirname(outPath), { recursive: true });
  const tmp = `${outPath}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(buildInfo));
  fs.renameSync(tmp, outPath);
}

process.stdout.write(
  JSON.stringify({
    ok: errors.length === 0,
    solcVersion: shortVersion,
    solcLongVersion: longVersion,
    errors,
    warnings,
  }) + '\n',
);
process.exit(errors.length === 0 ? 0 : 1);
