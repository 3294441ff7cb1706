/**
 * What the JetStream webhook queue and share tests build their cases from:
 * events, putting a turn's events in, and a router whose first ack is lost.
 */
import type { JsMsg } from '@nats-io/jetstream';
import type { JetStreamWebhookQueue } from '../../services/router/webhooks/jetstream-queue.js';
import type { WebhookEvent, WebhookQueue } from '../../services/router/webhooks/core/queue.js';

/** Event `n` of `user` (its share key), a small JSON body. */
export const userEvent = (user: string, n: number): WebhookEvent => ({ id: `msg_${user}_${n}`, type: 'push.offline', createdAt: Date.now(), body: `{"n":${n}}`, key: user });

/** Events of one endpoint, in this turn (one copy each): resolves once all are stored, rejects with the first refusal. */
export const put = (q: WebhookQueue, endpoint: string, ...events: WebhookEvent[]): Promise<void[]> => Promise.all(events.flatMap((e) => q.enqueueEvent(e, [endpoint])));

/** The router's first ack is never sent (written into a connection that died): JetStream hands the message out again. `lost()`: its stream seq. */
export function loseFirstAck(q: JetStreamWebhookQueue): { lost: () => number } {
  const r = q as unknown as { ackSoon(m: JsMsg): void };
  const ackSoon = r.ackSoon.bind(q);
  let lost = 0;
  r.ackSoon = (m) => { if (lost === 0) lost = m.seq; else ackSoon(m); };
  return { lost: () => lost };
}
