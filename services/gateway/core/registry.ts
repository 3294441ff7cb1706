/**
 * Local index of live connections by user. Most users have one connection,
 * so the value is the Connection itself until a second one arrives (saves an
 * array per user at C100K scale).
 */
import type { Connection } from './connection.js';

const EMPTY: readonly Connection[] = Object.freeze([]);

export class ConnectionRegistry {
  private readonly byUser = new Map<string, Connection | Connection[]>();
  private count = 0;

  get size(): number { return this.count; }

  add(c: Connection): void {
    const cur = this.byUser.get(c.user);
    if (cur === undefined) this.byUser.set(c.user, c);
    else if (Array.isArray(cur)) cur.push(c);
    else this.byUser.set(c.user, [cur, c]);
    this.count++;
  }

  remove(c: Connection): boolean {
    const cur = this.byUser.get(c.user);
    if (cur === undefined) return false;
    if (cur === c) {
      this.byUser.delete(c.user);
    } else if (Array.isArray(cur)) {
      const i = cur.indexOf(c);
      if (i < 0) return false;
      cur.splice(i, 1);
      if (cur.length === 1) this.byUser.set(c.user, cur[0]!);
    } else return false;
    this.count--;
    return true;
  }

  /**
   * Connections of `user` (optionally one device), as a snapshot: callers may
   * close connections while iterating (closing removes them from the registry).
   */
  get(user: string, device?: string): readonly Connection[] {
    const cur = this.byUser.get(user);
    if (cur === undefined) return EMPTY;
    if (!Array.isArray(cur)) return device === undefined || cur.device === device ? [cur] : EMPTY;
    return device === undefined ? cur.slice() : cur.filter((c) => c.device === device);
  }

  /**
   * The user's one connection (of `device`, if set) when it has exactly one
   * here, else undefined (none, or several: use get()). The delivery path's
   * common case, answered without the snapshot array get() allocates.
   */
  only(user: string, device?: string): Connection | undefined {
    const cur = this.byUser.get(user);
    if (cur === undefined || Array.isArray(cur)) return undefined;
    return device === undefined || cur.device === device ? cur : undefined;
  }

  *all(): IterableIterator<Connection> {
    for (const v of this.byUser.values()) {
      if (Array.isArray(v)) yield* v;
      else yield v;
    }
  }
}
