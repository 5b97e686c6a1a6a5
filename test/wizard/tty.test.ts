// End to end in a real pseudo-terminal: the built binary runs inside tmux, the test types the answers with send-keys and
// reads the screen with capture-pane, as a person at a terminal would.
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {FIXTURE, ROOT, scratchDir} from './helpers.js'

const RUN = join(ROOT, 'bin', 'run.js')
// Our own tmux server on a socket in a scratch directory: no other tmux session is touched and
// nothing is left behind.
let socketDir: {dir: string; cleanup: () => void}
const socket = () => join(socketDir.dir, 'tmux.sock')
const POLL_MS = 100
const MAX_POLLS = 200 // 20 s for any one thing to appear

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-S', socket(), ...args], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})
}

/** One wizard in one tmux session; `expect` finds text in order, past what was already found. */
class Terminal {
  private cursor = 0
  private constructor(
    readonly session: string,
    readonly exitFile: string,
  ) {}

  static start(session: string, args: string[], exitFile: string): Terminal {
    // The shell records the exit code, then idles so the screen can still be read; the session
    // is killed in `finally`.
    const q = (x: string) => `'${x.replace(/'/g, `'\\''`)}'`
    const cmd = `node ${q(RUN)} wizard ${args.map(q).join(' ')}; echo EXIT=$? > ${q(exitFile)}; sleep 300`
    tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '50', '-c', ROOT, cmd)
    return new Terminal(session, exitFile)
  }

  /** The whole scrollback, wrapped lines joined, without colours. */
  screen(): string {
    return tmux('capture-pane', '-p', '-J', '-t', this.session, '-S', '-5000')
  }

  async expect(text: string): Promise<void> {
    let last = ''
    for (let i = 0; i < MAX_POLLS; i++) {
      last = this.screen()
      const at = last.indexOf(text, this.cursor)
      if (at >= 0) {
        this.cursor = at + text.length
        // inquirer renders a prompt before it listens for keys: give it a moment.
        await sleep(150)
        return
      }
      await sleep(POLL_MS)
    }
    throw new Error(`"${text}" did not appear on the screen within ${(MAX_POLLS * POLL_MS) / 1000} s; the screen:\n${last}`)
  }

  keys(...keys: string[]): void {
    tmux('send-keys', '-t', this.session, ...keys)
  }

  type(text: string): void {
    tmux('send-keys', '-t', this.session, '-l', text)
  }

  /**
   * Wait for `prompt`, then press the keys. Typed text must show up in the active prompt line
   * (the last one starting with "? ") before the next key, so no keystroke is lost to a
   * prompt that was not listening yet; a lost one fails the test with the screen.
   */
  async answer(prompt: string, ...keys: string[]): Promise<void> {
    await this.expect(prompt)
    for (const k of keys) {
      if (/^(Enter|Up|Down|BSpace|C-c)$/.test(k)) {
        this.keys(k)
        continue
      }
      this.type(k)
      let last = ''
      for (let i = 0; ; i++) {
        last = this.screen()
        const active = last.slice(last.lastIndexOf('\n? ') + 1).split('\n')[0] ?? ''
        if (active.includes(k)) break
        if (i >= MAX_POLLS) throw new Error(`typed "${k}" never showed in the prompt; the screen:\n${last}`)
        await sleep(POLL_MS)
      }
    }
  }

  async exitCode(): Promise<number> {
    for (let i = 0; i < MAX_POLLS; i++) {
      if (existsSync(this.exitFile)) {
        const m = /^EXIT=(\d+)/.exec(readFileSync(this.exitFile, 'utf8'))
        if (m) return Number(m[1])
      }
      await sleep(POLL_MS)
    }
    throw new Error(`the wizard did not exit; the screen:\n${this.screen()}`)
  }

  kill(): void {
    try {
      tmux('kill-session', '-t', this.session)
    } catch {
      // already gone
    }
  }
}

let dir: string
let cleanup: () => void
let sessions = 0
let term: Terminal | undefined

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'bundle', 'cli-entry.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does) before these tests')
  execFileSync('tmux', ['-V'])
  socketDir = scratchDir('twwizsock-')
})
afterAll(() => socketDir.cleanup())
beforeEach(() => ({dir, cleanup} = scratchDir('twwiztty-')))
afterEach(() => {
  term?.kill()
  term = undefined
  // Our own server only (-S socket); it exits by itself once it has no sessions anyway.
  try {
    tmux('kill-server')
  } catch {
    // no server left
  }
  cleanup()
})

function startWizard(): {topo: string; conf: string; exitFile: string} {
  const topo = join(dir, 'topology.yaml')
  const conf = join(dir, '60-twadvisor.conf')
  const exitFile = join(dir, 'exit')
  term = Terminal.start(`twwiz-${process.pid}-${++sessions}`, ['--sysctl-file', FIXTURE, '--output-topology', topo, '--output-sysctl', conf], exitFile)
  return {topo, conf, exitFile}
}

/** The original incident, typed: a server behind SNAT, then a client flow; two refused answers on the way. */
async function typeIncident(t: Terminal): Promise<void> {
  await t.expect('Read from')
  await t.expect('kernel               6.18.44-fc-v669')
  await t.answer('? What are you seeing?', 'Up', 'Up', 'Up', 'Enter') // resets (the default is planning, last)
  await t.answer('? A label for this host in reports', 'php-01', 'Enter')

  await t.answer("? This host's role in the flow", 'Enter') // server, the default for resets
  await t.answer('? Listener ip:port the clients connect to', '10.0.1.10', 'Enter')
  await t.answer('is not ip:port with a port 1-65535', ':80', 'Enter') // re-asked with the reason; the typed text stays
  await t.answer('? A name for this flow', 'api-to-php', 'Enter')
  await t.answer('? New connections per second in this flow, at peak', '0', 'Enter')
  await t.answer('must be above 0', 'BSpace', '600', 'Enter')
  await t.answer('? Which side closes the connection first?', 'Enter') // the server
  await t.answer('? Is keep-alive or a connection pool on for this flow?', 'Enter') // no
  await t.answer('? Do the clients reach this server through SNAT?', 'Enter') // yes, the default for resets
  await t.answer('? The NAT source port pool (low-high)', 'Enter')
  await t.answer('? nf_conntrack_tcp_timeout_time_wait on the NAT (seconds)', 'Enter')
  await t.answer('? How does the NAT pick source ports?', 'Down', 'Down', 'Enter') // fully-random, as kube-proxy
  await t.answer("? The NAT's kernel version", 'Enter') // unknown
  await t.answer('? How many source addresses do the connections come from', 'Enter')
  await t.answer('? How many distinct hosts (pods, VMs) send this traffic?', '8', 'Enter')
  await t.answer('? Over how many server ip:port endpoints is the flow spread?', 'Enter')
  await t.answer("? The clients' kernel version", 'Enter') // this host's
  await t.answer('? Add another flow?', 'y', 'Enter')

  await t.answer("? This host's role in the flow", 'Up', 'Enter') // client
  await t.answer('? Server ip:port the connections go to', '10.0.2.20:11211', 'Enter')
  await t.answer('? A name for this flow', 'php-to-cache', 'Enter')
  await t.answer('? New connections per second in this flow, at peak', '600', 'Enter')
  await t.answer('? Which side closes the connection first?', 'Down', 'Enter') // the client
  await t.answer('? Is keep-alive or a connection pool on for this flow?', 'Enter')
  await t.answer("? Does this host's traffic leave through SNAT on the way?", 'Enter') // no
  await t.answer('? How many source IP addresses does this host use toward 10.0.2.20:11211?', 'Enter')
  await t.answer('? Over how many server ip:port endpoints is the flow spread?', 'Enter')
  await t.answer('? Add another flow?', 'Enter') // no

  await t.expect('server-tw-collision-shared · flow api-to-php')
  await t.expect('— exit 2 (fail-on critical)')
  await t.answer('? Save these flows as a topology file?', 'Enter')
  await t.answer('? Topology file', 'Enter') // --output-topology is the default
  await t.answer('? Write the sysctl.d file with 2 settings', 'Enter')
  await t.answer('? sysctl.d file', 'Enter') // --output-sysctl is the default
  await t.expect('+net.ipv4.tcp_max_tw_buckets = ')
}

describe('twadvisor wizard in a terminal (tmux)', () => {
  it('goes from nothing to a topology that check loads and a sysctl.d file, exiting like check', async () => {
    const {topo, conf} = startWizard()
    const t = term!
    await typeIncident(t)
    await t.answer('? Write this to', 'Enter')
    await t.expect(`wrote ${topo} (topology)`)
    await t.expect(`wrote ${conf} (sysctl.d, 2 keys)`)
    expect(await t.exitCode()).toBe(2)

    const screen = t.screen()
    expect(screen).toContain('client-port-exhaustion · flow php-to-cache')
    expect(screen).toContain('✔ Listener ip:port the clients connect to 10.0.1.10:80')

    const check = spawnSync(process.execPath, [RUN, 'check', '-t', topo, '--sysctl-file', FIXTURE, '--format', 'json'], {encoding: 'utf8', cwd: ROOT})
    expect(check.stderr).toBe('')
    expect(check.status).toBe(2)
    const report = JSON.parse(check.stdout) as {hosts: {host: string; findings: {id: string; flow?: string; severity: string}[]}[]}
    const host = report.hosts[0]!
    expect(host.host).toBe('php-01')
    expect(host.findings.filter((f) => f.severity === 'critical').map((f) => `${f.id}:${f.flow}`).sort()).toEqual([
      'client-port-exhaustion:php-to-cache',
      'server-tw-collision-shared:api-to-php',
    ])
    const saved = readFileSync(topo, 'utf8')
    expect(saved).toMatch(/^# Generated by twadvisor/)
    expect(saved).toContain('senders: 8')
    const sysctl = readFileSync(conf, 'utf8')
    expect(sysctl).toContain(`# Inputs: topology ${topo};`)
    expect(sysctl).toMatch(/^net\.ipv4\.tcp_max_tw_buckets = \d+$/m)
    expect(sysctl).toMatch(/^net\.ipv4\.ip_local_port_range = \d+ \d+$/m)
  })

  it('Ctrl-C mid-way exits 130 with one line and writes nothing', async () => {
    startWizard()
    const t = term!
    await t.answer('? What are you seeing?', 'Up', 'Enter') // "Cannot assign requested address": the client side
    await t.answer('? A label for this host in reports', 'Enter')
    await t.answer("? This host's role in the flow", 'Enter')
    await t.answer('? Server ip:port the connections go to', '10.0.2.20:112', 'C-c')
    expect(await t.exitCode()).toBe(130)
    await t.expect('twadvisor: wizard cancelled; nothing was written')
    expect(readdirSync(dir)).toEqual(['exit'])
  })

  it('Ctrl-C at the very last question, after the diff, still writes nothing', async () => {
    startWizard()
    const t = term!
    await typeIncident(t)
    await t.answer('? Write this to', 'C-c')
    expect(await t.exitCode()).toBe(130)
    await t.expect('twadvisor: wizard cancelled; nothing was written')
    expect(readdirSync(dir)).toEqual(['exit'])
  })
})
