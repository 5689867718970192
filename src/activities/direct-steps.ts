/**
 * Activities of a direct transfer (src/direct): the final layers of a migration go from the
 * source worker to the target worker over one TLS-PSK connection instead of through the store.
 *
 * Each worker keeps its half of the transfer's key in memory, keyed by the workflow's session id;
 * only public keys and the receiver's address cross the workflow. A worker that restarted has
 * lost its half: the transfer then fails plainly and the migration takes the store path. Keys and
 * receivers not used within SESSION_LIFETIME_MS are dropped.
 */
import { cancellationSignal } from '@temporalio/activity';
import { DirectTransferFailed } from '../core';
import { DirectReceiver } from '../direct/receiver';
import { sendLayers } from '../direct/sender';
import { newSessionKeyPair, parsePublicKey, sessionPsk, type SessionKeyPair } from '../direct/session-keys';
import { mapped, type ActivityContext } from './context';
import { lazySteps } from './lazy-steps';
import { makeStagingDir } from './staging';
import type { DirectEndpoint, DirectSenderKey, DirectSessionInput, OpenReceiverInput, SendDirectInput, SendDirectResult } from './types';

/** A migration's pre-dumps may take a while; a key or receiver older than this is dropped. */
export const SESSION_LIFETIME_MS = 6 * 60 * 60 * 1000;
const CONNECT_TIMEOUT_MS = 10_000;

interface Held<T> {
  value: T;
  createdAtMs: number;
}

export function directSteps(ctx: ActivityContext) {
  const { deps, staging, now } = ctx;
  const senderKeys = new Map<string, Held<SessionKeyPair>>();
  const receivers = new Map<string, Held<{ receiver: DirectReceiver; endpoint: DirectEndpoint; psk: Buffer }>>();
  const lazy = lazySteps(ctx, {
    senderKey: (sessionId) => senderKeys.get(sessionId)?.value ?? null,
    receiverPsk: (sessionId) => receivers.get(sessionId)?.value.psk ?? null,
  });

  function dropExpired(): void {
    const cutoff = now() - SESSION_LIFETIME_MS;
    for (const [id, held] of senderKeys) if (held.createdAtMs < cutoff) senderKeys.delete(id);
    for (const [id, held] of receivers) {
      if (held.createdAtMs < cutoff) {
        held.value.receiver.close();
        receivers.delete(id);
      }
    }
  }

  return {
    /** The sending side's public key for this transfer (the same on a retry). */
    async prepareDirectSend(input: DirectSessionInput): Promise<DirectSenderKey> {
      return mapped(async () => {
        dropExpired();
        let held = senderKeys.get(input.sessionId);
        if (!held) {
          held = { value: newSessionKeyPair(), createdAtMs: now() };
          senderKeys.set(input.sessionId, held);
        }
        return { publicKey: held.value.publicKey };
      });
    },

    /** Starts this host's receiver for one transfer into the checkpoint's download dir. */
    async openDirectReceiver(input: OpenReceiverInput): Promise<DirectEndpoint> {
      return mapped(async () => {
        dropExpired();
        const open = receivers.get(input.sessionId);
        if (open) return open.value.endpoint;
        if (!deps.direct) throw new DirectTransferFailed(`host ${deps.host} takes no direct transfers (its worker has no direct address)`);
        if (!parsePublicKey(input.senderPublicKey)) throw new DirectTransferFailed('the sender\'s public key is not an X25519 key');
        const keys = newSessionKeyPair();
        const peers = { sessionId: input.sessionId, senderPublicKey: input.senderPublicKey, receiverPublicKey: keys.publicKey };
        const intoDir = staging.downloadDir(input.checkpointId, input.downloadId);
        await makeStagingDir(intoDir);
        const psk = sessionPsk(keys.privateKey, input.senderPublicKey, peers);
        const receiver = await DirectReceiver.listen({
          sessionId: input.sessionId,
          psk,
          intoDir,
          bindAddress: deps.direct.host,
          port: deps.direct.port,
          idleLimitMs: SESSION_LIFETIME_MS,
        }).catch((err: Error) => {
          throw new DirectTransferFailed(`cannot listen on ${deps.direct!.host}:${deps.direct!.port} for a direct transfer: ${err.message}`);
        });
        const endpoint = { address: deps.direct.host, port: receiver.port, publicKey: keys.publicKey, stagingDir: intoDir };
        receivers.set(input.sessionId, { value: { receiver, endpoint, psk }, createdAtMs: now() });
        return endpoint;
      });
    },

    /** Sends this host's layers the receiver lacks; returns once the receiver holds the whole chain. */
    async sendLayersDirect(input: SendDirectInput): Promise<SendDirectResult> {
      return mapped(async () => {
        const keys = senderKeys.get(input.sessionId)?.value;
        if (!keys) throw new DirectTransferFailed(`this worker holds no key for direct transfer ${input.sessionId}: it restarted since the transfer was prepared, or the key expired`);
        const layers = input.layers.map((l) => ({ index: l.index, dir: staging.inside(l.imagesDir) }));
        const peers = { sessionId: input.sessionId, senderPublicKey: keys.publicKey, receiverPublicKey: input.to.publicKey };
        const startedAtMs = now();
        const progress = { bytesDone: 0, bytesTotal: 0 };
        try {
          const sending = sendLayers({
            address: input.to.address,
            port: input.to.port,
            sessionId: input.sessionId,
            psk: sessionPsk(keys.privateKey, input.to.publicKey, peers),
            layers,
            connectTimeoutMs: CONNECT_TIMEOUT_MS,
            signal: cancellationSignal(),
            onProgress: (bytesDone, bytesTotal) => Object.assign(progress, { bytesDone, bytesTotal }),
          });
          // Heartbeats on a timer: one image file can take longer than the heartbeat timeout.
          const sent = await ctx.whileBeating(progress, sending);
          return { ...sent, startedAtMs, durationMs: now() - startedAtMs };
        } catch (err) {
          throw new DirectTransferFailed((err as Error).message);
        } finally {
          senderKeys.delete(input.sessionId); // one transfer per key
        }
      });
    },

    /** Drops this worker's key, receiver or page tunnel of the transfer, if any is left. */
    async closeDirectLink(input: DirectSessionInput): Promise<void> {
      return mapped(async () => {
        senderKeys.delete(input.sessionId);
        receivers.get(input.sessionId)?.value.receiver.close();
        receivers.delete(input.sessionId);
        lazy.closeTunnel(input.sessionId);
      });
    },

    ...lazy.activities,
  };
}
