import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.ts';

/** A logger that writes nothing, for tests that do not look at logs. */
export const quiet: Logger = createLogger({
  level: 'silent',
  destination: new Writable({ write: (_chunk, _encoding, done) => done() }),
});
