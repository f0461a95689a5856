// `file://` object store: keys are files under a root directory. Writes go to a temp file in the
// same filesystem and are renamed into place, so readers never see a half-written object.
// No symbolic link below the root is followed, on read or write: a link at `runs/<id>` or
// `inputs/x` must not make Retort read or write outside the store (the root itself may be a link).
import { constants } from 'node:fs';
import { createHash, randomUUID } from 'node:crypto';
import {
  link,
  lstat,
  mkdir,
  open,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RetortDataError, notFound } from './errors.js';
import {
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type PutResult,
  validateKey,
} from './object-store.js';

const TMP_DIR = '.tmp';

/** Opens for reading without following a final symlink (ELOOP instead). */
const READ_NOFOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW;

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code;

export class FileStore implements ObjectStore {
  readonly root: string;
  readonly dir: string;

  constructor(rootUriOrPath: string) {
    this.dir = resolve(rootUriOrPath.startsWith('file://') ? fileURLToPath(rootUriOrPath) : rootUriOrPath);
    this.root = pathToFileURL(this.dir).href;
  }

  private path(key: string): string {
    const p = resolve(this.dir, validateKey(key));
    // validateKey already rejects "..", this guards symlink-free path arithmetic as well.
    if (!p.startsWith(this.dir + sep)) throw new Error(`object key "${key}" escapes ${this.root}`);
    return p;
  }

  uri(key: string): string {
    return pathToFileURL(this.path(key)).href;
  }

  private symlinkRefused(key: string): RetortDataError {
    return new RetortDataError(
      'UriRefused',
      `URI "${this.uri(key)}" is refused: Retort reads only under its allowed input roots (RETORT_INPUT_ROOTS) and follows no symbolic links`,
    );
  }

  /**
   * The path of `key` after checking that no component below the root is a symbolic link
   * (`lstat` each one). With `create`, missing directories are made one at a time, so a link
   * swapped in for a directory is caught instead of followed by a recursive mkdir.
   */
  private async checkedPath(key: string, create = false): Promise<string> {
    const p = this.path(key);
    const segments = key.split('/');
    let current = this.dir;
    for (let i = 0; i < segments.length; i++) {
      current = join(current, segments[i]!);
      const last = i === segments.length - 1;
      let info;
      try {
        info = await lstat(current);
      } catch (err) {
        if (errno(err) !== 'ENOENT') throw err;
        if (last || !create) return p; // nothing further exists, so nothing further can be a link
        await mkdir(current).catch((e: unknown) => {
          if (errno(e) !== 'EEXIST') throw e;
        });
        info = await lstat(current);
      }
      if (info.isSymbolicLink()) throw this.symlinkRefused(key);
    }
    return p;
  }

  /** The temp directory, made if missing and refused if it is a link. */
  private async tmpDir(): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    const dir = join(this.dir, TMP_DIR);
    await mkdir(dir).catch((e: unknown) => {
      if (errno(e) !== 'EEXIST') throw e;
    });
    if ((await lstat(dir)).isSymbolicLink()) throw this.symlinkRefused(TMP_DIR);
    return dir;
  }

  private async openForRead(key: string) {
    const p = await this.checkedPath(key);
    try {
      return await open(p, READ_NOFOLLOW);
    } catch (err) {
      if (errno(err) === 'ENOENT') throw notFound(`object ${this.uri(key)} does not exist`);
      if (errno(err) === 'ELOOP') throw this.symlinkRefused(key);
      throw err;
    }
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<PutResult> {
    const tmp = join(await this.tmpDir(), randomUUID());
    const final = await this.checkedPath(key, true);
    try {
      const fh = await open(tmp, 'wx');
      try {
        await fh.writeFile(body);
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (options.sha256Base64) {
        const got = createHash('sha256')
          .update(await readFile(tmp))
          .digest('base64');
        if (got !== options.sha256Base64) throw new Error(`checksum mismatch writing ${this.uri(key)}`);
      }
      if (options.ifNoneMatch) {
        // link() fails with EEXIST instead of replacing: an atomic create-if-absent.
        try {
          await link(tmp, final);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
          throw err;
        }
      } else {
        await rename(tmp, final);
      }
      return 'written';
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async get(key: string): Promise<Uint8Array> {
    const fh = await this.openForRead(key);
    try {
      return new Uint8Array(await fh.readFile());
    } finally {
      await fh.close();
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    const fh = await this.openForRead(key);
    try {
      const buf = new Uint8Array(Math.max(0, end - start));
      const { bytesRead } = await fh.read(buf, 0, buf.length, start);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const s = await lstat(await this.checkedPath(key));
      return s.isFile() ? { key, size: s.size } : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const e of entries) {
        const p = join(dir, e.name);
        const key = relative(this.dir, p).split(sep).join('/');
        if (key === TMP_DIR) continue;
        if (e.isDirectory()) await walk(p);
        else if (e.isFile() && key.startsWith(prefix)) {
          const s = await stat(p);
          out.push({ key, size: s.size, modifiedMs: s.mtimeMs });
        }
      }
    };
    await walk(this.dir);
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  async delete(key: string): Promise<void> {
    await unlink(await this.checkedPath(key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** Temp files left by crashed writers (tests assert there are none after a failure). */
  async pendingTempFiles(): Promise<string[]> {
    return readdir(join(this.dir, TMP_DIR)).catch(() => []);
  }

  /** Creates the root and proves it is writable. */
  async ensureWritable(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const probe = join(this.dir, `.probe-${randomUUID()}`);
    await writeFile(probe, 'ok');
    await unlink(probe);
  }
}
