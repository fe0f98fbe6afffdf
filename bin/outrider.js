#!/usr/bin/env node
// The published entry point: the compiled build when present (npm run build, the image),
// else the TypeScript sources through Node 24's type stripping (a source checkout).
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/proxy/cli.js', import.meta.url);
const { main } = await import(existsSync(compiled) ? compiled.href : new URL('../proxy/cli.ts', import.meta.url).href);
await main(process.argv.slice(2));
