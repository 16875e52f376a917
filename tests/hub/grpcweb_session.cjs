// A scripted session of the official Textile JS SDK (@textile/hub) against a bucketfs hub's
// gRPC-Web endpoint. Usage: node grpcweb_session.cjs URL KEY SECRET
// Prints one JSON line per step: {"step": NAME, "ok": true, ...} or {"step": NAME, "ok": false,
// "error": TEXT}; a failed step does not stop the steps that do not depend on it.
'use strict';
const crypto = require('crypto');
const { Client, PrivateKey, Users, Buckets, Where } = require('@textile/hub');

const [url, key, secret] = process.argv.slice(2);
const keyInfo = { key, secret };
const state = {};

function print(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function step(name, fn) {
  const started = Date.now();
  try {
    const detail = (await fn()) || {};
    print({ step: name, ok: true, ms: Date.now() - started, ...detail });
    return true;
  } catch (err) {
    const text = err && (err.message || JSON.stringify(err));
    print({ step: name, ok: false, error: String(text), code: err && err.code });
    return false;
  }
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

const schema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'Person',
  type: 'object',
  properties: {
    _id: { type: 'string' },
    name: { type: 'string' },
    age: { type: 'integer', minimum: 0 },
  },
  required: ['_id', 'name', 'age'],
};

async function collect(iterable) {
  const parts = [];
  for await (const chunk of iterable) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

async function threads() {
  await step('identity', async () => {
    state.identity = PrivateKey.fromRandom();
    return { public: state.identity.public.toString() };
  });
  await step('get_token', async () => {
    state.client = await Client.withKeyInfo(keyInfo, url);
    state.token = await state.client.getToken(state.identity);
    check(typeof state.token === 'string' && state.token.length > 20, 'a token');
  });
  await step('new_db', async () => {
    state.db = await state.client.newDB(undefined, 'people');
    return { thread: state.db.toString() };
  });
  await step('new_collection', async () => {
    await state.client.newCollection(state.db, { name: 'Person', schema });
  });
  await step('create', async () => {
    const ids = await state.client.create(state.db, 'Person', [
      { _id: '', name: 'ada', age: 36 },
      { _id: '', name: 'alan', age: 41 },
      { _id: '', name: 'grace', age: 85 },
    ]);
    check(ids.length === 3 && ids.every((id) => typeof id === 'string' && id), 'three ids');
    state.ids = ids;
  });
  await step('create_schema_refused', async () => {
    let refused = null;
    try {
      await state.client.create(state.db, 'Person', [{ _id: '', name: 'bad', age: 'old' }]);
    } catch (err) {
      refused = err;
    }
    check(refused !== null, 'a create breaking the schema is refused');
    return { error: String(refused.message || refused) };
  });
  await step('find', async () => {
    const all = await state.client.find(state.db, 'Person', {});
    check(all.length === 3, `3 instances, got ${all.length}`);
    // the SDK's gt() sends operation 1 (Ne), an upstream client bug: ge() and lt() are right
    const older = await state.client.find(state.db, 'Person', new Where('age').ge(41));
    const names = older.map((p) => p.name).sort();
    check(JSON.stringify(names) === '["alan","grace"]', `age >= 41: ${names}`);
    const both = new Where('age').lt(80).and('name').eq('alan');
    const alan = await state.client.find(state.db, 'Person', both);
    check(alan.length === 1 && alan[0].name === 'alan', 'age < 80 and name == alan');
    const ada = await state.client.find(state.db, 'Person', new Where('name').eq('ada'));
    check(ada.length === 1 && ada[0].age === 36, 'name == ada');
    return { older: names };
  });
  await step('find_by_id', async () => {
    const found = await state.client.findByID(state.db, 'Person', state.ids[0]);
    check(found.name === 'ada' && found._id === state.ids[0], 'ada by id');
  });
  await step('listen', async () => {
    const events = [];
    let closer;
    let failed = null;
    closer = state.client.listen(state.db, [{ collectionName: 'Person' }], (update, err) => {
      if (err) failed = err;
      else if (update && update.instance) events.push(update);
    });
    // save until the listener (registered at the hub some time after listen() returns) sees it
    const saved = await state.client.findByID(state.db, 'Person', state.ids[0]);
    saved.age = 37;
    for (let i = 0; i < 100 && events.length === 0 && failed === null; i++) {
      await state.client.save(state.db, 'Person', [saved]);
      await new Promise((r) => setTimeout(r, 300));
    }
    closer.close();
    if (failed !== null) throw failed;
    check(events.length > 0, 'an event');
    check(events[0].instance._id === state.ids[0] && events[0].instance.age === 37, 'the save');
    return { action: events[0].action };
  });
  await step('save', async () => {
    const found = await state.client.findByID(state.db, 'Person', state.ids[1]);
    found.age = 42;
    await state.client.save(state.db, 'Person', [found]);
    const again = await state.client.findByID(state.db, 'Person', state.ids[1]);
    check(again.age === 42, 'saved age');
  });
  await step('has', async () => {
    check((await state.client.has(state.db, 'Person', [state.ids[2]])) === true, 'has grace');
    check((await state.client.has(state.db, 'Person', ['no-such-id'])) === false, 'has no other');
  });
  await step('delete', async () => {
    await state.client.delete(state.db, 'Person', [state.ids[2]]);
    check((await state.client.has(state.db, 'Person', [state.ids[2]])) === false, 'deleted');
  });
}

async function users() {
  await step('users_get_thread', async () => {
    state.users = await Users.withKeyInfo(keyInfo, { host: url });
    await state.users.getToken(state.identity);
    const thread = await state.users.getThread('people');
    check(thread.name === 'people', `thread name ${thread.name}`);
    check(thread.id === state.db.toString(), 'the new DB');
  });
  await step('users_list_threads', async () => {
    const list = await state.users.listThreads();
    check(list.some((t) => t.id === state.db.toString()), 'lists the new DB');
    return { count: list.length };
  });
}

async function buckets() {
  const small = Buffer.from('hello from the Textile JS SDK\n');
  const big = crypto.randomBytes(1024 * 1024);
  await step('buckets_get_or_create', async () => {
    state.buckets = await Buckets.withKeyInfo(keyInfo, { host: url });
    await state.buckets.getToken(state.identity);
    const { root, threadID } = await state.buckets.getOrCreate('sdk-bucket');
    check(root && root.key, 'a bucket root');
    state.bucket = root.key;
    const again = await state.buckets.getOrCreate('sdk-bucket');
    check(again.root.key === root.key && again.threadID === threadID, 'the same bucket again');
    return { key: root.key };
  });
  await step('push_path_small', async () => {
    const res = await state.buckets.pushPath(state.bucket, 'notes/hello.txt', small);
    check(res.path && res.path.path, 'a path CID');
  });
  await step('push_path_1mib', async () => {
    const res = await state.buckets.pushPath(state.bucket, 'big.bin', big);
    check(res.path && res.path.path, 'a path CID');
  });
  await step('list_path', async () => {
    const root = await state.buckets.listPath(state.bucket, '');
    const names = root.item.items.map((i) => i.name).sort();
    check(names.includes('big.bin') && names.includes('notes'), `root entries ${names}`);
    const bigItem = root.item.items.find((i) => i.name === 'big.bin');
    // sizes are cumulative DAG sizes (the chunks' UnixFS envelopes included), as upstream
    check(bigItem.size > big.length && bigItem.size < big.length + 4096, `size ${bigItem.size}`);
    const notes = await state.buckets.listPath(state.bucket, 'notes');
    check(notes.item.items.map((i) => i.name).join() === 'hello.txt', 'notes/hello.txt');
    return { names, size: bigItem.size };
  });
  await step('pull_path', async () => {
    const gotSmall = await collect(state.buckets.pullPath(state.bucket, 'notes/hello.txt'));
    check(gotSmall.equals(small), 'small file bytes');
    const gotBig = await collect(state.buckets.pullPath(state.bucket, 'big.bin'));
    check(gotBig.equals(big), `1 MiB file bytes (${gotBig.length})`);
  });
  await step('links', async () => {
    const links = await state.buckets.links(state.bucket);
    check(typeof links.url === 'string' && links.url.length > 0, 'a url');
    return { links };
  });
  await step('remove_path', async () => {
    await state.buckets.removePath(state.bucket, 'notes/hello.txt');
    const notes = await state.buckets.listPath(state.bucket, 'notes');
    check(notes.item.items.length === 0, 'notes is empty');
  });
  await step('remove', async () => {
    await state.buckets.remove(state.bucket);
    const list = await state.buckets.list();
    check(!list.some((b) => b.key === state.bucket), 'the bucket is gone');
  });
}

(async () => {
  await threads();
  await users();
  await buckets();
  print({ step: 'done', ok: true });
  process.exit(0);
})().catch((err) => {
  print({ step: 'crash', ok: false, error: String(err && err.stack) });
  process.exit(1);
});
