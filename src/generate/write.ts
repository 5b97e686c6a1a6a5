import {randomBytes} from 'node:crypto'
import {constants} from 'node:fs'
import {link, open, rename, unlink} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'

import {TwError} from '../errors.js'
import {hasTwadvisorHeader} from './header.js'

/**
 * The one writer for files twadvisor produces (the sysctl.d file and the other targets, the
 * wizard's topology file): atomic (temp file in the same directory, fsync, rename, fsync of
 * the directory), mode 0644, never through a symlink, never over a file it did not write
 * unless forced — and then with a backup. The only code in generate/ that touches the disk.
 */
export interface WriteOptions {
  /** Overwrite a file that `isOurs` does not recognise, keeping it as PATH + BACKUP_SUFFIX (numbered: never overwritten). */
  force?: boolean
  /** Whether the existing text was written by twadvisor; default: the generated-file header. */
  isOurs?: (existing: string) => boolean
  /** File mode; 0644 by default (sysctl.d files are world-readable config). */
  mode?: number
}

export interface WriteResult {
  path: string
  /** False when the file already held exactly this content (nothing was written). */
  changed: boolean
  created: boolean
  /** Where the replaced foreign file was kept (only with force). */
  backup?: string
}

export const BACKUP_SUFFIX = '.twadvisor-bak'

function errno(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? 'EUNKNOWN'
}

const REASONS: Record<string, string> = {
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted (immutable file or directory?)',
  ENOENT: 'no such directory',
  ENOTDIR: 'a path component is not a directory',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
}

function writeError(path: string, step: string, error: unknown): TwError {
  const code = errno(error)
  return new TwError('write.failed', `cannot ${step}: ${code} (${REASONS[code] ?? String((error as Error).message)})`, {
    position: {file: path},
    hint: code === 'EPERM' ? 'check `lsattr` for the immutable flag on the file or its directory' : undefined,
    cause: error,
  })
}

/**
 * The current content of PATH, or null when there is none. Refuses a symlink (O_NOFOLLOW, so
 * there is no window between a check and the read) and anything that is not a regular file.
 */
export async function readExisting(path: string): Promise<string | null> {
  let fh
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (error) {
    const code = errno(error)
    if (code === 'ENOENT') return null
    if (code === 'ELOOP') {
      throw new TwError('write.symlink', 'is a symbolic link; refusing to follow it', {
        position: {file: path},
        hint: 'write to the real file instead, or remove the link',
      })
    }
    throw writeError(path, 'read the existing file', error)
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new TwError('write.not-file', 'exists and is not a regular file', {position: {file: path}})
    return await fh.readFile('utf8')
  } finally {
    await fh.close()
  }
}

/** Refuses (TwError) when PATH holds a file twadvisor did not write and force is not set. */
export function assertOurs(path: string, existing: string | null, opts: WriteOptions): void {
  const isOurs = opts.isOurs ?? hasTwadvisorHeader
  if (existing !== null && !isOurs(existing) && !opts.force) {
    throw new TwError('write.foreign', 'exists and was not written by twadvisor (no twadvisor header); refusing to overwrite it', {
      position: {file: path},
      hint: `--force replaces it and keeps the old file as ${basename(path)}${BACKUP_SUFFIX}`,
    })
  }
}

/** Temp file in PATH's directory (so rename is atomic), written, fsynced and renamed over PATH. */
async function replaceAtomically(path: string, content: string, mode: number): Promise<void> {
  const dir = dirname(path)
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  let fh
  try {
    // O_EXCL: never reuse (or follow) something already at the temp name.
    fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode)
  } catch (error) {
    throw writeError(path, `create a file in ${dir}`, error)
  }
  try {
    try {
      await fh.writeFile(content, 'utf8')
      await fh.chmod(mode) // the umask applied at open
      await fh.sync()
    } finally {
      await fh.close()
    }
    // rename() replaces a symlink at PATH itself; it never writes through one.
    await rename(tmp, path)
  } catch (error) {
    await unlink(tmp).catch(() => undefined)
    throw writeError(path, 'replace the file', error)
  }
  // Make the rename itself durable; some file systems refuse fsync on a directory.
  try {
    const d = await open(dir, constants.O_RDONLY)
    try {
      await d.sync()
    } finally {
      await d.close()
    }
  } catch {
    // best effort
  }
}

/** How many numbered backups are tried before giving up (a directory full of them is a problem to look at). */
const MAX_BACKUPS = 1000

/**
 * Keeps `content` as PATH.twadvisor-bak, or .twadvisor-bak.1, .2, ... — the first name that does
 * not exist. Never overwrites: the file is written under a temporary name and hard-linked to the
 * backup name, which fails (EEXIST) if anything, a symlink included, is already there.
 */
async function writeNewBackup(path: string, content: string, mode: number): Promise<string> {
  const dir = dirname(path)
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.bak.tmp`)
  let fh
  try {
    fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode)
  } catch (error) {
    throw writeError(path, `create a backup in ${dir}`, error)
  }
  try {
    try {
      await fh.writeFile(content, 'utf8')
      await fh.chmod(mode)
      await fh.sync()
    } finally {
      await fh.close()
    }
    for (let n = 0; n < MAX_BACKUPS; n++) {
      const name = n === 0 ? path + BACKUP_SUFFIX : `${path}${BACKUP_SUFFIX}.${n}`
      try {
        await link(tmp, name)
        return name
      } catch (error) {
        if (errno(error) !== 'EEXIST') throw writeError(name, 'keep a backup', error)
      }
    }
    throw new TwError('write.backups', `${MAX_BACKUPS} backups already exist beside it; refusing to add another`, {position: {file: path}, hint: `remove old ${basename(path)}${BACKUP_SUFFIX}* files`})
  } finally {
    await unlink(tmp).catch(() => undefined)
  }
}

export async function writeFileAtomic(path: string, content: string, opts: WriteOptions = {}): Promise<WriteResult> {
  const mode = opts.mode ?? 0o644
  const existing = await readExisting(path)
  if (existing === content) return {path, changed: false, created: false}
  assertOurs(path, existing, opts)
  let backup: string | undefined
  const isOurs = opts.isOurs ?? hasTwadvisorHeader
  if (existing !== null && !isOurs(existing)) backup = await writeNewBackup(path, existing, mode)
  await replaceAtomically(path, content, mode)
  return {path, changed: true, created: existing === null, backup}
}
