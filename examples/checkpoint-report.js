#!/usr/bin/env node
// @ts-check
'use strict';
// ferry as a library: what a program (a dashboard, a deploy script) can do with the package's three
// entry points. It reads ferry's usual settings (the dev stack when none are set), lists the stored
// checkpoints with the layer store, summarises the chain of the newest complete one, reads the
// CRIU images of a local images dir if one is given, and lists the nightly schedules through the
// typed client. Prints one JSON document.
//
//   node examples/checkpoint-report.js [IMAGES_DIR]
const { FerryClient, loadConfig } = require('ferry');
const { openLayerStore } = require('ferry/storage');
const { readLayer } = require('ferry/criu');

async function main() {
  const config = loadConfig();
  const store = openLayerStore(config);
  const checkpoints = await store.list();
  const newest = checkpoints.filter((c) => c.complete).at(-1) ?? null;
  const chain = newest ? await store.resolveChain(await store.readManifest(newest.checkpointId)) : [];
  const imagesDir = process.argv[2];
  const local = imagesDir ? readLayer(imagesDir) : null;
  const client = await FerryClient.connect(config);
  try {
    const schedules = await client.listSchedules();
    const report = {
      checkpoints: checkpoints.length,
      newest: newest && { id: newest.checkpointId, layers: chain.length, bytes: chain.reduce((n, e) => n + e.layer.bytes, 0) },
      local: local && { kind: local.kind, pagesPresent: local.pagesPresent, rootPid: local.rootPid },
      schedules: schedules.map((s) => s.scheduleId),
    };
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } finally {
    await client.close();
  }
}

main().catch((err) => {
  process.stderr.write(`checkpoint-report: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
