/**
 * The engine's Redis keys, all under ALERT_REDIS_PREFIX (default `alerts:`); one prefix per
 * engine group (the state belongs to the group's committed position).
 *
 * | key | type | content |
 * | --- | --- | --- |
 * | `{p}car:{car_id}` | STRING | the car's rule state (JSON: newest timestamps, recent ids, each rule's memory, its active alerts) |
 * | `{p}offset:{topic}:{partition}` | STRING | next fleet-events offset the states above include |
 * | `{p}outbox:{topic}:{partition}` | LIST | alert events decided with that state, not yet confirmed on fleet-alerts and in fleet_alerts |
 * | `{p}outbox:api` | LIST | acknowledgements, likewise |
 * | `{p}outbox:db` | LIST | every alert event not yet confirmed in fleet_alerts (written apart, so the database never holds up fleet-alerts) |
 * | `{p}alert:{alert_id}` | HASH | one alert: car_id, rule, severity, status (active, cleared), raised_at, updated_at, cleared_at, values, acked_at, acked_by, ack_note |
 * | `{p}open` | SET | alerts not done: active, or cleared and not yet acknowledged |
 * | `{p}car-alerts:{car_id}` | ZSET | the car's 50 most recent alerts by raised_at |
 */
export function alertKeys(prefix: string) {
  return {
    car: (carId: string) => `${prefix}car:${carId}`,
    offset: (topic: string, partition: number) => `${prefix}offset:${topic}:${partition}`,
    outbox: (topic: string, partition: number) => `${prefix}outbox:${topic}:${partition}`,
    apiOutbox: `${prefix}outbox:api`,
    dbOutbox: `${prefix}outbox:db`,
    alert: (id: string) => `${prefix}alert:${id}`,
    open: `${prefix}open`,
    carAlerts: (carId: string) => `${prefix}car-alerts:${carId}`,
  };
}

export type AlertKeys = ReturnType<typeof alertKeys>;

/** Alerts kept per car in `{p}car-alerts:{car_id}`. */
export const CAR_ALERTS_KEPT = 50;
