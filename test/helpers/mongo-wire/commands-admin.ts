// Handshake, server information and namespace commands, shaped like mongod 7.0's.
import { type Document } from 'bson';
import { cursorReply } from './raw-bson.js';
import { ArraySource, encode } from './cursors.js';
import { Matcher } from './matcher.js';
import { CommandError, EncodedReply, LIMITS, MSG_PREFIX, type Handler } from './protocol.js';
import { doc, num, str } from './values.js';

const VERSION = '7.0.0';

function helloReply(legacy: boolean): Handler {
  return (req) => {
    const reply: Document = {};
    if (req.body.helloOk === true) reply.helloOk = true;
    // Without topologyVersion the driver polls instead of streaming hello, which is
    // all a single in-memory server needs.
    reply[legacy ? 'ismaster' : 'isWritablePrimary'] = true;
    Object.assign(reply, {
      maxBsonObjectSize: LIMITS.maxBsonObjectSize,
      maxMessageSizeBytes: LIMITS.maxMessageSizeBytes,
      maxWriteBatchSize: LIMITS.maxWriteBatchSize,
      localTime: new Date(),
      logicalSessionTimeoutMinutes: 30,
      connectionId: req.connectionId,
      minWireVersion: 0,
      maxWireVersion: 21,
      readOnly: false,
      ok: 1,
    });
    return reply;
  };
}

const buildInfo: Handler = () => ({
  version: VERSION,
  gitVersion: '0000000000000000000000000000000000000000',
  modules: [],
  allocator: 'system',
  javascriptEngine: 'none',
  sysInfo: 'deprecated',
  versionArray: [7, 0, 0, 0],
  bits: 64,
  debug: false,
  maxBsonObjectSize: LIMITS.maxBsonObjectSize,
  storageEngines: ['memory'],
  ok: 1,
});

const PARAMETERS: Document = {
  featureCompatibilityVersion: { version: '7.0' },
  authenticationMechanisms: ['SCRAM-SHA-1', 'SCRAM-SHA-256'],
  maxBSONDepth: 200,
};

const getParameter: Handler = (req) => {
  const all = req.body.getParameter === '*';
  const reply: Document = {};
  for (const [name, value] of Object.entries(PARAMETERS)) {
    if (all || name in req.body) reply[name] = value;
  }
  reply.ok = 1;
  return reply;
};

const ID_INDEX = { v: 2, key: { _id: 1 }, name: '_id_' };

/** The documents that match a filter, by the server's one query engine. */
function matching(docs: Document[], filter: Document): Document[] {
  let m: Matcher;
  try {
    m = new Matcher(filter);
  } catch (e) {
    throw new CommandError(2, 'BadValue', (e as Error).message);
  }
  return docs.filter((d) => {
    const raw = encode(d);
    return m.test(raw.buf, raw.start);
  });
}

/** A cursor reply for a short, fully known list (listCollections, listIndexes). */
function listReply(docs: Document[], ns: string, req: Parameters<Handler>[0], state: Parameters<Handler>[1]) {
  const batchSize = num(doc(req.body.cursor, 'cursor')?.batchSize, 101);
  const first = state.cursors.first(ns, new ArraySource(docs.map(encode)), batchSize, false);
  return new EncodedReply(cursorReply(MSG_PREFIX, 'firstBatch', first.docs, first.id, ns));
}

const listCollections: Handler = (req, state) => {
  const colls = state.store.dbs.get(req.db) ?? new Map();
  let infos: Document[] = [...colls.keys()].sort().map((name) => ({
    name,
    type: 'collection',
    options: {},
    info: { readOnly: false },
    idIndex: ID_INDEX,
  }));
  const filter = doc(req.body.filter, 'filter');
  if (filter && Object.keys(filter).length > 0) infos = matching(infos, filter);
  if (req.body.nameOnly === true) infos = infos.map((c) => ({ name: c.name, type: c.type }));
  return listReply(infos, `${req.db}.$cmd.listCollections`, req, state);
};

const listIndexes: Handler = (req, state) => {
  const name = str(req.body.listIndexes, 'listIndexes');
  if (!state.store.get(req.db, name)) {
    throw new CommandError(26, 'NamespaceNotFound', `ns does not exist: ${req.db}.${name}`);
  }
  return listReply([ID_INDEX], `${req.db}.${name}`, req, state);
};

const listDatabases: Handler = (req, state) => {
  let dbs: Document[] = [...state.store.dbs.entries()].sort().map(([name, colls]) => {
    let size = 0;
    for (const c of colls.values()) size += c.byteSize;
    return { name, sizeOnDisk: size, empty: size === 0 };
  });
  const filter = doc(req.body.filter, 'filter');
  if (filter && Object.keys(filter).length > 0) dbs = matching(dbs, filter);
  if (req.body.nameOnly === true) return { databases: dbs.map((d) => ({ name: d.name })), ok: 1 };
  const totalSize = dbs.reduce((n, d) => n + (d.sizeOnDisk as number), 0);
  return { databases: dbs, totalSize, totalSizeMb: Math.floor(totalSize / 1048576), ok: 1 };
};

const create: Handler = (req, state) => {
  const name = str(req.body.create, 'create');
  if (state.store.get(req.db, name)) {
    throw new CommandError(48, 'NamespaceExists', `Collection ${req.db}.${name} already exists.`);
  }
  state.store.ensure(req.db, name);
  return { ok: 1 };
};

// mongod 7.0 answers ok for a collection that does not exist.
const drop: Handler = (req, state) => {
  const name = str(req.body.drop, 'drop');
  const ns = `${req.db}.${name}`;
  return state.store.drop(req.db, name) ? { nIndexesWas: 1, ns, ok: 1 } : { ok: 1 };
};

const dropDatabase: Handler = (req, state) => {
  state.store.dropDatabase(req.db);
  return { dropped: req.db, ok: 1 };
};

const collStats: Handler = (req, state) => {
  const name = str(req.body.collStats, 'collStats');
  const coll = state.store.get(req.db, name);
  const count = coll?.count ?? 0;
  const size = coll?.byteSize ?? 0;
  return {
    ns: `${req.db}.${name}`,
    size,
    count,
    avgObjSize: count ? Math.floor(size / count) : 0,
    storageSize: size,
    nindexes: coll ? 1 : 0,
    totalIndexSize: 0,
    ok: 1,
  };
};

const dbStats: Handler = (req, state) => {
  const colls = state.store.dbs.get(req.db) ?? new Map();
  let objects = 0;
  let dataSize = 0;
  for (const c of colls.values()) {
    objects += c.count;
    dataSize += c.byteSize;
  }
  return { db: req.db, collections: colls.size, views: 0, objects, dataSize, storageSize: dataSize, indexes: colls.size, ok: 1 };
};

const ok: Handler = () => ({ ok: 1 });

export const adminCommands: Record<string, Handler> = {
  hello: helloReply(false),
  isMaster: helloReply(true),
  ismaster: helloReply(true),
  ping: ok,
  buildInfo,
  buildinfo: buildInfo,
  getParameter,
  endSessions: ok,
  killAllSessions: ok,
  listDatabases,
  listCollections,
  listIndexes,
  create,
  drop,
  dropDatabase,
  collStats,
  dbStats,
};
