/**
 * Refuses a query that would scan too much before it runs: the planner's estimate of the rows its
 * scans read (EXPLAIN, which plans without executing). A scan inside a nested loop counts once per
 * outer row. Estimates can be off; the statement timeout (PostgreSQL) and LIMIT are the backstops.
 */
import type pg from 'pg';
import type { Query } from './queries.js';

interface PlanNode {
  'Node Type': string;
  'Plan Rows': number;
  Plans?: PlanNode[];
}

/** Rows the plan's scans read, by the planner's estimate. */
export function scannedRows(node: PlanNode, loops = 1): number {
  const children = node.Plans ?? [];
  if (children.length === 0) return node['Plan Rows'] * loops;
  if (node['Node Type'] === 'Nested Loop' && children.length === 2) {
    const [outer, inner] = children as [PlanNode, PlanNode];
    return scannedRows(outer, loops) + scannedRows(inner, loops * Math.max(1, outer['Plan Rows']));
  }
  return children.reduce((n, child) => n + scannedRows(child, loops), 0);
}

export async function estimateScan(client: pg.ClientBase, query: Query): Promise<number> {
  const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (FORMAT JSON) ${query.text}`, query.values);
  const plan = rows[0]?.['QUERY PLAN']?.[0]?.Plan;
  return plan === undefined ? 0 : Math.round(scannedRows(plan));
}
