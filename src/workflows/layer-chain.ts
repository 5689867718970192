/**
 * The chain of layers a checkpoint dumps: where its next layer goes and which layer that one is
 * incremental to. Positions in the chain are global: a checkpoint that builds on a warm chain of N
 * layers starts at N.
 */
import type { LayerDump, LayerRef, LayerStepInput, WarmChain } from '../activities/types';
import type { CriuOptions, ProcessIdentity } from '../criu/types';
import { parentRef } from './layers';

export class LayerChain {
  /** Warm-chain layers this checkpoint builds on (stored under the warm chain's id). */
  baseLayers: Array<{ checkpointId: string; index: number }> = [];
  /** null while the next dump is a full one. */
  private parent: LayerRef | null = null;
  private dumped = 0;
  /** Host clock at which the chain's last layer was taken (null while it has none). */
  lastTakenAtMs: number | null = null;

  constructor(
    private readonly checkpointId: string,
    private readonly pid: number,
    private readonly identity: ProcessIdentity,
    /** CRIU resource options every dump of the chain needs (recorded in each layer for the restore). */
    private readonly criuOptions?: CriuOptions,
  ) {}

  buildOn(warm: WarmChain | null): void {
    if (warm && warm.layers.length > 0) {
      this.parent = parentRef(warm.layers[warm.layers.length - 1]);
      this.baseLayers = warm.layers.map((l) => ({ checkpointId: warm.checkpointId, index: l.index }));
      this.lastTakenAtMs = warm.layers[warm.layers.length - 1].startedAtMs;
    }
  }

  /** Index of the chain's last layer, or null while it has none. */
  get lastIndex(): number | null {
    return this.parent ? this.parent.index : null;
  }

  /** The dump step of the next layer (the identity check refuses another process under the pid). */
  nextLayer(): LayerStepInput {
    return {
      checkpointId: this.checkpointId,
      index: this.baseLayers.length + this.dumped,
      pid: this.pid,
      expectedIdentity: this.identity,
      parent: this.parent,
      ...(this.criuOptions ? { criuOptions: this.criuOptions } : {}),
    };
  }

  added(dump: LayerDump): void {
    this.dumped += 1;
    this.parent = parentRef(dump);
    this.lastTakenAtMs = dump.startedAtMs;
  }
}
