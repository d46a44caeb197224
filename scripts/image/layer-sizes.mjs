#!/usr/bin/env node
// Sizes of an image in an OCI layout directory (as written by `buildah push IMAGE oci:DIR`), split into the base's
// layers and the layers added on top of it.
//
//   node scripts/image/layer-sizes.mjs OCI_DIR BASE_LAYER_COUNT
//
// Prints JSON: compressed sizes are what a registry stores and a runner downloads; uncompressed sizes are what the
// layers take on disk once pulled.
import { readFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { join } from 'node:path';

const [dir, baseCountArg] = process.argv.slice(2);
if (!dir || baseCountArg === undefined) {
  console.error('usage: layer-sizes.mjs OCI_DIR BASE_LAYER_COUNT');
  process.exit(2);
}
const baseCount = Number(baseCountArg);

const blobPath = (digest) => join(dir, 'blobs', ...digest.split(':'));
const readJson = async (path) => JSON.parse(await readFile(path, 'utf8'));

const index = await readJson(join(dir, 'index.json'));
if (index.manifests?.length !== 1) throw new Error(`expected one manifest in ${dir}/index.json`);
const manifest = await readJson(blobPath(index.manifests[0].digest));

async function uncompressedSize(layer) {
  if (!layer.mediaType.endsWith('+gzip')) return layer.size;
  let total = 0;
  for await (const chunk of createReadStream(blobPath(layer.digest)).pipe(createGunzip())) total += chunk.length;
  return total;
}

const layers = [];
for (const layer of manifest.layers) {
  layers.push({ digest: layer.digest, compressed: layer.size, uncompressed: await uncompressedSize(layer) });
}
const sum = (list, key) => list.reduce((n, l) => n + l[key], 0);
const base = layers.slice(0, baseCount);
const added = layers.slice(baseCount);
console.log(
  JSON.stringify({
    manifestDigest: index.manifests[0].digest,
    layers: layers.length,
    baseLayers: base.length,
    image: { compressed: sum(layers, 'compressed') + manifest.config.size, uncompressed: sum(layers, 'uncompressed') },
    base: { compressed: sum(base, 'compressed'), uncompressed: sum(base, 'uncompressed') },
    added: { compressed: sum(added, 'compressed'), uncompressed: sum(added, 'uncompressed'), layers: added.length },
  }),
);
