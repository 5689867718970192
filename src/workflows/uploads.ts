/**
 * A checkpoint's layer uploads. A pre-dump layer uploads in the background while the next
 * pre-dump runs; its failure is kept and raised at the next step, not lost.
 */
import type { LayerDump, UploadResult } from '../activities/types';
import type { LayerRecord } from '../storage/types';
import type { HostActivities } from './host-activities';

export class Uploads {
  private pending: Array<Promise<void>> = [];
  private firstError: unknown = null;
  private readonly records: LayerRecord[] = [];

  constructor(
    private readonly acts: HostActivities,
    private readonly checkpointId: string,
    private readonly onStored: (r: UploadResult) => void,
  ) {}

  start(layer: LayerDump): void {
    const p = this.acts.uploadLayer({ checkpointId: this.checkpointId, layer }).then(
      (r) => this.stored(r),
      (err: unknown) => {
        this.firstError ??= err;
      },
    );
    this.pending.push(p);
  }

  /** Uploads a layer and waits for it: the final dump's, which nothing is left to overlap. */
  async upload(layer: LayerDump): Promise<UploadResult> {
    const r = await this.acts.uploadLayer({ checkpointId: this.checkpointId, layer });
    this.stored(r);
    return r;
  }

  /** Records of the layers stored so far, in chain order (uploads finish in any order). */
  storedRecords(): LayerRecord[] {
    return [...this.records].sort((a, b) => a.index - b.index);
  }

  throwIfFailed(): void {
    if (this.firstError !== null) throw this.firstError;
  }

  async drain(): Promise<void> {
    await Promise.all(this.pending);
    this.throwIfFailed();
  }

  /** Waits for in-flight uploads without caring how they end (used before discarding). */
  async settle(): Promise<void> {
    await Promise.all(this.pending);
  }

  private stored(r: UploadResult): void {
    this.records.push(r.record);
    this.onStored(r);
  }
}
