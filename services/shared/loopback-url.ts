/**
 * Whether a URL stays on this machine: plain http:// is acceptable only there
 * (a sidecar), since whoever sits on the path can read and rewrite it.
 */
export function isLoopbackHttpUrl(url: string): boolean {
  let u: URL;
  try { u = new URL(url); } catch { return false; }
  if (u.protocol !== 'http:') return false;
  const h = u.hostname;
  return h === 'localhost' || h === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
