/**
 * FERRY_TRANSFER_LIMIT, measured: one layer (a random file of --size-mib, default 256) pushed to
 * and pulled from a private MinIO on loopback, without a cap and with caps of --caps MiB/s
 * (default "32,96"), side by side in one run. Rounds (default 3) interleave the variants in a
 * rotating order; each variant stores under its own prefix, so no upload finds its blobs already
 * there. Reports medians, the rate each achieved, and that rate over its cap. Writes
 * bench/results/transfer-limit.md (and stdout).
 *
 * Run: node -r ./bench/storage-ts-register.js bench/transfer-limit.ts [--size-mib 256] [--caps 32,96] [--rounds 3]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LayerStore, type LayerInput } from '../src/storage';
import { PrivateMinio } from '../test/helpers/minio';

const MiB = 1024 * 1024;
const BUCKET = 'limit';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1]!;
}

const layer: LayerInput = {
  index: 0,
  kind: 'dump',
  parentIndex: null,
  criuVersion: 'bench',
  kernel: os.release(),
  host: 'bench',
  process: { pid: 1, startTime: 1, bootId: 'bench', comm: 'bench' },
  stats: { frozenTimeUs: 0, memdumpTimeUs: 0, pagesScanned: 0, pagesWritten: 0, pagesSkippedParent: 0 },
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const sizeMiB = Number(arg('--size-mib', '256'));
  const caps = arg('--caps', '32,96').split(',').map(Number);
  const rounds = Number(arg('--rounds', '3'));
  const work = mkdtempSync(path.join(os.tmpdir(), 'ferry-limit-bench-'));
  const minio = new PrivateMinio();
  await minio.start();
  try {
    await minio.createBucket(BUCKET);
    const dir = path.join(work, 'layer');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'pages-1.img'), randomBytes(sizeMiB * MiB));
    const variants: Array<{ name: string; capMiBps: number | null }> = [{ name: 'no cap', capMiBps: null }, ...caps.map((c) => ({ name: `cap ${c} MiB/s`, capMiBps: c }))];
    const times = new Map(variants.map((v) => [v.name, { up: [] as number[], down: [] as number[] }]));
    for (let r = 0; r < rounds; r++) {
      const order = variants.map((_, i) => variants[(i + r) % variants.length]!);
      for (const v of order) {
        const prefix = `r${r}-${v.name.replace(/\W+/g, '')}`;
        const store = new LayerStore({
          client: minio.client(),
          bucket: BUCKET,
          prefix,
          encryptionKey: null,
          ...(v.capMiBps !== null ? { bandwidthBytesPerSecond: v.capMiBps * MiB } : {}),
        });
        const t0 = performance.now();
        const record = await store.putLayer('bench', layer, dir);
        const t1 = performance.now();
        const into = path.join(work, `pull-${prefix}`);
        mkdirSync(into);
        await store.writeManifest({ formatVersion: 1, checkpointId: 'bench', createdAt: new Date().toISOString(), complete: true, completedAt: new Date().toISOString(), baseLayers: [], layers: [record] });
        const t2 = performance.now();
        await store.pullChain('bench', into);
        const t3 = performance.now();
        rmSync(into, { recursive: true, force: true });
        times.get(v.name)!.up.push(t1 - t0);
        times.get(v.name)!.down.push(t3 - t2);
        process.stderr.write(`round ${r + 1} ${v.name}: up ${(t1 - t0).toFixed(0)} ms, down ${(t3 - t2).toFixed(0)} ms\n`);
      }
    }
    const rate = (ms: number): number => sizeMiB / (ms / 1000);
    const lines = [
      '# Transfer limit (FERRY_TRANSFER_LIMIT)',
      '',
      `Written by \`node -r ./bench/storage-ts-register.js bench/transfer-limit.ts --size-mib ${sizeMiB} --caps ${caps.join(',')} --rounds ${rounds}\` (${new Date().toISOString()}).`,
      `One ${sizeMiB} MiB layer (random bytes) to and from a private MinIO on loopback; ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the end. Medians of ${rounds} rounds, variants interleaved.`,
      '',
      '| variant | upload ms | upload MiB/s | download ms | download MiB/s | upload rate / cap | download rate / cap |',
      '|---|---|---|---|---|---|---|',
      ...variants.map((v) => {
        const t = times.get(v.name)!;
        const up = median(t.up);
        const down = median(t.down);
        const ratio = (ms: number): string => (v.capMiBps === null ? '-' : (rate(ms) / v.capMiBps).toFixed(2));
        return `| ${v.name} | ${up.toFixed(0)} | ${rate(up).toFixed(1)} | ${down.toFixed(0)} | ${rate(down).toFixed(1)} | ${ratio(up)} | ${ratio(down)} |`;
      }),
      '',
    ];
    const out = lines.join('\n');
    process.stdout.write(out);
    writeFileSync(path.join(__dirname, 'results', 'transfer-limit.md'), out);
  } finally {
    await minio.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
