/**
 * Identifier rules, one copy for every side: the gateway (token claims and
 * handshake parameters), the router (push API and bus messages), the SDK and
 * the load tools. docs/protocol.md §2.4 is the prose form.
 *
 * Why these rules: an identifier becomes a Redis key, a NATS subject or
 * header, a log field and a JSON string. Each of those layers must see the
 * same string the caller sent, so everything not representable unchanged is
 * refused at the edge: ill-formed UTF-16 (a lone surrogate is silently turned
 * into U+FFFD by UTF-8 encoders, so "\ud800x" and "\ufffdx" would share a
 * user's inbox), control characters (they reach headers and logs raw), and
 * for user ids whitespace (invisible, and the gateway always refused it).
 *
 * Written as plain loops rather than Unicode-property regexps: the module is
 * bundled into k6 scripts, whose engine lacks some regexp features.
 * Lengths count Unicode code points (what users call characters).
 */

export const ID_LIMITS = Object.freeze({
  /** JWT `sub`, push recipients, presence/kick path and body. */
  userMaxChars: 128,
  /** JWT `did`, `device` handshake parameter, kick body. */
  deviceMaxChars: 64,
  /** Resume session ids (`hello.session`, `session` handshake parameter). */
  sessionMaxChars: 64,
  /** Upstream `send.topic` (becomes part of a NATS subject). */
  topicMaxChars: 128,
  /** Message ids, idempotency keys, upstream `send.id`. */
  messageIdMaxChars: 128,
  /** Channel names (become a NATS subject tail, a Redis hash tag and a uWS topic). */
  channelMaxChars: 128,
});

/**
 * The broadcast channel: every connection is subscribed to it, nobody can
 * name it in a token or a subscribe call (`$` is outside the channel rule),
 * and only `POST /v1/broadcast` (or a publish naming it) writes to it.
 */
export const BROADCAST_CHANNEL = '$all';

/** Human-readable rules, used in error messages and docs. */
export const ID_RULES = Object.freeze({
  user: `1-${ID_LIMITS.userMaxChars} characters of well-formed Unicode, no whitespace or control characters`,
  device: `1-${ID_LIMITS.deviceMaxChars} characters of A-Z a-z 0-9 . _ -`,
  session: `1-${ID_LIMITS.sessionMaxChars} characters of A-Z a-z 0-9 _ -`,
  topic: `1-${ID_LIMITS.topicMaxChars} characters: words of A-Z a-z 0-9 _ - joined by single dots`,
  messageId: `1-${ID_LIMITS.messageIdMaxChars} characters of well-formed Unicode, no control characters`,
  channel: `1-${ID_LIMITS.channelMaxChars} characters: words of A-Z a-z 0-9 _ - : @ joined by single dots`,
});

/** C0, DEL and C1 controls (Unicode general category Cc). */
function isControl(c: number): boolean {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

/** What JavaScript's `\s` matches beyond the controls above (Unicode White_Space, plus U+FEFF). */
function isSpace(c: number): boolean {
  return c === 0x20 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029
    || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/**
 * Checks a free-text identifier; returns the reason it is refused, or
 * undefined when it is fine. Counts code points, refuses lone surrogates and
 * control characters, and whitespace unless `spaces`.
 */
function checkText(v: unknown, maxChars: number, spaces: boolean): string | undefined {
  if (typeof v !== 'string') return 'must be a string';
  if (v.length === 0) return 'must not be empty';
  if (v.length > maxChars * 2) return `must be at most ${maxChars} characters`;
  let chars = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = i + 1 < v.length ? v.charCodeAt(i + 1) : 0;
      if (next < 0xdc00 || next > 0xdfff) return 'must be well-formed Unicode (lone surrogate)';
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return 'must be well-formed Unicode (lone surrogate)';
    } else if (isControl(c)) {
      return 'must not contain control characters';
    } else if (!spaces && isSpace(c)) {
      return 'must not contain whitespace';
    }
    chars++;
  }
  return chars > maxChars ? `must be at most ${maxChars} characters` : undefined;
}

function checkAscii(v: unknown, maxChars: number, allowed: (c: number) => boolean, rule: string): string | undefined {
  if (typeof v !== 'string') return 'must be a string';
  if (v.length === 0 || v.length > maxChars) return `must be ${rule}`;
  for (let i = 0; i < v.length; i++) if (!allowed(v.charCodeAt(i))) return `must be ${rule}`;
  return undefined;
}

const isWordChar = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f /* _ */ || c === 0x2d /* - */;
const isDeviceChar = (c: number): boolean => isWordChar(c) || c === 0x2e /* . */;

/** User id (`sub`, push recipients). Returns why it is refused, or undefined. */
export function checkUserId(v: unknown): string | undefined {
  return checkText(v, ID_LIMITS.userMaxChars, false);
}

/** Device id (`did`, `device`). */
export function checkDeviceId(v: unknown): string | undefined {
  return checkAscii(v, ID_LIMITS.deviceMaxChars, isDeviceChar, ID_RULES.device);
}

/** Session id a client presents to resume. */
export function checkSessionId(v: unknown): string | undefined {
  return checkAscii(v, ID_LIMITS.sessionMaxChars, isWordChar, ID_RULES.session);
}

/** Message ids, idempotency keys and upstream `send.id`: any visible text, spaces allowed. */
export function checkMessageId(v: unknown): string | undefined {
  return checkText(v, ID_LIMITS.messageIdMaxChars, true);
}

/**
 * Upstream topic: it becomes the tail of the NATS subject `<prefix>.upstream.<topic>`,
 * where an empty token (`.`, `a..b`, `.x`, `x.`) is an invalid subject nobody can
 * subscribe to, and `*` / `>` would be wildcards. So: dot-separated non-empty words.
 */
export function checkTopic(v: unknown): string | undefined {
  return checkDotted(v, ID_LIMITS.topicMaxChars, isWordChar, ID_RULES.topic);
}

/** Dot-separated non-empty words of `allowed` characters. */
function checkDotted(v: unknown, maxChars: number, allowed: (c: number) => boolean, rule: string): string | undefined {
  if (typeof v !== 'string') return 'must be a string';
  if (v.length === 0 || v.length > maxChars) return `must be ${rule}`;
  let word = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x2e /* . */) {
      if (word === 0) return `must be ${rule}`;
      word = 0;
    } else if (allowed(c)) word++;
    else return `must be ${rule}`;
  }
  return word === 0 ? `must be ${rule}` : undefined;
}

const isChannelChar = (c: number): boolean => isWordChar(c) || c === 0x3a /* : */ || c === 0x40 /* @ */;

/**
 * Channel name (`room:42`, `news.eu`, `user@tenant`). Dots split NATS subject
 * tokens, so no empty word; `*`, `>`, spaces, braces and `$` are outside the
 * rule (wildcards, Redis hash tags, the reserved BROADCAST_CHANNEL).
 */
export function checkChannel(v: unknown): string | undefined {
  return checkDotted(v, ID_LIMITS.channelMaxChars, isChannelChar, ID_RULES.channel);
}

/** A channel a publish may name: any channel, or the broadcast channel. */
export function checkPublishChannel(v: unknown): string | undefined {
  return v === BROADCAST_CHANNEL ? undefined : checkChannel(v);
}

export const isChannel = (v: unknown): v is string => checkChannel(v) === undefined;
export const isUserId = (v: unknown): v is string => checkUserId(v) === undefined;
export const isDeviceId = (v: unknown): v is string => checkDeviceId(v) === undefined;
export const isSessionId = (v: unknown): v is string => checkSessionId(v) === undefined;
export const isTopic = (v: unknown): v is string => checkTopic(v) === undefined;
export const isMessageId = (v: unknown): v is string => checkMessageId(v) === undefined;
