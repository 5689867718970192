/**
 * The real dependencies of one host's activities: the CRIU driver, the S3 layer store and the
 * host's staging dir. The only module that knows how the ports of activities/deps.ts map onto
 * src/criu and src/storage.
 */
import { readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ActivityDeps, CriuPort, StorePort } from '../activities/deps';
import type { FerryConfig } from '../config/config';
import { PAGE_SIZE, checkCriu, dump, preDump, readDumpableBytes, readProcessIdentity, restore, sameProcess, type DriverOptions } from '../criu';
import { checkProcessAllowed, loadHostPolicy } from '../policy';
import { newManifest, openLayerStore, type LayerStore } from '../storage';
import { CheckpointNotFound, ManifestInvalid, isError } from '../core';

/** Staging dir of one host: several host names on one machine never share files. */
export function hostStagingDir(config: FerryConfig, host: string): string {
  return path.join(config.stagingDir, host);
}

/**
 * The CRIU port of one host, bound to the host policy (FERRY_HOST_POLICY, or the default: the
 * worker's own uid, images only under this host's staging dir). The policy is read once, here:
 * an invalid policy file throws ConfigError, which stops the worker before it polls for work.
 */
export function criuPort(config: FerryConfig, host: string): CriuPort {
  const policy = loadHostPolicy(config.hostPolicyFile, { imageRoots: [hostStagingDir(config, host)] });
  // The policy is the driver's TargetGuard: criu/ asks it before every step without importing it.
  const opts: DriverOptions = { criuBinary: config.criuBinary, policy };
  return {
    check: () => checkCriu(opts),
    // Refuses a process outside the policy before the workflow does anything else with it.
    identify: async (pid) => checkProcessAllowed(policy, 'dump', pid),
    describe: async (pid) => readProcessIdentity(pid),
    // Called after identify() allowed the process; reads only its memory counters.
    dumpableBytes: async (pid) => readDumpableBytes(pid),
    preDump: (req) => preDump(req, opts),
    dump: (req) => dump(req, opts),
    // CRIU's "status-ready" comes once the lazy page server listens, just before it accepts.
    lazyDump: (req, serving) => dump({ ...req, lazyPages: true }, { ...opts, hooks: { any: async (n) => (n.name === 'status-ready' ? serving() : undefined) } }),
    restore: (req) => restore(req, opts),
    isAlive: async (identity) => {
      try {
        return sameProcess(identity, await readProcessIdentity(identity.pid));
      } catch {
        return false;
      }
    },
  };
}

async function treeBytes(dirs: string[]): Promise<number> {
  let total = 0;
  for (const dir of dirs) {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.isFile()) total += (await stat(path.join(dir, entry.name))).size;
    }
  }
  return total;
}

export function storePort(store: LayerStore): StorePort {
  return {
    async putLayer(checkpointId, layer, dir, opts) {
      const { record, report } = await store.putLayerReport(checkpointId, layer, dir, opts);
      return { record, bytesSent: report.bytesSent };
    },
    async commit(checkpointId, layers, baseLayers, warm) {
      const manifest = newManifest(checkpointId, baseLayers);
      manifest.layers = layers;
      if (warm) manifest.warm = warm;
      const last = layers[layers.length - 1];
      manifest.complete = last !== undefined && last.kind === 'dump';
      manifest.completedAt = manifest.complete ? new Date().toISOString() : null;
      await store.writeManifest(manifest);
      return { layers: layers.length, complete: manifest.complete };
    },
    async pullChain(checkpointId, intoDir, opts) {
      const r = await store.pullChain(checkpointId, intoDir, opts);
      return { ...r, bytes: await treeBytes(r.downloaded.map((position) => r.layerDirs[position])) };
    },
    async exists(checkpointId) {
      try {
        await store.readManifest(checkpointId);
        return true;
      } catch (err) {
        if (isError(err, CheckpointNotFound)) return false;
        // An unreadable or invalid manifest is still something stored under the id.
        if (isError(err, ManifestInvalid)) return true;
        throw err;
      }
    },
    claim(checkpointId, owner) {
      return store.claimCheckpointId(checkpointId, owner);
    },
    async discard(checkpointId) {
      try {
        await store.delete(checkpointId);
      } catch (err) {
        // No manifest means nothing was committed: orphan blobs are left to `ferry gc`.
        if (!isError(err, CheckpointNotFound)) throw err;
      }
    },
  };
}

export function createHostDependencies(config: FerryConfig, host: string): ActivityDeps {
  // openLayerStore applies the deployment's encryption and server-side-encryption settings; the
  // key itself never enters activity inputs or results.
  const store = openLayerStore(config, { host });
  return {
    host,
    stagingDir: hostStagingDir(config, host),
    criu: criuPort(config, host),
    store: storePort(store),
    kernel: os.release(),
    pageSize: PAGE_SIZE,
    direct: config.directAddress ?? { host: defaultDirectHost(), port: 0 },
  };
}

/**
 * The address a worker receives direct transfers on when none is configured: this machine's first
 * non-loopback IPv4 address (what a peer on the same network most likely reaches), else loopback.
 */
export function defaultDirectHost(): string {
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
