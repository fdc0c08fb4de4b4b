// The MongoDB wire-protocol test server, exercised through the official driver.
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { deserialize, serialize } from 'bson';
// BSON classes from the driver's own copy: the driver is CommonJS and loads bson's CJS
// build, so its Long is not the ESM Long (instanceof and deepStrictEqual tell them apart).
import {
  Binary,
  BSONRegExp,
  Decimal128,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  MongoClient,
  MongoNetworkError,
  MongoServerError,
  ObjectId,
  Timestamp,
  type CommandStartedEvent,
  type Document,
} from 'mongodb';
import { startMongoWireServer, type MongoWireServer } from './helpers/mongo-wire-server.js';

const T0 = Date.UTC(2024, 0, 1);

/** Documents with any `_id` (the driver's default typing insists on ObjectId). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = { _id?: any; [key: string]: any };
const collection = (db: string, name: string) => client.db(db).collection<Loose>(name);
const iso = (ms: number) => new Date(ms).toISOString();

let server: MongoWireServer;
let client: MongoClient;
const started: CommandStartedEvent[] = [];

before(async () => {
  server = await startMongoWireServer();
  client = new MongoClient(server.url, { monitorCommands: true, maxPoolSize: 4 });
  client.on('commandStarted', (e) => started.push(e));
  await client.connect();
});

after(async () => {
  await client.close();
  await server.stop();
});

/** Commands the driver sent while `fn` ran. */
async function commandsDuring(fn: () => Promise<unknown>): Promise<CommandStartedEvent[]> {
  const from = started.length;
  await fn();
  return started.slice(from);
}

describe('connection and server commands', () => {
  test('url, ping and buildInfo', async () => {
    assert.equal(server.url, `mongodb://127.0.0.1:${server.port}/?directConnection=true`);
    assert.deepEqual(await client.db('admin').command({ ping: 1 }), { ok: 1 });
    const info = await client.db('admin').command({ buildInfo: 1 });
    assert.equal(info.version, '7.0.0');
    assert.deepEqual(info.versionArray, [7, 0, 0, 0]);
  });

  test('hello describes a writable standalone', async () => {
    const hello = await client.db('admin').command({ hello: 1 });
    assert.equal(hello.isWritablePrimary, true);
    assert.equal(hello.maxWireVersion, 21);
    assert.equal(hello.minWireVersion, 0);
    assert.equal(hello.maxBsonObjectSize, 16 * 1024 * 1024);
    assert.equal(hello.maxMessageSizeBytes, 48_000_000);
    assert.equal(hello.maxWriteBatchSize, 100_000);
    assert.equal(hello.logicalSessionTimeoutMinutes, 30);
    assert.ok(hello.localTime instanceof Date);
    assert.equal(typeof hello.connectionId, 'number');
  });

  test('the legacy OP_QUERY isMaster handshake gets an OP_REPLY', async () => {
    const query = serialize({ isMaster: 1, helloOk: true });
    const ns = Buffer.from('admin.$cmd\0');
    const msg = Buffer.alloc(16 + 4 + ns.length + 8 + query.length);
    msg.writeInt32LE(msg.length, 0);
    msg.writeInt32LE(7, 4); // requestID
    msg.writeInt32LE(2004, 12); // OP_QUERY
    ns.copy(msg, 20);
    msg.writeInt32LE(-1, 20 + ns.length + 4); // numberToReturn
    Buffer.from(query).copy(msg, 20 + ns.length + 8);
    const reply = await roundTrip(msg);
    assert.equal(reply.readInt32LE(8), 7); // responseTo
    assert.equal(reply.readInt32LE(12), 1); // OP_REPLY
    assert.equal(reply.readInt32LE(32), 1); // numberReturned
    const doc = deserialize(reply.subarray(36));
    assert.equal(doc.ismaster, true);
    assert.equal(doc.helloOk, true);
    assert.equal(doc.maxWireVersion, 21);
    assert.equal(doc.ok, 1);
  });

  test('OP_MSG with checksumPresent and a document sequence', async () => {
    const body = serialize({ insert: 'seq', $db: 'wire' });
    const docs = [serialize({ _id: 1 }), serialize({ _id: 2 })];
    const seqId = Buffer.from('documents\0');
    const seqLen = 4 + seqId.length + docs.reduce((n, d) => n + d.length, 0);
    const msg = Buffer.alloc(16 + 4 + 1 + body.length + 1 + seqLen + 4);
    let p = 0;
    p = msg.writeInt32LE(msg.length, p);
    p = msg.writeInt32LE(9, p); // requestID
    p = msg.writeInt32LE(0, p);
    p = msg.writeInt32LE(2013, p); // OP_MSG
    p = msg.writeUInt32LE(1, p); // checksumPresent (the server does not verify it)
    msg[p++] = 0;
    p += Buffer.from(body).copy(msg, p);
    msg[p++] = 1;
    p = msg.writeInt32LE(seqLen, p);
    p += seqId.copy(msg, p);
    for (const d of docs) p += Buffer.from(d).copy(msg, p);
    const reply = await roundTrip(msg);
    assert.equal(reply.readInt32LE(8), 9); // responseTo
    assert.equal(reply.readInt32LE(12), 2013);
    assert.equal(reply.readUInt32LE(16), 0); // no flags
    assert.equal(reply[20], 0); // body section
    assert.deepEqual(deserialize(reply.subarray(21)), { n: 2, ok: 1 });
    assert.deepEqual(await collection('wire', 'seq').find().toArray(), [{ _id: 1 }, { _id: 2 }]);
  });

  test('an unknown command fails like mongod', async () => {
    await assert.rejects(client.db('x').command({ frobnicate: 1 }), (e: unknown) => {
      assert.ok(e instanceof MongoServerError);
      assert.equal(e.message, "no such command: 'frobnicate'");
      assert.equal(e.code, 59);
      assert.equal(e.codeName, 'CommandNotFound');
      return true;
    });
  });

  test('an invalid filter fails with ok:0 and a message', async () => {
    const coll = collection('errors', 'c');
    await coll.insertOne({ a: 1 });
    await assert.rejects(coll.find({ a: { $frob: 1 } }).toArray(), (e: unknown) => {
      assert.ok(e instanceof MongoServerError);
      assert.equal(e.code, 2);
      assert.equal(e.codeName, 'BadValue');
      assert.match(e.message, /\$frob/);
      return true;
    });
  });

  test('getParameter and endSessions', async () => {
    const p = await client.db('admin').command({ getParameter: 1, featureCompatibilityVersion: 1 });
    assert.deepEqual(p, { featureCompatibilityVersion: { version: '7.0' }, ok: 1 });
    assert.deepEqual(await client.db('admin').command({ endSessions: [] }), { ok: 1 });
  });
});

describe('namespaces', () => {
  test('create, listCollections, listIndexes, listDatabases, drop, dropDatabase', async () => {
    const db = client.db('ns');
    await db.createCollection('b');
    await db.collection('a').insertOne({ x: 1 });
    await assert.rejects(db.createCollection('b'), (e: unknown) => {
      assert.ok(e instanceof MongoServerError);
      assert.equal(e.code, 48);
      assert.equal(e.message, 'Collection ns.b already exists.');
      return true;
    });
    assert.deepEqual(
      (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name),
      ['a', 'b'],
    );
    assert.deepEqual(
      (await db.listCollections({ name: 'b' }).toArray()).map((c) => [c.name, c.type]),
      [['b', 'collection']],
    );
    assert.deepEqual(await db.collection('a').listIndexes().toArray(), [{ v: 2, key: { _id: 1 }, name: '_id_' }]);
    const dbs = await client.db('admin').admin().listDatabases();
    assert.ok(dbs.databases.some((d) => d.name === 'ns'));

    assert.equal(await db.collection('b').drop(), true);
    assert.equal(await db.collection('missing').drop(), true); // mongod 7.0: ok for a missing namespace
    assert.deepEqual((await db.listCollections().toArray()).map((c) => c.name), ['a']);
    assert.equal(await db.dropDatabase(), true);
    assert.deepEqual(await db.listCollections().toArray(), []);
  });
});

describe('writes', () => {
  test('insertMany (document sequence) and insertOne (body array) store _id first', async () => {
    const coll = collection('w', 'ids');
    const cmds = await commandsDuring(async () => {
      await coll.insertMany([{ a: 1 }, { a: 2 }]);
      await coll.insertOne({ a: 3 });
    });
    assert.deepEqual(
      cmds.map((c) => c.commandName),
      ['insert', 'insert'],
    );
    const docs = await coll.find({}, { raw: true }).toArray();
    for (const raw of docs) {
      const keys = Object.keys(deserialize(raw as unknown as Uint8Array));
      assert.deepEqual(keys, ['_id', 'a']);
    }
  });

  test('server.insert adds ObjectIds and keeps given ids', async () => {
    server.insert('w', 'direct', [{ a: 1 }, { b: 2, _id: 'mine' }]);
    const docs = await collection('w', 'direct').find().toArray();
    assert.equal(docs.length, 2);
    assert.ok(docs[0]!._id instanceof ObjectId);
    assert.deepEqual(Object.keys(docs[0]!), ['_id', 'a']);
    assert.deepEqual(docs[1], { _id: 'mine', b: 2 });
  });

  test('an unacknowledged write (moreToCome) is applied', async () => {
    const coll = collection('w', 'w0');
    await coll.insertOne({ _id: 1 } as Document, { writeConcern: { w: 0 } });
    assert.deepEqual(await coll.find().toArray(), [{ _id: 1 }]);
  });

  test('deleteMany and deleteOne', async () => {
    const coll = collection('w', 'del');
    await coll.insertMany([1, 2, 3, 4, 5].map((i) => ({ _id: i, odd: i % 2 === 1 }) as Document));
    assert.equal((await coll.deleteOne({ odd: true })).deletedCount, 1);
    assert.equal((await coll.deleteMany({ odd: true })).deletedCount, 2);
    assert.deepEqual(await coll.find().toArray(), [
      { _id: 2, odd: false },
      { _id: 4, odd: false },
    ]);
  });
});

describe('reads', () => {
  // 100 readings, one a minute; time as Date, Long epoch-ms and ISO string.
  const readings = Array.from({ length: 100 }, (_, i) => ({
    _id: i,
    t: new Date(T0 + i * 60_000),
    tl: Long.fromNumber(T0 + i * 60_000),
    ts: iso(T0 + i * 60_000),
    host: `h${i % 3}`,
    v: i * 1.5,
  }));
  const ids = (docs: Document[]) => docs.map((d) => d._id as number);
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

  before(() => server.insert('r', 'm', readings));
  const coll = () => collection('r', 'm');

  test('half-open range on a Date field', async () => {
    const docs = await coll()
      .find({ t: { $gte: new Date(T0 + 10 * 60_000), $lt: new Date(T0 + 20 * 60_000) } })
      .toArray();
    assert.deepEqual(ids(docs), range(10, 20));
    // Long values come back as numbers by default (promoteLongs)
    assert.deepEqual(docs[0], { ...readings[10], tl: T0 + 10 * 60_000 });
  });

  test('half-open range on a Long field, with Long and number bounds', async () => {
    const byLong = await coll()
      .find({ tl: { $gte: Long.fromNumber(T0 + 30 * 60_000), $lt: Long.fromNumber(T0 + 35 * 60_000) } })
      .toArray();
    assert.deepEqual(ids(byLong), range(30, 35));
    const byNumber = await coll()
      .find({ tl: { $gte: T0 + 30 * 60_000, $lt: T0 + 35 * 60_000 } })
      .toArray();
    assert.deepEqual(ids(byNumber), range(30, 35));
    const typed = await coll().find({ _id: 30 }, { promoteLongs: false }).toArray();
    assert.ok(typed[0]!.tl instanceof Long);
    assert.equal(typed[0]!.tl.toString(), String(T0 + 30 * 60_000));
  });

  test('half-open range on an ISO-string field', async () => {
    const docs = await coll()
      .find({ ts: { $gte: iso(T0 + 90 * 60_000), $lt: iso(T0 + 200 * 60_000) } })
      .toArray();
    assert.deepEqual(ids(docs), range(90, 100));
  });

  test('a range never matches values of another type (Date bound on a string field)', async () => {
    assert.deepEqual(await coll().find({ ts: { $gte: new Date(0) } }).toArray(), []);
  });

  test('projection', async () => {
    const inc = await coll().find({ _id: { $lt: 2 } }).project({ host: 1, _id: 0 }).toArray();
    assert.deepEqual(inc, [{ host: 'h0' }, { host: 'h1' }]);
    const exc = await coll().find({ _id: 0 }).project({ t: 0, tl: 0, ts: 0 }).toArray();
    assert.deepEqual(exc, [{ _id: 0, host: 'h0', v: 0 }]);
  });

  test('sort, skip and limit', async () => {
    const desc = await coll().find({ host: 'h1' }).sort({ v: -1 }).skip(1).limit(3).toArray();
    assert.deepEqual(ids(desc), [94, 91, 88]);
    const twoKeys = await coll().find({ _id: { $lt: 6 } }).sort({ host: 1, _id: -1 }).toArray();
    assert.deepEqual(ids(twoKeys), [3, 0, 4, 1, 5, 2]);
    const natural = await coll().find({ _id: { $lt: 3 } }).sort({ $natural: -1 }).toArray();
    assert.deepEqual(ids(natural), [2, 1, 0]);
  });

  test('countDocuments and estimatedDocumentCount', async () => {
    assert.equal(await coll().countDocuments({ host: 'h2' }), 33);
    assert.equal(await coll().countDocuments({ v: { $gte: 100 } }), 33);
    assert.equal(await coll().countDocuments({ host: 'none' }), 0);
    assert.equal(await coll().countDocuments({}, { skip: 10, limit: 5 }), 5);
    assert.equal(await coll().estimatedDocumentCount(), 100);
    assert.equal(await collection('r', 'missing').estimatedDocumentCount(), 0);
  });

  test('aggregate $match/$group/$sort', async () => {
    const out = await coll()
      .aggregate([
        { $match: { _id: { $lt: 9 } } },
        { $group: { _id: '$host', n: { $sum: 1 }, total: { $sum: '$v' }, first: { $min: '$t' } } },
        { $sort: { _id: 1 } },
      ])
      .toArray();
    assert.deepEqual(out, [
      { _id: 'h0', n: 3, total: 13.5, first: new Date(T0) },
      { _id: 'h1', n: 3, total: 18, first: new Date(T0 + 60_000) },
      { _id: 'h2', n: 3, total: 22.5, first: new Date(T0 + 2 * 60_000) },
    ]);
  });

  test('aggregate that only filters and sorts returns stored documents exactly', async () => {
    const out = await coll()
      .aggregate([{ $match: { host: 'h0' } }, { $sort: { _id: -1 } }, { $limit: 2 }], { promoteLongs: false })
      .toArray();
    assert.deepEqual(ids(out), [99, 96]);
    assert.ok(out[0]!.tl instanceof Long);
  });

  test('aggregate keeps int64 results as Long', async () => {
    const [out] = await coll()
      .aggregate([{ $group: { _id: null, last: { $max: '$tl' } } }], { promoteLongs: false })
      .toArray();
    assert.ok(out!.last instanceof Long);
    assert.equal(out!.last.toString(), String(T0 + 99 * 60_000));
  });

  test('aggregate $lookup reads another collection', async () => {
    server.insert('r', 'hosts', [
      { _id: 'h0', dc: 'east' },
      { _id: 'h1', dc: 'west' },
    ]);
    const out = await coll()
      .aggregate([
        { $match: { _id: { $lt: 3 } } },
        { $lookup: { from: 'hosts', localField: 'host', foreignField: '_id', as: 'h' } },
        { $project: { dc: { $arrayElemAt: ['$h.dc', 0] } } },
      ])
      .toArray();
    assert.deepEqual(out, [{ _id: 0, dc: 'east' }, { _id: 1, dc: 'west' }, { _id: 2 }]);
  });

  test('distinct', async () => {
    assert.deepEqual((await coll().distinct('host')).sort(), ['h0', 'h1', 'h2']);
    assert.deepEqual(await coll().distinct('host', { _id: { $in: [4, 7] } }), ['h1']);
  });
});

describe('cursors', () => {
  const N = 25_000;
  before(() =>
    server.insert(
      'c',
      'big',
      Array.from({ length: N }, (_, i) => ({ _id: i, t: new Date(T0 + i * 1000), pad: 'x'.repeat(20) })),
    ),
  );
  const big = () => collection('c', 'big');

  test('getMore walks 25k documents in batches of 1000', async () => {
    let seen: number[] = [];
    const cmds = await commandsDuring(async () => {
      seen = (await big().find({}).batchSize(1000).toArray()).map((d) => d._id as number);
    });
    assert.equal(seen.length, N);
    assert.deepEqual(seen, Array.from({ length: N }, (_, i) => i));
    assert.equal(cmds.filter((c) => c.commandName === 'find').length, 1);
    // The batch that drains the cursor says so: 24 getMores, no killCursors.
    assert.equal(cmds.filter((c) => c.commandName === 'getMore').length, 24);
    assert.equal(cmds.filter((c) => c.commandName === 'killCursors').length, 0);
    assert.equal(server.openCursors(), 0);
  });

  test('find without batchSize: first batch of 101, then the rest', async () => {
    const cursor = big().find({ _id: { $lt: 500 } });
    const cmds = await commandsDuring(async () => {
      assert.equal((await cursor.toArray()).length, 500);
    });
    assert.deepEqual(
      cmds.map((c) => c.commandName),
      ['find', 'getMore'],
    );
  });

  test('limit and singleBatch close the cursor', async () => {
    const docs = await big().find({}).limit(5).toArray();
    assert.deepEqual(
      docs.map((d) => d._id),
      [0, 1, 2, 3, 4],
    );
    const single = await big().find({}, { batchSize: 3, singleBatch: true }).toArray();
    assert.equal(single.length, 3);
    assert.equal(server.openCursors(), 0);
  });

  test('closing a cursor early kills it on the server', async () => {
    const cursor = big().find({}).batchSize(10);
    assert.equal((await cursor.next())?._id, 0);
    assert.equal(server.openCursors(), 1);
    const cmds = await commandsDuring(() => cursor.close());
    assert.deepEqual(
      cmds.map((c) => c.commandName),
      ['killCursors'],
    );
    assert.equal(server.openCursors(), 0);
  });

  test('killCursors reports killed and unknown ids', async () => {
    const db = client.db('c');
    const first = await db.command({ find: 'big', batchSize: 2 }, { promoteLongs: false });
    const id = first.cursor.id as Long;
    assert.notEqual(id.toString(), '0');
    assert.equal(first.cursor.ns, 'c.big');
    const res = await db.command({ killCursors: 'big', cursors: [id, Long.fromNumber(12345)] });
    assert.deepEqual(res.cursorsKilled.map(String), [id.toString()]);
    assert.deepEqual(res.cursorsNotFound.map(String), ['12345']);
    await assert.rejects(db.command({ getMore: id, collection: 'big' }), (e: unknown) => {
      assert.ok(e instanceof MongoServerError);
      assert.equal(e.code, 43);
      assert.equal(e.codeName, 'CursorNotFound');
      return true;
    });
  });

  test('batches stay under 16 MB whatever the batch size', async () => {
    const mb = 'y'.repeat(1024 * 1024);
    server.insert('c', 'fat', Array.from({ length: 40 }, (_, i) => ({ _id: i, mb })));
    const sizes: number[] = [];
    const listener = (e: { reply: Document; commandName: string }) => {
      const c = e.reply.cursor as Document | undefined;
      if (c) sizes.push(((c.firstBatch ?? c.nextBatch) as unknown[]).length);
    };
    client.on('commandSucceeded', listener);
    try {
      const docs = await collection('c', 'fat').find().batchSize(1000).toArray();
      assert.deepEqual(
        docs.map((d) => d._id),
        Array.from({ length: 40 }, (_, i) => i),
      );
    } finally {
      client.off('commandSucceeded', listener);
    }
    // 1 MiB documents: 15 fit under 16 MiB with the envelope.
    assert.deepEqual(sizes, [15, 15, 10]);
  });

  test('a failure armed for getMore: the connection closes without a reply, or the reply is an error; the cursor is gone', async () => {
    const cursor = big().find({}).batchSize(100);
    assert.equal((await cursor.next())?._id, 0);
    server.failGetMore({ ns: 'c.big', close: true });
    await assert.rejects(cursor.toArray(), (e: unknown) => e instanceof MongoNetworkError);
    await server.cursorsClosed();
    const other = big().find({}).batchSize(100);
    assert.equal((await other.next())?._id, 0);
    server.failGetMore({ ns: 'c.elsewhere', error: { code: 175, codeName: 'QueryPlanKilled', errmsg: 'not this one' } });
    server.failGetMore({ error: { code: 175, codeName: 'QueryPlanKilled', errmsg: 'query plan killed :: caused by :: collection dropped' } });
    await assert.rejects(other.toArray(), (e: unknown) => e instanceof MongoServerError && e.code === 175 && /collection dropped/.test(e.message));
    await server.cursorsClosed();
    await other.close();
    // The fault for another namespace is still armed, and waits for a getMore there.
    assert.equal((await big().find({}).batchSize(1000).toArray()).length, N);
  });

  test('parallel cursors over several connections', async () => {
    const events: string[] = [];
    const pooled = new MongoClient(server.url, { maxPoolSize: 4 });
    pooled.on('connectionCreated', (e) => events.push(String(e.connectionId)));
    try {
      const coll = pooled.db('c').collection<Loose>('big');
      const windows = Array.from({ length: 8 }, (_, w) => [w * 3000, w * 3000 + 3000] as const);
      const results = await Promise.all(
        windows.map(async ([lo, hi]) => {
          const cursor = coll
            .find({ t: { $gte: new Date(T0 + lo * 1000), $lt: new Date(T0 + hi * 1000) } })
            .batchSize(100);
          const got: number[] = [];
          for await (const d of cursor) got.push(d._id as number);
          return got;
        }),
      );
      results.forEach((got, w) => {
        assert.deepEqual(got, Array.from({ length: 3000 }, (_, i) => w * 3000 + i));
      });
      assert.ok(events.length > 1 && events.length <= 4, `connections: ${events.length}`);
      assert.equal(server.openCursors(), 0);
    } finally {
      await pooled.close();
    }
  });
});

describe('values', () => {
  const doc = {
    _id: new ObjectId('65a1b2c3d4e5f60718293a4b'),
    dec: Decimal128.fromString('12345678901234567890.123456789'),
    long: Long.fromString('9007199254740993'),
    int: new Int32(7),
    dbl: new Double(2),
    date: new Date('2024-05-06T07:08:09.123Z'),
    bin: new Binary(Buffer.from([0, 1, 2, 255])),
    ts: new Timestamp({ t: 1700000000, i: 3 }),
    nested: { a: { b: [new Int32(1), 'two', { c: null }] }, flag: true },
    arr: [new Int32(1), Long.fromNumber(2), new Double(3.5), 'four', [new Int32(5)]],
    nul: null,
  };

  before(() => server.insert('v', 'types', [doc]));
  const coll = () => collection('v', 'types');

  test('values round-trip with their BSON types', async () => {
    const [got] = await coll().find({}, { promoteValues: false, promoteLongs: false }).toArray();
    assert.deepEqual(got, doc);
  });

  test('stored bytes come back byte for byte', async () => {
    const [raw] = await coll().find({}, { raw: true }).toArray();
    assert.deepEqual(Buffer.from(raw as unknown as Uint8Array), Buffer.from(serialize(doc)));
  });

  test('values inserted through the driver round-trip too', async () => {
    const c = collection('v', 'driver');
    await c.insertOne({ ...doc });
    const [got] = await c.find({}, { promoteValues: false, promoteLongs: false }).toArray();
    assert.deepEqual(got, doc);
  });

  test('Long comparisons are exact beyond 2^53', async () => {
    const c = collection('v', 'longs');
    const base = 9007199254740992n;
    await c.insertMany([0n, 1n, 2n, 3n].map((d) => ({ _id: Number(d), n: Long.fromBigInt(base + d) }) as Loose));
    const got = await c
      .find({ n: { $gt: Long.fromBigInt(base + 1n), $lte: Long.fromBigInt(base + 3n) } })
      .toArray();
    assert.deepEqual(
      got.map((d) => d._id),
      [2, 3],
    );
  });

  test('comparisons follow mongod over mixed types, arrays and Decimal128', async () => {
    const c = collection('v', 'mixed');
    await c.insertMany([
      { _id: 'int', v: new Int32(5) },
      { _id: 'dbl', v: new Double(5.5) },
      { _id: 'long', v: Long.fromNumber(6) },
      { _id: 'dec', v: Decimal128.fromString('7.25') },
      { _id: 'small', v: 4 },
      { _id: 'str', v: '9' },
      { _id: 'arr', v: [1, 10] },
      { _id: 'arr-low', v: [1, 2] },
      { _id: 'missing' },
      { _id: 'null', v: null },
      { _id: 'nested', v: { w: 8 } },
    ] as Document[]);
    const idsOf = async (filter: Document) => (await c.find(filter).toArray()).map((d) => d._id);
    assert.deepEqual(await idsOf({ v: { $gte: 5 } }), ['int', 'dbl', 'long', 'dec', 'arr']);
    // As in mongod, each bound may be met by a different array element: [1, 10] matches.
    assert.deepEqual(await idsOf({ v: { $gte: 5, $lt: 7 } }), ['int', 'dbl', 'long', 'arr']);
    assert.deepEqual(await idsOf({ v: 5 }), ['int']);
    assert.deepEqual(await idsOf({ v: 10 }), ['arr']);
    assert.deepEqual(await idsOf({ v: { $ne: 5 } }), [
      'dbl',
      'long',
      'dec',
      'small',
      'str',
      'arr',
      'arr-low',
      'missing',
      'null',
      'nested',
    ]);
    assert.deepEqual(await idsOf({ 'v.w': { $gt: 7 } }), ['nested']);
    assert.deepEqual(await idsOf({ v: { $type: 'string' } }), ['str']);
    assert.deepEqual(await idsOf({ v: null }), ['missing', 'null']);
    assert.deepEqual(await idsOf({ $or: [{ v: 5 }, { _id: 'str' }] }), ['int', 'str']);
    assert.deepEqual(await idsOf({ v: { $in: [4, 10] } }), ['small', 'arr']);
  });
});

// The order the server sorts and compares by is MongoDB's documented one
// (https://www.mongodb.com/docs/manual/reference/bson-type-comparison-order/); the expected
// orders below are written from that page, not from the server.
describe('order', () => {
  const ids = (docs: Document[]) => docs.map((d) => d._id);

  test('sort({t: -1}).limit(1) over nanosecond epochs above 2^53 returns the latest document', async () => {
    const c = collection('o', 'nanos');
    const base = 1_700_000_000_000_000_000n; // 2023-11-14 in ns; neighbours 1 ns apart are one double
    await c.insertMany([3n, 0n, 4n, 1n, 2n].map((d) => ({ _id: Number(d), t: Long.fromBigInt(base + d) })) as Document[]);
    assert.deepEqual(ids(await c.find().sort({ t: -1 }).limit(1).toArray()), [4]);
    assert.deepEqual(ids(await c.find().sort({ t: 1 }).limit(1).toArray()), [0]);
    assert.deepEqual(ids(await c.find().sort({ t: 1 }).toArray()), [0, 1, 2, 3, 4]);
    // A double bound is compared exactly too: 1.7e18 is base itself, and base + 1 is above it.
    assert.deepEqual(ids(await c.find({ t: { $gt: new Double(1.7e18) } }).sort({ t: 1 }).toArray()), [1, 2, 3, 4]);
    assert.deepEqual(ids(await c.find({ t: new Double(1.7e18) }).toArray()), [0]);
    assert.deepEqual(ids(await c.find({ t: { $gte: Long.fromBigInt(base + 1n), $lt: Long.fromBigInt(base + 3n) } }).sort({ t: 1 }).toArray()), [1, 2]);
  });

  test('Decimal128 compares exactly with itself and with every other number type', async () => {
    const c = collection('o', 'decimals');
    await c.insertMany([
      { _id: 'dec-1+1e-33', v: Decimal128.fromString('1.000000000000000000000000000000001') },
      { _id: 'long-2^53+1', v: Long.fromString('9007199254740993') },
      { _id: 'dec-1', v: Decimal128.fromString('1') },
      { _id: 'dec-2^53+0.5', v: Decimal128.fromString('9007199254740992.5') },
      { _id: 'dbl-1+2^-52', v: new Double(1.0000000000000002) },
      { _id: 'dec-1-1e-34', v: Decimal128.fromString('0.9999999999999999999999999999999999') },
      { _id: 'int-1', v: new Int32(1) },
      { _id: 'dec-2^53+1', v: Decimal128.fromString('9007199254740993') },
    ] as Document[]);
    assert.deepEqual(ids(await c.find().sort({ v: 1, _id: 1 }).toArray()),
      ['dec-1-1e-34', 'dec-1', 'int-1', 'dec-1+1e-33', 'dbl-1+2^-52', 'dec-2^53+0.5', 'dec-2^53+1', 'long-2^53+1']);
    assert.deepEqual(ids(await c.find({ v: new Int32(1) }).sort({ _id: 1 }).toArray()), ['dec-1', 'int-1']);
    assert.deepEqual(ids(await c.find({ v: { $gt: Decimal128.fromString('1') } }).sort({ v: 1, _id: 1 }).toArray()),
      ['dec-1+1e-33', 'dbl-1+2^-52', 'dec-2^53+0.5', 'dec-2^53+1', 'long-2^53+1']);
    assert.deepEqual(ids(await c.find({ v: { $gte: Decimal128.fromString('9007199254740992.5'), $lt: Long.fromString('9007199254740993') } }).toArray()),
      ['dec-2^53+0.5']);
    assert.deepEqual(ids(await c.find({ v: Long.fromString('9007199254740993') }).sort({ _id: 1 }).toArray()), ['dec-2^53+1', 'long-2^53+1']);
  });

  test('values of different types sort in the documented order; null and a missing field sort alike', async () => {
    const c = collection('o', 'mixed');
    // Inserted in no particular order.
    await c.insertMany([
      { _id: 'date', v: new Date(T0) }, { _id: 'string', v: 'a' }, { _id: 'maxKey', v: new MaxKey() }, { _id: 'null', v: null },
      { _id: 'objectId', v: new ObjectId('65a1b2c3d4e5f60718293a4b') }, { _id: 'regex', v: new BSONRegExp('^a', 'i') }, { _id: 'number', v: 5 },
      { _id: 'bool', v: true }, { _id: 'missing' }, { _id: 'binData', v: new Binary(Buffer.from([1])) }, { _id: 'object', v: { a: 1 } },
      { _id: 'timestamp', v: new Timestamp({ t: 1, i: 1 }) }, { _id: 'minKey', v: new MinKey() },
    ] as Document[]);
    const documented = ['minKey', 'null|missing', 'null|missing', 'number', 'string', 'object', 'binData', 'objectId', 'bool', 'date', 'timestamp', 'regex', 'maxKey'];
    const shape = (order: string[]) => order.map((id) => (id === 'null' || id === 'missing' ? 'null|missing' : id));
    const ascending = ids(await c.find().sort({ v: 1 }).toArray()) as string[];
    assert.deepEqual(shape(ascending), documented);
    const descending = ids(await c.find().sort({ v: -1 }).toArray()) as string[];
    assert.deepEqual(shape(descending), [...documented].reverse());
    // Comparisons stay within a type: $gt a string matches strings only.
    assert.deepEqual(ids(await c.find({ v: { $gt: '' } }).toArray()), ['string']);
    assert.deepEqual(ids(await c.find({ v: { $lt: new Date(T0 + 1) } }).toArray()), ['date']);
  });

  test('arrays sort by their smallest element ascending and their largest descending; an empty array before null', async () => {
    const c = collection('o', 'arrays');
    await c.insertMany([
      { _id: 'a', v: [5, 1] }, { _id: 'b', v: [3] }, { _id: 'c', v: 2 }, { _id: 'd', v: [] }, { _id: 'e', v: null }, { _id: 'f', v: [4, 10] },
    ] as Document[]);
    assert.deepEqual(ids(await c.find().sort({ v: 1 }).toArray()), ['d', 'e', 'a', 'c', 'b', 'f']);
    assert.deepEqual(ids(await c.find().sort({ v: -1 }).toArray()), ['f', 'a', 'b', 'c', 'e', 'd']);
  });

  test('documents that tie come back in an order that is not insertion order (nor its reverse)', async () => {
    const c = collection('o', 'ties');
    const n = 12;
    await c.insertMany(Array.from({ length: n }, (_, i) => ({ _id: i, k: 1, j: i % 2 })) as Document[]);
    const inserted = Array.from({ length: n }, (_, i) => i);
    const tied = ids(await c.find().sort({ k: 1 }).toArray()) as number[];
    assert.deepEqual([...tied].sort((a, b) => a - b), inserted, 'every document once');
    assert.notDeepEqual(tied, inserted);
    assert.notDeepEqual(tied, [...inserted].reverse());
    const byJ = ids(await c.find().sort({ j: 1 }).toArray()) as number[];
    assert.deepEqual(byJ.map((i) => i % 2), [...Array(n / 2).fill(0), ...Array(n / 2).fill(1)]);
    // $natural is the storage order, by definition.
    assert.deepEqual(ids(await c.find().sort({ $natural: 1 }).toArray()), inserted);
  });

  test('NaN equals only NaN in a filter, and sorts below every other number', async () => {
    const c = collection('o', 'nan');
    await c.insertMany([
      { _id: 'zero', v: 0 }, { _id: 'nan', v: new Double(NaN) }, { _id: '-inf', v: -Infinity }, { _id: 'dec-nan', v: Decimal128.fromString('NaN') },
    ] as Document[]);
    assert.deepEqual(ids(await c.find({ v: { $gt: new Double(NaN) } }).toArray()), []);
    assert.deepEqual(ids(await c.find({ v: { $lt: new Double(NaN) } }).toArray()), []);
    assert.deepEqual(ids(await c.find({ v: new Double(NaN) }).sort({ _id: 1 }).toArray()), ['dec-nan', 'nan']);
    assert.deepEqual(ids(await c.find({ v: { $lt: 0 } }).toArray()), ['-inf']);
    const sorted = ids(await c.find().sort({ v: 1 }).toArray()) as string[];
    assert.deepEqual([sorted.slice(0, 2).sort(), sorted.slice(2)], [['dec-nan', 'nan'], ['-inf', 'zero']]);
  });

  test('one engine: an unknown operator, $expr and a $match inside $lookup are refused, not handed to another', async () => {
    const c = collection('o', 'nan');
    const refused = async (p: Promise<unknown>, message: RegExp) =>
      assert.rejects(p, (e: unknown) => e instanceof MongoServerError && e.code === 2 && message.test(e.message));
    await refused(c.find({ v: { $foo: 1 } }).toArray(), /unknown operator: \$foo/);
    await refused(c.find({ $expr: { $gt: ['$v', 0] } }).toArray(), /\$expr is not supported by this test server/);
    await refused(c.aggregate([{ $lookup: { from: 'x', pipeline: [{ $match: { a: 1 } }], as: 'y' } }]).toArray(), /inside another stage is not supported/);
  });
});

// Opt-in: MONGO_WIRE_BENCH=1 (or a document count) node --test dist/test/mongo-wire-server.test.js
// Indicative only: under node:test the driver's per-document promises cost 2-3x more
// client CPU than in a plain script (the server's share is unchanged, ~0.3 s per 1M).
describe('throughput', { skip: !process.env.MONGO_WIRE_BENCH && 'set MONGO_WIRE_BENCH=1 to measure' }, () => {
  const n = Number(process.env.MONGO_WIRE_BENCH) > 1 ? Number(process.env.MONGO_WIRE_BENCH) : 1_000_000;
  const lo = T0 + (n / 4) * 1000;
  const hi = T0 + (n / 4 + n / 2) * 1000;
  const half = { time: { $gte: new Date(lo), $lt: new Date(hi) } };

  // Its own client: command monitoring (on the shared one) decodes every reply twice.
  let plain: MongoClient;
  after(() => plain.close());
  before(async () => {
    plain = await MongoClient.connect(server.url, { maxPoolSize: 4 });
    // time Date, host string, three numbers; inserted in slices to keep setup memory low
    for (let from = 0; from < n; from += 100_000) {
      const docs = [];
      for (let i = from; i < Math.min(n, from + 100_000); i++) {
        docs.push({ time: new Date(T0 + i * 1000), host: `host-${i % 100}`, cpu: (i % 97) + 0.5, mem: i * 3.25, load: i % 7 });
      }
      server.insert('bench', 'm', docs);
    }
  });

  /** Reads `filters` in parallel cursors; returns docs and docs/s. */
  async function measure(filters: Document[], mode: 'iterate' | 'stream' | 'raw') {
    const coll = plain.db('bench').collection('m');
    const start = performance.now();
    let count = 0;
    await Promise.all(
      filters.map(async (f) => {
        const cursor = coll.find(f, mode === 'raw' ? { raw: true } : {}).batchSize(5000);
        if (mode === 'stream') for await (const _ of cursor.stream()) count++;
        else for await (const _ of cursor) count++;
      }),
    );
    const ms = performance.now() - start;
    return { count, rate: Math.round((count / ms) * 1000) };
  }

  /** `[from, to)` split into `parts` time windows. */
  const windows = (from: number, to: number, parts: number) =>
    Array.from({ length: parts }, (_, i) => ({
      time: {
        $gte: new Date(from + ((to - from) * i) / parts),
        $lt: new Date(i === parts - 1 ? to : from + ((to - from) * (i + 1)) / parts),
      },
    }));

  const cases: Array<[string, Document[], 'iterate' | 'stream' | 'raw', number]> = [
    ['(a) no filter, iterate', [{}], 'iterate', n],
    ['(a) no filter, stream()', [{}], 'stream', n],
    ['(a) no filter, raw: true', [{}], 'raw', n],
    ['(b) half on Date, iterate', [half], 'iterate', n / 2],
    ['(b) half on Date, stream()', [half], 'stream', n / 2],
    ['(b) half on Date, 4 parallel cursors', windows(lo, hi, 4), 'iterate', n / 2],
    ['(a) all in 4 parallel cursors', windows(T0, T0 + n * 1000, 4), 'iterate', n],
  ];
  for (const [name, filters, mode, expected] of cases) {
    test(name, async (t) => {
      const { count, rate } = await measure(filters, mode);
      assert.equal(count, expected);
      t.diagnostic(`${name}: ${count} docs, ${rate} docs/s`);
    });
  }
});

/** Sends one message on a fresh socket and returns the first reply message. */
function roundTrip(msg: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(server.port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    socket.on('connect', () => socket.write(msg));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 4 && buf.length >= buf.readInt32LE(0)) {
        socket.destroy();
        resolve(buf.subarray(0, buf.readInt32LE(0)));
      }
    });
    socket.on('error', reject);
  });
}
