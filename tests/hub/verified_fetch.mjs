// Fetch IPFS paths through @helia/verified-fetch from one trustless gateway (ours) and print,
// per path, one JSON line: {url, status, type, body (base64)}. Every block verified-fetch uses
// is checked against its CID by Helia; nothing but the given gateway is contacted (no libp2p,
// no delegated routers).
//   node verified_fetch.mjs http://127.0.0.1:PORT ipfs://CID/path[|ACCEPT] [...]
import { createVerifiedFetch } from '@helia/verified-fetch'
import { withHTTP } from '@helia/http'
import { createHeliaLight } from 'helia'

const [gateway, ...urls] = process.argv.slice(2)
const light = await createHeliaLight({})
// helia 7 waits forever for providers when it has no non-fallback router at all: one that
// knows nothing lets it move on to the fallback router holding our gateway
light.addRouter({ name: 'none', async * findProviders () {} })
const helia = await withHTTP(light, {
  delegatedRouters: [],
  recursiveGateways: [gateway],
  allowInsecure: true,
  allowLocal: true
}).start()
const fetch = await createVerifiedFetch(helia)
let failed = false
const out = []
for (const arg of urls) {
  const [url, accept] = arg.split('|')
  try {
    const headers = accept ? { Accept: accept } : {}
    const resp = await fetch(url, { headers, signal: AbortSignal.timeout(60000) })
    const body = Buffer.from(await resp.arrayBuffer())
    const type = resp.headers.get('content-type')
    out.push(JSON.stringify({ url: arg, status: resp.status, type, body: body.toString('base64') }))
  } catch (err) {
    failed = true
    out.push(JSON.stringify({ url: arg, error: String(err && err.stack || err) }))
  }
}
await fetch.stop()
await helia.stop()
// exit only once stdout (a pipe: written asynchronously) has taken every line
process.stdout.write(out.map(line => line + '\n').join(''), () => process.exit(failed ? 1 : 0))
