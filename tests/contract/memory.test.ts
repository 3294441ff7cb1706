/** Runs the store contracts against the in-memory implementations (time on a ManualClock). */
import { ManualClock } from '../../services/shared/clock.js';
import { MemoryInbox } from '../../services/router/stores/memory/inbox.js';
import { MemorySessions } from '../../services/router/stores/memory/sessions.js';
import { MemoryPresence } from '../../services/router/stores/memory/presence.js';
import { inboxContract } from './inbox.contract.js';
import { sessionsContract } from './sessions.contract.js';
import { presenceContract } from './presence.contract.js';
import { pushStoreContract } from './push-store.contract.js';
import { composePushStore } from '../../services/router/core/push-store.js';
import { MemoryPushStore } from '../../services/router/stores/memory/push-store.js';
import { MemoryChannelHistory } from '../../services/router/stores/memory/channel-history.js';
import { channelHistoryContract } from './channel-history.contract.js';
import { channelOccupancyContract } from './channel-occupancy.contract.js';
import { MemoryChannelOccupancy } from '../../services/router/stores/memory/channel-occupancy.js';
import { resumeReadContract } from './resume-read.contract.js';
import { composeResumeRead } from '../../services/router/core/resume-read.js';

function manual(): { clock: ManualClock; advance(ms: number): Promise<void> } {
  const clock = new ManualClock(1000);
  return { clock, advance: async (ms) => clock.advance(ms) };
}

inboxContract('memory', async (limits) => {
  const { clock, advance } = manual();
  // A memory store forgets everything when its process restarts: a new instance is that restart.
  return { inbox: new MemoryInbox({ clock, ...limits }), advance, wipe: async () => new MemoryInbox({ clock, ...limits }) };
});

sessionsContract('memory', async (limits) => {
  const { clock, advance } = manual();
  return { sessions: new MemorySessions({ clock, ...limits }), advance };
});

presenceContract('memory', async (limits) => {
  const { clock, advance } = manual();
  return { presence: new MemoryPresence({ clock, ...limits }), advance };
});

pushStoreContract('memory (inbox and presence composed)', async (limits) => {
  const { clock, advance } = manual();
  const inbox = new MemoryInbox({ clock });
  const presence = new MemoryPresence({ clock, ...limits });
  return { store: composePushStore(inbox, presence), inbox, presence, advance };
});

pushStoreContract('memory (MemoryPushStore, synchronous)', async (limits) => {
  const { clock, advance } = manual();
  const inbox = new MemoryInbox({ clock });
  const presence = new MemoryPresence({ clock, ...limits });
  return { store: new MemoryPushStore(inbox, presence), inbox, presence, advance };
});

channelHistoryContract('memory', async (limits) => {
  const { clock, advance } = manual();
  const history = new MemoryChannelHistory({ clock, ...limits });
  return { history, advance, lose: async () => history.lose() };
});

channelOccupancyContract('memory', async () => new MemoryChannelOccupancy());
resumeReadContract('memory (inbox calls composed)', async (limits) => {
  const { clock, advance } = manual();
  const inbox = new MemoryInbox({ clock, ...limits });
  return { resume: composeResumeRead(inbox), inbox, advance };
});
