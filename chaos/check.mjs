#!/usr/bin/env node
/**
 * The checker on its own, over a finished run: node chaos/check.mjs <run folder>/run.json
 * (run.mjs writes run.json: brokers, topic, database, Redis, acked logs, fault times, row samples;
 * the private servers must be up, e.g. after `node chaos/run.mjs --keep-infra`).
 */
import { readFileSync } from 'node:fs';
import { check } from './lib/checker.mjs';

const path = process.argv[2];
if (!path) {
  process.stderr.write('usage: node chaos/check.mjs <run folder>/run.json\n');
  process.exit(2);
}
const result = await check(JSON.parse(readFileSync(path, 'utf8')));
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
process.exit(result.ok ? 0 : 1);
