// Import files and directory trees with the official JS UnixFS importer and print their CIDs.
// Usage: node reference_import.mjs [--chunk=N] [--links=M] PATH... ; prints one JSON line per PATH:
// {"path": PATH, "cid": "...", "size": <cumulative DAG size>}
// Options mirror `ipfs add --cid-version=1`: raw leaves, fixed 262144-byte chunks, balanced
// layout with 174 links per node, directories sharded above 262144 estimated link bytes.
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { BlackHoleBlockstore } from 'blockstore-core/black-hole'
import * as fs from 'node:fs'
import * as path from 'node:path'

// optional leading arguments --chunk=N --links=M shrink the layout to test deep trees quickly
const args = process.argv.slice(2)
let chunkSize = 262144
let maxChildrenPerNode = 174
while (args.length > 0 && args[0].startsWith('--')) {
  const [key, value] = args.shift().split('=')
  if (key === '--chunk') chunkSize = Number(value)
  else if (key === '--links') maxChildrenPerNode = Number(value)
  else throw new Error(`unknown option ${key}`)
}

const options = {
  cidVersion: 1,
  rawLeaves: true,
  reduceSingleLeafToSelf: true,
  chunker: fixedSize({ chunkSize }),
  layout: balanced({ maxChildrenPerNode }),
  shardSplitThresholdBytes: 262144,
  shardSplitStrategy: 'links-bytes',
  wrapWithDirectory: false
}

function * candidates (root, rel) {
  const stat = fs.lstatSync(root)
  if (stat.isDirectory()) {
    yield { path: rel }
    for (const name of fs.readdirSync(root)) {
      yield * candidates(path.join(root, name), rel + '/' + name)
    }
  } else if (stat.isSymbolicLink()) {
    yield { path: rel, link: fs.readlinkSync(root) }
  } else {
    yield { path: rel, content: fs.createReadStream(root, { highWaterMark: 1 << 20 }) }
  }
}

for (const root of args) {
  const name = path.basename(root)
  let found = null
  for await (const entry of importer(candidates(root, name), new BlackHoleBlockstore(), options)) {
    if (entry.path === name) {
      found = entry
    }
  }
  if (found == null) {
    throw new Error(`no root entry for ${root}`)
  }
  console.log(JSON.stringify({ path: root, cid: found.cid.toString(), size: Number(found.size) }))
}
