/**
 * Activities that keep this host's record of its processes' warm chains (nightly pre-dumps a
 * later checkpoint builds on), in the staging dir next to the chains' local layers.
 */
import { mapped, type ActivityContext } from './context';
import { exists, readJson, writeJsonAtomic } from './staging';
import type { WarmChain, WarmLookup, WarmLookupInput, WarmRecordInput } from './types';

type WarmRecordFile = { formatVersion: 1; chains: Record<string, WarmChain> };

export function warmChainSteps({ staging }: ActivityContext) {
  async function readWarmFile(): Promise<WarmRecordFile> {
    return (await readJson<WarmRecordFile>(staging.warmRecord())) ?? { formatVersion: 1, chains: {} };
  }

  return {
    async readWarmChain(input: WarmLookupInput): Promise<WarmLookup> {
      return mapped(async () => {
        const chain = (await readWarmFile()).chains[String(input.pid)];
        if (!chain) return { chain: null, status: 'none' };
        const same = chain.process.startTime === input.identity.startTime && chain.process.bootId === input.identity.bootId;
        if (!same) return { chain: null, status: 'process-changed' };
        for (const layer of chain.layers) {
          if (!(await exists(layer.imagesDir))) return { chain: null, status: 'layers-missing' };
        }
        return { chain, status: 'found' };
      });
    },

    async recordWarmChain(input: WarmRecordInput): Promise<void> {
      return mapped(async () => {
        const file = await readWarmFile();
        file.chains[String(input.chain.process.pid)] = input.chain;
        await writeJsonAtomic(staging.warmRecord(), file);
      });
    },
  };
}
