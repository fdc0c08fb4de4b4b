/** MongoDB source: mongodb:// and mongodb+srv:// URLs. The driver loads only when one is opened. */
import type { SourceFactory } from '../../src/source.js';
import type { MongoSourceOptions } from './config.js';

export const mongodbSource: SourceFactory = {
  kind: 'mongodb',
  accepts: (url) => /^mongodb(\+srv)?:\/\//i.test(url),
  open: async (url, options) => (await import('./source.js')).MongoSource.open(url, options as MongoSourceOptions),
};

export type { MongoSourceOptions };
export type { MongoSource, MongoTableInfo } from './source.js';
