/** Labelled counters kept as plain maps on hot paths; the metrics modules read them at scrape time. */
export function bump(m: Map<string, number>, key: string, n = 1): void {
  m.set(key, (m.get(key) ?? 0) + n);
}
