#!/usr/bin/env node
// Compiler bridge: answers py-solc-x (and so Brownie and Slither) as a native `solc` would,
// through solc-js, the official compiler built to WebAssembly. Only the two calls py-solc-x
// makes are supported: `--version` and `--standard-json` (JSON on stdin, JSON on stdout).
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const args = process.argv.slice(2);

function findImports(importPath) {
  // Brownie passes remapped absolute paths and project-relative paths; read them from disk. A relative remapping
  // (brownie-config.yaml's `@openzeppelin=node_modules/@openzeppelin`) is also tried against this project's root,
  // so that compiling works from any working directory.
  const root = path.resolve(__dirname, '..');
  for (const candidate of [importPath, path.resolve(process.cwd(), importPath), path.resolve(root, importPath)]) {
    try {
      return { contents: fs.readFileSync(candidate, 'utf8') };
    } catch (_) { /* try the next candidate */ }
  }
  return { error: `File not found: ${importPath}` };
}

if (args.includes('--version')) {
  fs.writeSync(1, `solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}

if (args.includes('--standard-json')) {
  const input = fs.readFileSync(0, 'utf8');
  const output = solc.compile(input, { import: findImports });
  // fs.writeSync, not process.stdout.write: the latter is cut at 64 KiB when the process exits.
  const buf = Buffer.from(output, 'utf8');
  let off = 0;
  while (off < buf.length) off += fs.writeSync(1, buf, off, buf.length - off);
  process.exit(0);
}

fs.writeSync(2, 'solc-bridge: only --version and --standard-json are supported\n');
process.exit(2);
