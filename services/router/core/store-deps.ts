/**
 * The store dependencies the push path (RouterCore) and the gateway events
 * (GatewayEvents) share: the three stores behind which everything durable
 * lives, and the wrapper every call to them goes through. One type, so the
 * two halves of the router cannot drift apart on what "the stores" are
 * (app.ts hands both the same objects).
 */
import type { Inbox } from './inbox.js';
import type { Presence } from './presence.js';
import type { Sessions } from './sessions.js';
import type { StoreCall } from './store-call.js';

export interface StoreDeps {
  inbox: Inbox;
  sessions: Sessions;
  presence: Presence;
  /** Every store call goes through it: counted per operation, failures logged and answered as STORE_UNAVAILABLE (store-call.ts). */
  store: StoreCall;
}
