/**
 * Test hosts for the Ansible role: network namespaces on one bridge in the root namespace, each
 * with its own sshd on a 198.18.0.0/15 address (the benchmarking range, never routed), its own
 * net.* sysctls, a generated host key and one authorized test key. Root only.
 *
 * Everything is named with a per-run tag and torn down by `down()`, which is safe to call from any
 * exit path and more than once: it kills every process left in the namespaces (sshd and its
 * sessions), deletes the namespaces (their veth ends go with them), the bridge and the temp dir.
 */
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createConnection} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

export interface TestHost {
  name: string
  ns: string
  address: string
  dir: string
}

export interface Fleet {
  dir: string
  /** Private key Ansible logs in with (root). */
  key: string
  gateway: string
  hosts: TestHost[]
  down(): void
}

function run(cmd: string, args: string[], opts: {input?: string; allowFail?: boolean} = {}): string {
  try {
    return execFileSync(cmd, args, {encoding: 'utf8', input: opts.input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 20_000})
  } catch (error) {
    if (opts.allowFail) return ''
    const e = error as {stderr?: string; message: string}
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr?.trim() || e.message}`)
  }
}

export function canRunFleetTest(): {ok: boolean; why: string} {
  if (process.getuid?.() !== 0) return {ok: false, why: 'needs root (namespaces, sshd)'}
  for (const bin of ['/usr/sbin/sshd', 'ansible-playbook', 'ssh-keygen', 'ip']) {
    try {
      if (bin.startsWith('/')) {
        if (!existsSync(bin)) return {ok: false, why: `${bin} missing (apt-get install -y openssh-server)`}
      } else execFileSync('sh', ['-c', `command -v ${bin}`], {stdio: 'ignore'})
    } catch {
      return {ok: false, why: `${bin} missing (apt-get install -y ansible-core openssh-server)`}
    }
  }
  return {ok: true, why: ''}
}

/** Wait until something accepts TCP on addr:22, or throw after `ms`. */
async function waitForPort(address: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({host: address, port: 22, timeout: 500})
      s.once('connect', () => (s.destroy(), resolve(true)))
      s.once('error', () => resolve(false))
      s.once('timeout', () => (s.destroy(), resolve(false)))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`sshd on ${address}:22 did not start within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/**
 * Bring up one namespace per entry of `sysctls` (host name -> net.* sysctls to set inside it).
 * `subnet` is the third octet in 198.18.X.0/24: the root side is .1, hosts .11, .12, ...
 */
export async function fleetUp(sysctls: Record<string, Record<string, string>>, subnet: number): Promise<Fleet> {
  const tag = `${process.pid % 100000}`
  const dir = mkdtempSync(join(tmpdir(), 'twadvisor-fleet-test-'))
  const bridge = `twfbr${tag}`.slice(0, 15)
  const gateway = `198.18.${subnet}.1`
  const hosts: TestHost[] = []
  const daemons: ChildProcess[] = []
  let bridgeMade = false

  const down = () => {
    process.removeListener('exit', down)
    for (const h of hosts) {
      // sshd, its session processes and anything Ansible left running in the namespace.
      const pids = run('ip', ['netns', 'pids', h.ns], {allowFail: true}).split(/\s+/).filter(Boolean)
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL')
        } catch {
          // already gone
        }
      }
      run('ip', ['netns', 'del', h.ns], {allowFail: true})
    }
    for (const d of daemons) d.kill('SIGKILL')
    if (bridgeMade) run('ip', ['link', 'del', bridge], {allowFail: true})
    hosts.length = 0
    daemons.length = 0
    bridgeMade = false
    rmSync(dir, {recursive: true, force: true})
  }

  // A test runner that exits without running afterAll still tears down (down() is synchronous).
  process.once('exit', down)
  try {
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')])
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'client_key')])
    run('cp', [join(dir, 'client_key.pub'), join(dir, 'authorized_keys')])
    // sshd's privilege-separation directory; the package creates it at boot, not at install.
    mkdirSync('/run/sshd', {recursive: true, mode: 0o755})

    run('ip', ['link', 'add', bridge, 'type', 'bridge'])
    bridgeMade = true
    run('ip', ['addr', 'add', `${gateway}/24`, 'dev', bridge])
    run('ip', ['link', 'set', bridge, 'up'])

    let n = 0
    for (const [name, keys] of Object.entries(sysctls)) {
      n++
      const ns = `twfleet-${tag}-${n}`
      const address = `198.18.${subnet}.${10 + n}`
      const hostDir = join(dir, name)
      mkdirSync(hostDir)
      run('ip', ['netns', 'add', ns])
      hosts.push({name, ns, address, dir: hostDir})
      const outer = `twf${tag}h${n}`.slice(0, 15)
      run('ip', ['link', 'add', outer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
      run('ip', ['link', 'set', outer, 'master', bridge])
      run('ip', ['link', 'set', outer, 'up'])
      run('ip', ['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0'])
      run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up'])
      run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
      for (const [k, v] of Object.entries(keys)) run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `${k}=${v}`])

      const config = join(hostDir, 'sshd_config')
      writeFileSync(
        config,
        [
          `HostKey ${join(dir, 'host_key')}`,
          `PidFile ${join(hostDir, 'sshd.pid')}`,
          `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
          'PermitRootLogin prohibit-password',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'UsePAM no',
          // The key files live in a temp dir, not ~/.ssh with its usual modes.
          'StrictModes no',
          'Subsystem sftp internal-sftp',
          'LogLevel ERROR',
          '',
        ].join('\n'),
      )
      const d = spawn('ip', ['netns', 'exec', ns, '/usr/sbin/sshd', '-D', '-e', '-f', config, '-o', `ListenAddress=${address}`], {
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      let stderr = ''
      d.stderr?.on('data', (c: Buffer) => (stderr += c.toString()))
      d.once('exit', (code) => {
        if (code !== null && code !== 0) stderr += ` (sshd exited ${code})`
      })
      daemons.push(d)
      await waitForPort(address, 10_000).catch((error: Error) => {
        throw new Error(`${error.message}: ${stderr}`)
      })
    }
  } catch (error) {
    down()
    throw error
  }
  return {dir, key: join(dir, 'client_key'), gateway, hosts, down}
}

/** A net.* sysctl as the namespace sees it now. */
export function nsSysctl(ns: string, key: string): string {
  return run('ip', ['netns', 'exec', ns, 'sysctl', '-n', key]).trim().split(/\s+/).join(' ')
}
