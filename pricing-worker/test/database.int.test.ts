/**
 * The worker's connection handling on a real PostgreSQL: a server that drops our connection while
 * a batch holds it between two queries (what a restart does) fails that batch, and the next one
 * gets a new connection. Without the listener in withDb the drop is an unhandled 'error' event
 * that kills the process.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { createLogger } from '@greenlane/common';
import { testServers } from '@greenlane/common/testing';
import { openDatabase } from '../src/database.js';
import { freshDatabase } from './helpers.js';

const log = createLogger('database-test', { LOG_LEVEL: 'silent' });

test('a connection dropped between two queries of a batch fails the batch, not the process', async () => {
  const fresh = await freshDatabase();
  const database = await openDatabase({ target: { url: fresh.url, embedded: false }, schema: undefined, connections: 2, log });
  const admin = new pg.Client({ connectionString: testServers.postgresUrl });
  await admin.connect();
  try {
    let droppedPid = 0;
    const failure = await database
      .withDb(async (client) => {
        const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        droppedPid = rows[0]!.pid;
        // No query of ours is running: the FATAL arrives as an 'error' event on the client.
        await admin.query('SELECT pg_terminate_backend($1)', [droppedPid]);
        await new Promise((resolve) => setTimeout(resolve, 200));
        await client.query('SELECT 1');
      })
      .then(() => undefined, (error: Error) => error);
    assert.ok(failure instanceof Error, 'the batch on the dropped connection failed');

    const pid = await database.withDb(async (client) => (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
    assert.ok(pid > 0 && pid !== droppedPid, `the next batch runs on a new connection (${pid} after ${droppedPid})`);
    assert.ok(await database.ping(), 'the database answers again');
  } finally {
    await admin.end();
    await database.close();
    await fresh.drop();
  }
});

test.run();
