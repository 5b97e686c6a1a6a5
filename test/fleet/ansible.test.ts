/**
 * The Ansible role against three real hosts: network namespaces with their own sshd, net.*
 * sysctls and flows, driven by a real ansible-playbook over SSH (root, namespaces, sshd and
 * ansible-playbook needed; skipped otherwise). One healthy host, one whose client flow exhausts
 * a narrow port range in TIME_WAIT, one with the settings an old tcp_tw_recycle-era config
 * leaves behind (timestamps off, tw_reuse 1, rfc1337 1).
 */
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {existsSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {suiteIf} from '../root.js'
import {canRunFleetTest, fleetUp, nsSysctl, type Fleet} from './netns-hosts.js'

const ROOT = resolve(import.meta.dirname, '../..')
const can = canRunFleetTest()

interface HostStats {
  ok: number
  changed: number
  failures: number
  unreachable: number
  skipped: number
}
interface TaskResult {
  msg?: unknown
  changed?: boolean
  failed?: boolean
  skipped?: boolean
  diff?: unknown
  ansible_facts?: Record<string, unknown>
}
interface PlaybookRun {
  rc: number
  stats: Record<string, HostStats>
  /** task name -> host -> result */
  tasks: Map<string, Record<string, TaskResult>>
  raw: string
}

const FLOWS = {
  healthy: [{name: 'api', role: 'server', peer: '198.18.0.1:8080', qps: 300, closes_first: 'server', keepalive: true}],
  // The client closes first, so each connection keeps its source port in TIME_WAIT for 60 s:
  // 28,232 ports / 60 s = 470 conn/s at most toward one destination; 1,100 declared.
  exhausted: [{name: 'to-db', role: 'client', peer: '198.18.0.2:5432', qps: 1100, closes_first: 'client'}],
  // timestamps off make tw_reuse=1 useless (the client flow runs out of ports) and rfc1337=1
  // prolongs the stalls of the NAT'd server flow, whose 5.4 clients (no quick SYN resend, 5.6)
  // wait 1 s on every rejected SYN.
  legacy: [
    {name: 'from-lb', role: 'server', peer: '198.18.0.3:8080', qps: 600, closes_first: 'server', senders: 8, client_kernel: '5.4.0', nat: {port_range: [32768, 60999]}},
    {name: 'to-api', role: 'client', peer: '198.18.0.4:443', qps: 600, closes_first: 'client'},
  ],
}

const SYSCTLS = {
  healthy: {},
  // tcp_tw_reuse=0: the pre-4.19 default (2, loopback only, behaves the same for this flow).
  exhausted: {'net.ipv4.tcp_tw_reuse': '0'},
  legacy: {'net.ipv4.tcp_timestamps': '0', 'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.tcp_rfc1337': '1'},
}

const FAIL_TASK = 'Fail the hosts with findings at or above twadvisor_fail_on'

suiteIf(can, 'the Ansible role over SSH into namespaces', () => {
  let fleet: Fleet
  let inventory: string

  /** Playbook runs still going: afterAll kills their process groups before the fleet goes. */
  const running = new Set<ChildProcess>()
  const killGroup = (child: ChildProcess) => {
    try {
      // The whole group: ansible-playbook forks workers (and ssh masters) that outlive a killed parent.
      if (child.pid) process.kill(-child.pid, 'SIGKILL')
    } catch {
      // Already gone.
    }
  }

  const playbook = (extra: string[] = []): Promise<PlaybookRun> =>
    new Promise((done, fail) => {
      const child = spawn(
        'ansible-playbook',
        ['-i', inventory, join(ROOT, 'ansible/example-playbook.yml'), ...extra],
        {
          cwd: fleet.dir,
          // Its own process group, so a run past its time goes with every worker it forked.
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: {
            ...process.env,
            ANSIBLE_ROLES_PATH: join(ROOT, 'ansible/roles'),
            // Our own JSON stdout callback, and no collections: the role must work with ansible-core alone.
            ANSIBLE_STDOUT_CALLBACK: 'twadvisor_test_json',
            ANSIBLE_CALLBACK_PLUGINS: join(import.meta.dirname, 'callback_plugins'),
            ANSIBLE_COLLECTIONS_PATH: join(fleet.dir, 'no-collections'),
            ANSIBLE_COLLECTIONS_SCAN_SYS_PATH: 'False',
            ANSIBLE_HOST_KEY_CHECKING: 'False',
            ANSIBLE_RETRY_FILES_ENABLED: 'False',
            ANSIBLE_PIPELINING: 'True',
            ANSIBLE_LOCAL_TEMP: join(fleet.dir, 'ansible-tmp'),
            ANSIBLE_SSH_CONTROL_PATH_DIR: join(fleet.dir, 'cp'),
            // Masters die with the namespaces' processes at teardown; keep them short-lived anyway.
            ANSIBLE_SSH_ARGS: '-o ControlMaster=auto -o ControlPersist=15s',
            ANSIBLE_NOCOLOR: '1',
          },
        },
      )
      running.add(child)
      let stdout = ''
      let stderr = ''
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        killGroup(child)
      }, 90_000)
      child.on('error', (error) => {
        clearTimeout(timer)
        running.delete(child)
        fail(error)
      })
      child.on('close', (code) => {
        clearTimeout(timer)
        running.delete(child)
        if (timedOut) {
          fail(new Error(`ansible-playbook ran past 90 s and was killed with its process group: ${stderr}\n${stdout.slice(0, 4000)}`))
          return
        }
        const rc = code ?? -1
        let parsed: {stats: Record<string, HostStats>; plays: {tasks: {task: {name: string}; hosts: Record<string, TaskResult>}[]}[]}
        try {
          parsed = JSON.parse(stdout)
        } catch {
          fail(new Error(`ansible-playbook rc ${rc}, no JSON: ${stderr}\n${stdout.slice(0, 4000)}`))
          return
        }
        const tasks = new Map<string, Record<string, TaskResult>>()
        for (const play of parsed.plays) for (const t of play.tasks) {
          // "twadvisor : Deploy ..." -> "Deploy ..."
          const name = t.task.name.replace(/^[\w.-]+ : /, '')
          tasks.set(name, {...tasks.get(name), ...t.hosts})
        }
        done({rc, stats: parsed.stats, tasks, raw: stdout})
      })
    })

  const fileOf = (host: string) => join(fleet.dir, host, '60-twadvisor.conf')
  const nsOf = (host: string) => fleet.hosts.find((h) => h.name === host)!.ns
  /** What failed on a host, for assertion messages. */
  const why = (run: PlaybookRun, host: string) =>
    JSON.stringify([...run.tasks].flatMap(([name, hosts]) => (hosts[host]?.failed ? [{task: name, msg: hosts[host]!.msg}] : [])))
  const changedTotal = (run: PlaybookRun) => Object.values(run.stats).reduce((n, s) => n + s.changed, 0)

  beforeAll(async () => {
    expect(existsSync(join(ROOT, 'dist/bundle')) || existsSync(join(ROOT, 'dist/commands')), 'run `npm run build` first').toBe(true)
    // A subnet per run, so two test runs on one machine do not share addresses.
    fleet = await fleetUp(SYSCTLS, 100 + (process.pid % 100))
    const hosts: Record<string, unknown> = {}
    for (const h of fleet.hosts) {
      hosts[h.name] = {
        ansible_host: h.address,
        twadvisor_flows: FLOWS[h.name as keyof typeof FLOWS],
        // The namespace's /proc/sys/net is its own, the filesystem is the machine's: each
        // target gets its own sysctl.d path under the test's temp dir, never /etc.
        twadvisor_sysctl_file: fileOf(h.name),
      }
    }
    inventory = join(fleet.dir, 'inventory.yml')
    // JSON is YAML.
    writeFileSync(
      inventory,
      JSON.stringify({
        all: {
          vars: {
            ansible_user: 'root',
            ansible_become: false,
            ansible_ssh_private_key_file: fleet.key,
            ansible_ssh_common_args: '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null',
            ansible_python_interpreter: '/usr/bin/python3',
            twadvisor_bin: join(ROOT, 'bin/run.js'),
            twadvisor_workdir: join(fleet.dir, 'work'),
          },
          hosts,
        },
      }),
    )
  }, 60_000)

  afterAll(() => {
    // A run cut short by the test's own timeout is still going: its group first, then the
    // namespaces and the fleet's folder.
    for (const child of running) killGroup(child)
    fleet?.down()
  })

  it('fails exactly the bad hosts, with their findings in the message', async () => {
    const run = await playbook()
    expect(run.rc, run.raw.slice(0, 2000)).toBe(2)
    expect(run.stats.healthy, why(run, 'healthy')).toMatchObject({failures: 0, unreachable: 0, changed: 0})
    expect(run.stats.exhausted).toMatchObject({failures: 1, changed: 0})
    expect(run.stats.legacy).toMatchObject({failures: 1, changed: 0})

    const fail = run.tasks.get(FAIL_TASK)!
    expect(fail.healthy?.skipped).toBe(true)
    const exhausted = fail.exhausted!.msg as string[]
    expect(exhausted[0]).toMatch(/^twadvisor: 1 finding\(s\) at or above critical on kernel \d+\.\d+/)
    expect(exhausted.slice(1).join('\n')).toMatch(/^\[critical\] client-port-exhaustion \(flow to-db\): .*28,232 usable source ports/)
    const legacy = (fail.legacy!.msg as string[]).slice(1)
    expect(legacy.join('\n')).toMatch(/\[critical\] client-port-exhaustion \(flow to-api\)/)
    expect(legacy.join('\n')).toMatch(/\[critical\] server-tw-collision-shared \(flow from-lb\)/)
    // Only findings at or above fail_on (critical) are in the message.
    for (const line of [...legacy, ...exhausted.slice(1)]) expect(line).toMatch(/^\[critical\] /)

    // The per-host verdicts as the role read them from the one JSON report.
    const verdicts = run.tasks.get("Pick this host's verdict")!
    const ids = (h: string) =>
      ((verdicts[h]!.ansible_facts!._twadvisor_result as {findings: {id: string; severity: string}[]}).findings ?? []).map((f) => `${f.severity}:${f.id}`)
    expect(ids('healthy').filter((s) => !s.startsWith('info:'))).toEqual([])
    // timestamps off make tw_reuse=1 a no-op: a warning, reported but below fail_on.
    expect(ids('legacy')).toContain('warning:tw-reuse-needs-timestamps')
    // The controller's copy of each host is the dump as sysctl -a printed it.
    const dump = readFileSync(join(fleet.dir, 'work', 'hosts', 'exhausted', 'sysctl.txt'), 'utf8')
    expect(dump).toMatch(/^net\.ipv4\.tcp_tw_reuse = 0$/m)
    expect(dump.endsWith('\n')).toBe(true)
    expect(dump).not.toContain('\\n')
    // Without twadvisor_apply nothing is written to the targets.
    for (const h of ['healthy', 'exhausted', 'legacy']) expect(existsSync(fileOf(h))).toBe(false)
  }, 120_000)

  it('a target whose sysctl -a prints more than twadvisor_max_dump_bytes fails with a clear message', async () => {
    const run = await playbook(['-e', 'twadvisor_max_dump_bytes=1000'])
    expect(run.rc).toBe(2)
    const refused = run.tasks.get('Refuse a sysctl dump over twadvisor_max_dump_bytes')!
    for (const h of ['healthy', 'exhausted', 'legacy']) {
      expect(refused[h]?.failed, why(run, h)).toBe(true)
      expect(String(refused[h]?.msg)).toMatch(/printed more than twadvisor_max_dump_bytes \(1000 bytes\)/)
      expect(run.stats[h]).toMatchObject({failures: 1, changed: 0})
    }
  }, 120_000)

  it('requires an ansible-core with the CVE-2023-5764 fix (2.14.12+, 2.15.8+, 2.16.1+)', () => {
    const meta = readFileSync(join(ROOT, 'ansible/roles/twadvisor/meta/main.yml'), 'utf8')
    expect(meta).toMatch(/min_ansible_version: "2\.14\.12"/)
    const tasks = readFileSync(join(ROOT, 'ansible/roles/twadvisor/tasks/main.yml'), 'utf8')
    for (const v of ["version('2.14.12', '>=')", "version('2.15.8', '>=')", "version('2.16.1', '>=')"]) expect(tasks).toContain(v)
  })

  it('twadvisor_discover=merge adds the flows the hosts show (the held ssh session) and keeps the verdicts', async () => {
    // One host keeps the run short; the verdict must be the declared run's.
    const run = await playbook(['-e', 'twadvisor_discover=merge', '-e', 'twadvisor_discover_seconds=2', '--limit', 'healthy'])
    expect(run.rc, run.raw.slice(0, 2000)).toBe(0)
    expect(run.stats.healthy, why(run, 'healthy')).toMatchObject({failures: 0, unreachable: 0, changed: 0})
    // The readings came from the target, the inference ran on the controller.
    expect(readFileSync(join(fleet.dir, 'work', 'discover', 'healthy', 'listen.txt'), 'utf8')).toMatch(/:22\b/)
    const topology = readFileSync(join(fleet.dir, 'work', 'hosts', 'healthy', 'topology.yaml'), 'utf8')
    // Ansible's own connection is an ssh session held through the interval: a keep-alive flow.
    expect(topology).toMatch(/peer: .*:22'?\n/)
    expect(topology).toMatch(/keepalive: true/)
    // The declared flows are all still there.
    for (const f of FLOWS.healthy) expect(topology).toContain(`name: ${f.name}`)
  }, 120_000)

  it('--check --diff with apply shows the files it would write and changes nothing', async () => {
    const run = await playbook(['-e', 'twadvisor_apply=true', '--check', '--diff'])
    expect(run.stats.healthy).toMatchObject({failures: 0, changed: 0})
    expect(run.stats.exhausted).toMatchObject({failures: 1, changed: 1})
    expect(run.stats.legacy).toMatchObject({failures: 1, changed: 1})
    const deploy = run.tasks.get('Deploy the sysctl.d file')!
    expect(JSON.stringify(deploy.exhausted!.diff)).toMatch(/net\.ipv4\./)
    for (const h of ['healthy', 'exhausted', 'legacy']) expect(existsSync(fileOf(h))).toBe(false)
    expect(nsSysctl(nsOf('legacy'), 'net.ipv4.tcp_rfc1337')).toBe('1')
  }, 120_000)

  it('with apply deploys each bad host its file and the namespace takes the settings', async () => {
    const run = await playbook(['-e', 'twadvisor_apply=true'])
    // The verdict is the state found; the remedies are deployed before the host is failed.
    expect(run.stats.exhausted).toMatchObject({failures: 1})
    expect(run.stats.legacy).toMatchObject({failures: 1})
    expect(run.stats.healthy).toMatchObject({failures: 0, changed: 0})
    expect(existsSync(fileOf('healthy'))).toBe(false)
    for (const h of ['exhausted', 'legacy']) {
      const file = fileOf(h)
      expect(statSync(file).mode & 0o777).toBe(0o644)
      const text = readFileSync(file, 'utf8')
      expect(text).toMatch(/^# Generated by twadvisor/)
      const settings = [...text.matchAll(/^([a-z0-9_.]+) = (.*)$/gm)].map((m) => [m[1]!, m[2]!] as const)
      expect(settings.length).toBeGreaterThan(0)
      // The handler ran `sysctl -p FILE` inside the target: its namespace has every value.
      for (const [key, value] of settings) expect(nsSysctl(nsOf(h), key), `${h} ${key}`).toBe(value)
    }
    expect(nsSysctl(nsOf('legacy'), 'net.ipv4.tcp_rfc1337')).toBe('0')
    expect(nsSysctl(nsOf('legacy'), 'net.ipv4.tcp_timestamps')).toBe('1')
    expect(nsSysctl(nsOf('exhausted'), 'net.ipv4.tcp_tw_reuse')).toBe('1')
    // Namespaces are separate: the healthy host kept its defaults.
    expect(nsSysctl(nsOf('healthy'), 'net.ipv4.tcp_rfc1337')).toBe('0')
  }, 120_000)

  it('a second run with apply changes nothing, and the remedied hosts now pass', async () => {
    const run = await playbook(['-e', 'twadvisor_apply=true'])
    expect(changedTotal(run), JSON.stringify(run.stats)).toBe(0)
    for (const h of ['healthy', 'exhausted', 'legacy']) expect(run.stats[h]).toMatchObject({failures: 0, unreachable: 0, changed: 0})
    expect(run.rc).toBe(0)
  }, 120_000)

  it('reloads a deployed file whose settings the kernel lost, and keeps the settings a fresh plan no longer mentions', async () => {
    const legacy = fileOf('legacy')
    const before = readFileSync(legacy, 'utf8')
    // Drift: someone set rfc1337 back by hand, and the file lost its rfc1337 line.
    execFileSync('ip', ['netns', 'exec', nsOf('legacy'), 'sysctl', '-q', '-w', 'net.ipv4.tcp_rfc1337=1'])
    // A line added by hand on the target (namespaced and harmless, and no rule of twadvisor sets
    // it): it must not be carried into the next file.
    const edited = `${before.replace(/^#[^\n]*\nnet\.ipv4\.tcp_rfc1337 = 0\n/m, '')}# client-port-exhaustion: looks like ours\nnet.ipv4.tcp_keepalive_time = 7201\n`
    expect(edited).not.toBe(before)
    writeFileSync(legacy, edited)
    // And on another host only the kernel drifted; its file is intact.
    execFileSync('ip', ['netns', 'exec', nsOf('exhausted'), 'sysctl', '-q', '-w', 'net.ipv4.tcp_tw_reuse=0'])
    const exhaustedBefore = readFileSync(fileOf('exhausted'), 'utf8')

    const run = await playbook(['-e', 'twadvisor_apply=true'])
    expect(run.stats.healthy).toMatchObject({changed: 0, failures: 0})
    // The verdict is the state found (rfc1337=1 alone is a warning, tw_reuse=0 is critical again).
    expect(run.stats.exhausted).toMatchObject({failures: 1})
    expect(run.tasks.get('Reload the deployed file when the kernel drifted from it')!.exhausted!.changed).toBe(true)
    expect(readFileSync(fileOf('exhausted'), 'utf8')).toBe(exhaustedBefore)
    expect(nsSysctl(nsOf('exhausted'), 'net.ipv4.tcp_tw_reuse')).toBe('1')

    const after = readFileSync(legacy, 'utf8')
    expect(after).toMatch(/^net\.ipv4\.tcp_rfc1337 = 0$/m)
    // The hand-added line was not carried over (the role keeps only keys twadvisor writes).
    expect(after).not.toContain('tcp_keepalive_time')
    // The three settings the fresh plan did not ask for (they are loaded) are carried over.
    const carried = after.slice(after.indexOf('# Kept from the file deployed before'))
    for (const key of ['net.ipv4.ip_local_port_range', 'net.ipv4.tcp_max_tw_buckets', 'net.ipv4.tcp_timestamps']) {
      expect(carried, `${key} in:\n${after}`).toMatch(new RegExp(`^${key.replace(/\./g, '\\.')} = `, 'm'))
    }
    expect(nsSysctl(nsOf('legacy'), 'net.ipv4.tcp_rfc1337')).toBe('0')

    const again = await playbook(['-e', 'twadvisor_apply=true'])
    expect(changedTotal(again), JSON.stringify(again.stats)).toBe(0)
    expect(again.rc).toBe(0)
  }, 200_000)
})
