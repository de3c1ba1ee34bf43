#!/usr/bin/env node
/**
 * The checker on its own, over a finished run: node chaos/check.mjs <run folder>/run.json
 * (run.mjs writes run.json: brokers, topic, database, Redis, acked logs, fault times, row samples;
 * the private servers must be up, e.g. after `node chaos/run.mjs --keep-infra`).
 */
import { readFileSync } from 'node:fs';
import { check } from './lib/checker.mjs';
import { checkAlerts } from './lib/alerts-check.mjs';
import { checkPresence } from './lib/presence-check.mjs';

const path = process.argv[2];
if (!path) {
  process.stderr.write('usage: node chaos/check.mjs <run folder>/run.json\n');
  process.exit(2);
}
const run = JSON.parse(readFileSync(path, 'utf8'));
const result = await check(run);
// The fault runs' alerts and presence (lib/alerts-check.mjs, lib/presence-check.mjs).
if (run.alerts) result.alerts = await checkAlerts(run);
if (run.presence) result.presence = await checkPresence(run);
result.ok = result.ok && (result.alerts?.ok ?? true) && (result.presence?.ok ?? true);
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
process.exit(result.ok ? 0 : 1);
