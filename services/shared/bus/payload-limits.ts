/**
 * The size limits a process promises its callers, checked against the NATS
 * server's `max_payload` once connected.
 *
 * Every accepted push, channel message and upstream `send` crosses the bus
 * once, wrapped in an envelope (user, ids, seq or offset, epoch, timestamps,
 * channel name). A limit the server cannot carry is not refused up front: the
 * message is accepted (a push stored, a publish given its offset) and its
 * live delivery then fails on every attempt, so it reaches clients only on
 * resume or gap repair. Refusing to start names the mismatch instead.
 *
 * Servers of one cluster may differ; this checks the one connected to at
 * start. A later reconnect to a smaller one fails such publishes and counts
 * them (`longlink_nats_publish_errors_total`), as before.
 */

/** Room kept for the envelope around a payload at its limit. Identifiers are bounded (≤ 128 characters each, protocol/identifiers.ts). */
export const BUS_ENVELOPE_BYTES = 4096;

/**
 * One problem per limit the server cannot carry with its envelope; none when `serverMax` is unknown. `growth`: how
 * much larger than the limit the payload can be on the bus (2 for JSON text carried as a JSON string: a quote or
 * backslash escapes to two bytes).
 */
export function payloadLimitProblems(serverMax: number | undefined, limits: Readonly<Record<string, number>>, growth = 1): string[] {
  if (serverMax === undefined || !(serverMax > 0)) return [];
  const problems: string[] = [];
  for (const [name, bytes] of Object.entries(limits)) {
    if (growth * bytes + BUS_ENVELOPE_BYTES > serverMax) {
      const fits = Math.max(0, Math.floor((serverMax - BUS_ENVELOPE_BYTES) / growth));
      problems.push(`${name}: ${bytes} bytes${growth > 1 ? ` (up to ${growth} × on the bus, escaped)` : ''} plus ${BUS_ENVELOPE_BYTES} of envelope exceed the NATS server's max_payload (${serverMax}); `
        + `raise max_payload in the NATS config or set ${name} to at most ${fits}`);
    }
  }
  return problems;
}

/** The router's delivery batches and resume pages (maxBusMessageBytes) within what the server carries. */
export function busMessageBytesFor(serverMax: number | undefined, preferred: number): number {
  if (serverMax === undefined || !(serverMax > 0)) return preferred;
  return Math.max(1024, Math.min(preferred, serverMax - BUS_ENVELOPE_BYTES));
}
