/**
 * `KeyValueStorage` in a JSON file, for Node apps that want learned heartbeat
 * intervals to survive restarts. Node-only (node entry). Writes go to a
 * temporary file first and are renamed over the target, so a crash never
 * leaves a torn file; writes from one instance are serialised.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { KeyValueStorage } from './storage.js';

export class FileStorage implements KeyValueStorage {
  private data: Record<string, string> | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {}

  async getItem(key: string): Promise<string | null> {
    const d = await this.load();
    return Object.prototype.hasOwnProperty.call(d, key) ? d[key] ?? null : null;
  }

  setItem(key: string, value: string): Promise<void> {
    const next = this.chain.then(async () => {
      const d = await this.load();
      d[key] = value;
      await mkdir(path.dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(d));
      await rename(tmp, this.file);
    });
    this.chain = next.catch(() => {});
    return next;
  }

  private async load(): Promise<Record<string, string>> {
    if (this.data !== undefined) return this.data;
    let d: Record<string, string> = {};
    try {
      const parsed: unknown = JSON.parse(await readFile(this.file, 'utf8'));
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
        d = Object.fromEntries(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string'));
      }
    } catch {
      // Missing or corrupt: start empty.
    }
    this.data ??= d;
    return this.data;
  }
}
