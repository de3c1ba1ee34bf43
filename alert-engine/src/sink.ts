/**
 * Where alert events go once decided: the fleet-alerts topic (key = car id, acks from all
 * replicas) and the fleet_alerts table. Both are idempotent by event id for their readers (the
 * table by its unique key; consumers of the topic by event_id), so sending an outbox again after a
 * crash is harmless.
 */
import type { Producer } from 'kafkajs';
import type pg from 'pg';
import { insertAlerts } from './db.js';
import type { AlertEvent } from './types.js';

export interface Sink {
  send(events: AlertEvent[]): Promise<number>;
}

export function createSink(opts: { producer: Producer; topic: string; withDb: <T>(fn: (c: pg.ClientBase) => Promise<T>) => Promise<T> }): Sink {
  return {
    async send(events) {
      if (events.length === 0) return 0;
      await opts.producer.send({ topic: opts.topic, acks: -1, messages: events.map((e) => ({ key: e.car_id, value: JSON.stringify(e) })) });
      return opts.withDb((client) => insertAlerts(client, events));
    },
  };
}
