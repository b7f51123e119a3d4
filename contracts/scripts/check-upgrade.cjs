#!/usr/bin/env node
// Storage-layout and upgrade-safety check of a new implementation against the deployed one,
// with OpenZeppelin's upgrades-core (the validation behind `npx @openzeppelin/upgrades-core
// validate`), on two build-info files.
//
// argv:   <new build-info> <new contract> <old build-info> <old contract>
// stdout: one JSON line {"ok": bool, "report": "<upgrades-core's explanation>"}
// exit:   0 compatible, 1 incompatible, 2 the check could not run
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { validateUpgradeSafety } = require('@openzeppelin/upgrades-core');

function report(ok, text, code) {
  process.stdout.write(JSON.stringify({ ok, report: text }) + '\n');
  process.exitCode = code;
}

async function main() {
  const [newInfo, newContract, oldInfo, oldContract] = process.argv.slice(2);
  if (!newInfo || !newContract || !oldInfo || !oldContract) {
    report(false, 'usage: check-upgrade.cjs <new build-info> <new contract> <old build-info> <old contract>', 2);
    return;
  }
  // upgrades-core reads directories of build-info files; the reference directory's name
  // ("previous") prefixes the old contract's name.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ixo-upgrade-check-'));
  try {
    const current = path.join(work, 'current');
    const previous = path.join(work, 'previous');
    fs.mkdirSync(current);
    fs.mkdirSync(previous);
    fs.copyFileSync(newInfo, path.join(current, 'build-info.json'));
    fs.copyFileSync(oldInfo, path.join(previous, 'build-info.json'));
    const result = await validateUpgradeSafety(
      current,
      newContract,
      `previous:${oldContract}`,
      { requireReference: true },
      [previous],
    );
    report(result.ok, result.explain(false), result.ok ? 0 : 1);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => report(false, String((err && err.message) || err), 2));
