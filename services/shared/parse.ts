/**
 * One way to ask a zod schema "is this well-formed, and what is it?" when the
 * caller needs no reason: messages from other services that are counted and
 * dropped when malformed (a gateway's presence event, beacon, ack, resume
 * request on the bus). Requests answered with a reason go through the issue
 * list instead (services/router/schemas.ts `parseWith`).
 */
import type { z } from 'zod';

/** The schema's output for `input` (defaults applied, transforms run), or undefined when it does not match. Never throws for bad input. */
export function parseOrUndefined<S extends z.ZodType>(schema: S, input: unknown): z.output<S> | undefined {
  const r = schema.safeParse(input);
  return r.success ? r.data : undefined;
}
