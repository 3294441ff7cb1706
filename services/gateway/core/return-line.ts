/**
 * Refused session starts remembered by client (the token's user and device):
 * when each was told to come back. A virtual waiting room's ticket, kept by
 * the gateway instead of the client, so it works for clients that keep
 * nothing (a naive client retrying every second sends no cookie or ticket).
 * AdmissionControl uses it two ways:
 *
 * - a client back at or after its booked time is admitted even when the
 *   session-start limit is full (up to a bounded overshoot), if the
 *   schedule reserved its slot (not one told a wait past the horizon): the timetable
 *   booked it for now, and refusing it again costs it (and the gateway)
 *   another whole handshake and sends it to the back of the line, behind
 *   clients refused after it;
 * - a client back before its time is told the rest of its wait and keeps
 *   its place: nothing new is booked, so clients that ignore Retry-After do
 *   not push the timetable out for everyone else.
 *
 * Bounded: at most `maxEntries` (a refusal beyond that is not remembered:
 * the behaviour without the line), at most `maxPerUser` of them for one user
 * (a token without a device claim lets the client name any device, so one
 * token could otherwise fill the line and the overshoot with made-up
 * devices; counted per user, the counts bounded by the tickets), each kept until `keepMs` after the time
 * it was told to return (a client back later than that is a new arrival).
 * A sweep looks at every ticket: booking order is not expiry order (a start
 * a router shed is told its hint, up to tens of seconds, while the 503s
 * booked after it wait 0.5-10 s), and a sweep that stopped at the first
 * ticket still kept left every expired one behind a long shed in the line,
 * counted in its size and its bound, until that shed expired (~0.8 ms per
 * 100,000 tickets, once a tick). Pure: caller-supplied time (ms, monotonic).
 */
export interface ReturnLineOptions {
  maxEntries: number;
  /** How long a ticket is kept after its time (ms). */
  keepMs: number;
  /** Most tickets one user holds at once (one per device); a refusal beyond it is not remembered. Default: no cap. */
  maxPerUser?: number;
}

/** The line's key for a client: the token's user and the connection's device (neither holds a newline). */
export function returnKey(user: string, device: string): string { return `${user}\n${device}`; }

/** The user part of a `returnKey` (a key without a newline is its own user). */
function userOf(client: string): string {
  const i = client.indexOf('\n');
  return i < 0 ? client : client.slice(0, i);
}

/**
 * `booked`: the return schedule reserved the client's slot. A client told a wait past the schedule's horizon
 * got no slot (it takes one when it returns): back early, it is told the rest of its wait like any other, but
 * on time it is not one the schedule planned for, so it has no claim above the limit.
 */
export interface Ticket { readonly dueAt: number; readonly expiresAt: number; readonly booked: boolean }

export class ReturnLine {
  private readonly tickets = new Map<string, Ticket>();
  /** Tickets held per user (only users holding one: never more entries than `tickets`). */
  private readonly perUser = new Map<string, number>();
  private readonly maxPerUser: number;

  constructor(private readonly o: ReturnLineOptions) { this.maxPerUser = o.maxPerUser ?? Infinity; }

  get size(): number { return this.tickets.size; }

  /** `client`'s ticket, if it holds one still kept at `now`. */
  find(client: string, now: number): Ticket | undefined {
    const t = this.tickets.get(client);
    if (t === undefined) return undefined;
    if (now > t.expiresAt) { this.drop(client); return undefined; }
    return t;
  }

  /** When `client` was told to come back, if it holds a ticket still kept at `now`. */
  dueAt(client: string, now: number): number | undefined { return this.find(client, now)?.dueAt; }

  /**
   * Remembers that `client` was told to return at `dueAt` (`booked`: in a reserved slot). False when the line
   * is full or the client's user already holds `maxPerUser` tickets.
   */
  book(client: string, dueAt: number, booked = true): boolean {
    this.drop(client);
    if (this.tickets.size >= this.o.maxEntries) return false;
    const user = userOf(client);
    const held = this.perUser.get(user) ?? 0;
    if (held >= this.maxPerUser) return false;
    this.perUser.set(user, held + 1);
    this.tickets.set(client, { dueAt, expiresAt: dueAt + this.o.keepMs, booked });
    return true;
  }

  /** `client` holds no ticket and its user holds `maxPerUser`: a refusal of it would not be remembered. */
  userFull(client: string): boolean {
    return !this.tickets.has(client) && (this.perUser.get(userOf(client)) ?? 0) >= this.maxPerUser;
  }

  /** The client got in: its ticket is used up. */
  forget(client: string): void { this.drop(client); }

  /** Drops every expired ticket. */
  sweep(now: number): void {
    for (const [k, t] of this.tickets) if (t.expiresAt < now) this.drop(k);
  }

  private drop(client: string): void {
    if (!this.tickets.delete(client)) return;
    const user = userOf(client);
    const held = this.perUser.get(user) ?? 0;
    if (held <= 1) this.perUser.delete(user); else this.perUser.set(user, held - 1);
  }
}
