/**
 * migrate's direct path: the final layers go from the source worker to the target worker over a
 * link made for this migration (src/direct), the process is restored on the target, and only
 * then does the checkpoint store them. The store round trip (upload, commit, download) leaves
 * the downtime; the stored copy still follows, and the source keeps its images until it is
 * committed, so a failure at any point can still bring the process back on the source.
 *
 *   migrate                                   checkpoint (child)
 *   prepareDirectSend (source), openDirectReceiver (target)
 *   start child with handOffFinalLayers ---->  pre-dumps, prefetch rounds, final dump
 *                                       <----  finalLayersReady {layers, finalDump}
 *   sendLayersDirect (source -> target)
 *   restoreProcess (target)
 *   handedOff {restoredElsewhere}       ---->  upload, commit (a failure no longer restores on
 *                                              the source once the process runs elsewhere)
 *
 * Any failure of the link or the send: handedOff {restoredElsewhere: false}; the checkpoint
 * stores as before and migrate downloads the rest from the store (the result says why).
 */
import { condition, defineSignal, getExternalWorkflowHandle, setHandler, type ChildWorkflowHandle, type ParentWorkflowInfo } from '@temporalio/workflow';
import type { DirectEndpoint, RestoreOutcome, SendDirectResult } from '../activities/types';
import { FINAL_LAYERS_SIGNAL, HANDED_OFF_SIGNAL, innermostMessage } from '../core';
import type { checkpoint } from './checkpoint';
import type { HostActivities } from './host-activities';
import type { FinalLayersReady, HandedOff } from './types';

export const finalLayersSignal = defineSignal<[FinalLayersReady]>(FINAL_LAYERS_SIGNAL);
export const handedOffSignal = defineSignal<[HandedOff]>(HANDED_OFF_SIGNAL);

/** The checkpoint's side, set up at start (handlers must exist before the signal can come). */
export class FinalLayersHandOff {
  private answer: HandedOff | null = null;

  constructor() {
    setHandler(handedOffSignal, (reply) => {
      this.answer = reply;
    });
  }

  /** Offers the final layers to the parent and waits until it says how the hand-off went. */
  async offer(parent: ParentWorkflowInfo, ready: FinalLayersReady): Promise<HandedOff> {
    await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(finalLayersSignal, ready);
    await condition(() => this.answer !== null);
    return this.answer!;
  }
}

/** migrate's side of the link: what the checkpoint's hand-off needs. */
export interface DirectLink {
  sessionId: string;
  endpoint: DirectEndpoint;
}

/** Prepares both ends (keys on the source, a listener on the target); null and why if impossible. */
export async function openDirectLink(
  source: HostActivities,
  target: HostActivities,
  ids: { sessionId: string; checkpointId: string; downloadId: string },
): Promise<{ link: DirectLink | null; problem: string | null }> {
  try {
    const { publicKey } = await source.prepareDirectSend({ sessionId: ids.sessionId });
    const endpoint = await target.openDirectReceiver({ ...ids, senderPublicKey: publicKey });
    return { link: { sessionId: ids.sessionId, endpoint }, problem: null };
  } catch (err) {
    return { link: null, problem: `no direct link: ${innermostMessage(err)}` };
  }
}

/** migrate's side, set up before the child starts: the child's offer once it came. */
export function listenForFinalLayers(): () => FinalLayersReady | null {
  let ready: FinalLayersReady | null = null;
  setHandler(finalLayersSignal, (offer) => {
    ready = offer;
  });
  return () => ready;
}

export type HandOffOutcome =
  | { kind: 'restored'; offer: FinalLayersReady; sent: SendDirectResult; restored: RestoreOutcome }
  | { kind: 'restore-failed'; offer: FinalLayersReady; sent: SendDirectResult; error: unknown }
  | { kind: 'send-failed'; offer: FinalLayersReady; problem: string };

/**
 * Sends the offered layers, restores on the target, and answers the checkpoint; whatever fails,
 * the checkpoint gets its answer (it waits for it before storing). Run it non-cancellable: the
 * process exists only as images from the offer on.
 */
export async function handOff(
  child: ChildWorkflowHandle<typeof checkpoint>,
  offer: FinalLayersReady,
  link: DirectLink,
  hosts: { source: HostActivities; target: HostActivities; onStage: (stage: 'sending-direct' | 'restoring') => void },
): Promise<HandOffOutcome> {
  const answer = (restoredElsewhere: boolean) => child.signal(handedOffSignal, { restoredElsewhere });
  let sent: SendDirectResult;
  try {
    hosts.onStage('sending-direct');
    sent = await hosts.source.sendLayersDirect({ sessionId: link.sessionId, to: link.endpoint, layers: offer.layers });
  } catch (err) {
    await answer(false);
    return { kind: 'send-failed', offer, problem: `the direct transfer failed: ${innermostMessage(err)}` };
  }
  try {
    hosts.onStage('restoring');
    const restored = await hosts.target.restoreProcess({ imagesDir: sent.imagesDir });
    await answer(true);
    return { kind: 'restored', offer, sent, restored };
  } catch (error) {
    await answer(false);
    return { kind: 'restore-failed', offer, sent, error };
  }
}
