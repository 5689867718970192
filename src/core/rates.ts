/** Rates as people write them, for settings and flags that cap how fast ferry moves bytes. */

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kib: 1024, kb: 1000, m: 1024 ** 2, mib: 1024 ** 2, mb: 1000 ** 2, g: 1024 ** 3, gib: 1024 ** 3, gb: 1000 ** 3 };

/** "50MiB/s", "800 KiB/s", "1g" or a plain number of bytes per second; null when it is none of those. */
export function parseRate(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*(?:\/\s*s)?\s*$/i.exec(text);
  if (!m) return null;
  const unit = UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) return null;
  const value = Number(m[1]) * unit;
  return value >= 1 && Number.isFinite(value) ? Math.floor(value) : null;
}
