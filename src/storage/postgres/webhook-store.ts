// Webhook deliveries on PostgreSQL: the portable store, with the claim taken under `FOR UPDATE SKIP
// LOCKED` so replicas delivering at once each take a different due delivery instead of colliding.

import { sql } from 'kysely';
import type { WebhookDelivery } from '../../core/ports/webhook-store.js';
import type { WebhookDeliveriesTable } from '../sql/schema.js';
import { SqlWebhookStore } from '../sql/webhook-store.js';

export class PostgresWebhookStore extends SqlWebhookStore {
  override async claimDue(owner: string, now: number, leaseUntil: number): Promise<WebhookDelivery | undefined> {
    const due = sql`d.state = 'pending' AND d.next_attempt_at <= ${now} AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ${now})`;
    const result = await sql<WebhookDeliveriesTable>`
      WITH candidate AS (
        SELECT d.id FROM webhook_deliveries AS d WHERE ${due}
        ORDER BY d.next_attempt_at LIMIT 1
        FOR UPDATE OF d SKIP LOCKED
      )
      UPDATE webhook_deliveries AS d SET lease_owner = ${owner}, lease_expires_at = ${leaseUntil}
      FROM candidate WHERE d.id = candidate.id AND ${due}
      RETURNING d.*`.execute(this.database);
    const row = result.rows[0];
    return row === undefined ? undefined : this.toDelivery(row);
  }
}
