/**
 * Activities of a post-copy ("lazy") migration, on top of a direct link's keys (direct-steps.ts).
 *
 *   target  openPageTunnel   the tunnel's entrance: TLS-PSK for the source, loopback for criu lazy-pages
 *   source  startLazyDump    CRIU's lazy dump; when its page server listens: tunnel exit joined to it,
 *                            non-memory images sent to the target's receiver; returns then, while
 *                            the dump goes on serving pages in this worker
 *   target  restoreProcess   with lazyPagesFrom = the entrance's loopback port (restore-steps.ts)
 *   source  finishLazyDump   waits until CRIU has served the last page (or failed: CRIU then resumed
 *                            the process here)
 *   source  abortLazyDump    cuts the tunnel, which makes CRIU fail the dump and resume the process
 *
 * The running dump lives in this worker's memory, keyed by the session id: a worker that restarts
 * mid-way takes its CRIU with it, and the process with it unless the target has every page.
 */
import { LazyDumpFailed } from '../core';
import { openPageTunnelExit, PageTunnelEntrance, freeTcpPort, pageTunnelPsk, type TunnelEnd } from '../direct/page-tunnel';
import { sendLayers } from '../direct/sender';
import { sessionPsk, type SessionKeyPair } from '../direct/session-keys';
import type { DumpResult } from '../criu/types';
import { mapped, type ActivityContext } from './context';
import { makeStagingDir } from './staging';
import type { DirectSessionInput, LazyDumpFinished, LazyDumpStarted, PageTunnelEndpoint, StartLazyDumpInput } from './types';

const CONNECT_TIMEOUT_MS = 10_000;
/** A tunnel entrance nobody used within this long is closed (the migration went another way). */
const TUNNEL_IDLE_MS = 30 * 60 * 1000;

/** What the direct link's activities hold for a session that the lazy ones need. */
export interface DirectSessions {
  senderKey(sessionId: string): SessionKeyPair | null;
  receiverPsk(sessionId: string): Buffer | null;
}

interface Handed {
  targetImagesDir: string;
  bytes: number;
  handedAtMs: number;
}

interface RunningDump {
  dump: Promise<DumpResult>;
  tunnelEnded: Promise<TunnelEnd> | null;
  abort(reason: string): void;
}

export function lazySteps(ctx: ActivityContext, sessions: DirectSessions) {
  const { deps, staging, now } = ctx;
  const tunnels = new Map<string, PageTunnelEntrance>();
  const dumps = new Map<string, RunningDump>();

  const activities = {
    /** Opens this host's end of the page tunnel (the direct receiver of the session must be open). */
    async openPageTunnel(input: DirectSessionInput): Promise<PageTunnelEndpoint> {
      return mapped(async () => {
        const open = tunnels.get(input.sessionId);
        if (!deps.direct) throw new LazyDumpFailed(`host ${deps.host} takes no direct transfers (its worker has no direct address): post-copy needs one`);
        if (open) return { address: deps.direct.host, port: open.port, localPort: open.localPort };
        const psk = sessions.receiverPsk(input.sessionId);
        if (!psk) throw new LazyDumpFailed(`this worker holds no direct receiver for session ${input.sessionId}: it restarted since the link was opened`);
        const entrance = await PageTunnelEntrance.open({ sessionId: input.sessionId, psk: pageTunnelPsk(psk, input.sessionId), bindAddress: deps.direct.host, idleLimitMs: TUNNEL_IDLE_MS });
        tunnels.set(input.sessionId, entrance);
        void entrance.ended.then(() => tunnels.delete(input.sessionId));
        return { address: deps.direct.host, port: entrance.port, localPort: entrance.localPort };
      });
    },

    /**
     * Takes the lazy final dump and hands it over: returns once the target holds the non-memory
     * images and the page tunnel stands. Any failure before that makes CRIU resume the process here.
     */
    async startLazyDump(input: StartLazyDumpInput): Promise<LazyDumpStarted> {
      return mapped(async () => {
        if (!deps.criu.lazyDump) throw new LazyDumpFailed(`host ${deps.host} cannot take a lazy dump (its CRIU port has none)`);
        if (dumps.has(input.sessionId)) throw new LazyDumpFailed(`a lazy dump of session ${input.sessionId} already runs in this worker; it is not started twice`);
        const keys = sessions.senderKey(input.sessionId);
        if (!keys) throw new LazyDumpFailed(`this worker holds no key for session ${input.sessionId}: it restarted since the link was prepared, or the key expired; the process was not touched`);
        const peers = { sessionId: input.sessionId, senderPublicKey: keys.publicKey, receiverPublicKey: input.to.publicKey };
        const psk = sessionPsk(keys.privateKey, input.to.publicKey, peers);
        const dir = staging.layerDir(input.checkpointId, 0);
        await staging.remove(dir);
        await makeStagingDir(dir);
        const criuPort = await freeTcpPort();
        const startedAtMs = now();
        let imagesWrittenAtMs = 0;
        let exit: Awaited<ReturnType<typeof openPageTunnelExit>> | null = null;
        let aborted: string | null = null;
        let markHanded!: (h: Handed) => void;
        const handed = new Promise<Handed>((resolve) => (markHanded = resolve));
        const serving = async (): Promise<void> => {
          imagesWrittenAtMs = now();
          // First the loopback connection to CRIU: it accepts one and closes its listener, so ours
          // must be the one. The connect completes in the listen backlog, before CRIU accepts.
          exit = await openPageTunnelExit({ sessionId: input.sessionId, psk: pageTunnelPsk(psk, input.sessionId), criuPort, address: input.tunnel.address, port: input.tunnel.port, connectTimeoutMs: CONNECT_TIMEOUT_MS });
          running.tunnelEnded = exit.ended;
          const sent = await sendLayers({
            address: input.to.address,
            port: input.to.port,
            sessionId: input.sessionId,
            psk,
            layers: [{ index: 0, dir }],
            connectTimeoutMs: CONNECT_TIMEOUT_MS,
          });
          if (aborted) throw new Error(aborted);
          markHanded({ targetImagesDir: sent.imagesDir, bytes: sent.bytes, handedAtMs: now() });
        };
        const dump = deps.criu.lazyDump(
          { pid: input.pid, imagesDir: dir, lazyPages: true, lazyPagesPort: criuPort, ...(input.criuOptions ? { criuOptions: input.criuOptions } : {}) },
          serving,
        );
        // Nobody may await it if the hand-over fails first; its failure is read where it is awaited.
        dump.catch(() => undefined);
        const running: RunningDump = {
          dump,
          tunnelEnded: null,
          abort(reason) {
            aborted = reason;
            exit?.abort(reason);
          },
        };
        dumps.set(input.sessionId, running);
        const endedFirst = dump.then(() => {
          throw new Error('the lazy dump ended before its images were handed over');
        });
        let h: Handed;
        try {
          h = await ctx.whileBeating({ stage: 'lazy-dump' }, Promise.race([handed, endedFirst]));
        } catch (err) {
          dumps.delete(input.sessionId);
          running.abort('the lazy dump failed');
          await dump.catch(() => undefined);
          await staging.remove(dir);
          throw new LazyDumpFailed(
            `the lazy dump of pid ${input.pid} failed before the target had its images (${(err as Error).message}); CRIU resumed the process on ${deps.host}, where it keeps running`,
            { cause: err },
          );
        }
        return { targetImagesDir: h.targetImagesDir, imagesDir: dir, bytes: h.bytes, startedAtMs, imagesWrittenAtMs, handedAtMs: h.handedAtMs };
      });
    },

    /** Waits until CRIU has served the last page; a failure means CRIU resumed the process here. */
    async finishLazyDump(input: DirectSessionInput): Promise<LazyDumpFinished> {
      return mapped(async () => {
        const running = dumps.get(input.sessionId);
        if (!running) throw new LazyDumpFailed(`this worker runs no lazy dump of session ${input.sessionId}: it restarted, and its CRIU with it`);
        try {
          const result = await ctx.whileBeating({ stage: 'serving-pages' }, running.dump);
          const finishedAtMs = now();
          const tunnel = running.tunnelEnded ? await running.tunnelEnded : null;
          return { finishedAtMs, bytesToTarget: tunnel?.bytesToTarget ?? 0, pagesWritten: result.stats.pagesWritten };
        } catch (err) {
          throw new LazyDumpFailed(`CRIU's lazy page server on ${deps.host} failed before the target had every page (${(err as Error).message}); CRIU resumed the process on ${deps.host}`, { cause: err });
        } finally {
          dumps.delete(input.sessionId);
        }
      });
    },

    /**
     * Cuts the page tunnel of a lazy dump (the target could not restore): CRIU's page server then
     * fails, and CRIU resumes the process here. Returns once the dump has ended.
     */
    async abortLazyDump(input: DirectSessionInput): Promise<{ resumedHere: boolean }> {
      return mapped(async () => {
        const running = dumps.get(input.sessionId);
        if (!running) return { resumedHere: false };
        running.abort('the migration was aborted');
        const failed = await running.dump.then(
          () => false,
          () => true,
        );
        dumps.delete(input.sessionId);
        return { resumedHere: failed };
      });
    },
  };

  return {
    activities,
    closeTunnel(sessionId: string): void {
      tunnels.get(sessionId)?.close();
      tunnels.delete(sessionId);
    },
  };
}
