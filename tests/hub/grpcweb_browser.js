// Bundled with esbuild into the page of the headless-Chromium test (test_grpcweb_browser.py):
// with the official @textile/hub SDK, push a file into a bucket of the hub named in the page's
// query (?url=&key=&secret=) over the SDK's websocket transport, pull it back, and print the
// outcome as JSON into <pre id="result">. Then one Links call over the HTTP/1.1 transport of
// @improbable-eng/grpc-web (fetch, cross-origin: CORS preflight) with the SDK's metadata.
// (Links, not ListPath: this bundle holds two copies of google-protobuf and ListPath's reply,
// with a map field, fails to decode across them here, client-side; it decodes in Node.)
import { grpc } from '@improbable-eng/grpc-web';
import { LinksRequest } from '@textile/buckets-grpc/api/bucketsd/pb/bucketsd_pb';
import { APIService } from '@textile/buckets-grpc/api/bucketsd/pb/bucketsd_pb_service';
import { Buckets, PrivateKey } from '@textile/hub';

const params = new URLSearchParams(window.location.search);

function show(result) {
  const pre = document.createElement('pre');
  pre.id = 'result';
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
}

async function run() {
  const keyInfo = { key: params.get('key'), secret: params.get('secret') };
  const buckets = await Buckets.withKeyInfo(keyInfo, { host: params.get('url') });
  await buckets.getToken(PrivateKey.fromRandom());
  const { root } = await buckets.getOrCreate('browser-bucket');
  const sent = new Uint8Array(300 * 1024);
  for (let i = 0; i < sent.length; i++) sent[i] = (i * 7 + (i >> 9)) & 0xff;
  await buckets.pushPath(root.key, 'from-the-browser.bin', sent);
  const parts = [];
  for await (const chunk of buckets.pullPath(root.key, 'from-the-browser.bin')) parts.push(chunk);
  const got = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    got.set(p, at);
    at += p.length;
  }
  const same = got.length === sent.length && got.every((b, i) => b === sent[i]);
  const listing = await buckets.listPath(root.key, '');
  const links = await buckets.links(root.key);
  const overHttp = await linksOverHttp(buckets, root.key);
  return {
    links,
    http: overHttp,
    ok: same,
    sent: sent.length,
    got: got.length,
    names: listing.item.items.map((i) => i.name),
    userAgent: navigator.userAgent,
  };
}

function linksOverHttp(buckets, key) {
  const request = new LinksRequest();
  request.setKey(key);
  return buckets.context.toMetadata().then(
    (metadata) =>
      new Promise((resolve) => {
        grpc.unary(APIService.Links, {
          request,
          host: params.get('url'),
          metadata,
          transport: grpc.CrossBrowserHttpTransport({ withCredentials: false }),
          onEnd: (res) =>
            resolve({
              status: res.status,
              message: res.statusMessage,
              url: res.message ? res.message.getUrl() : null,
              ipns: res.message ? res.message.getIpns() : null,
            }),
        });
      }),
  );
}

run().then(show, (err) => show({ ok: false, error: String((err && err.message) || err) }));
