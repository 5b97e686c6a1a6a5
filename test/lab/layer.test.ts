// The execution layer: the lab's nftables SNAT ruleset, translated for the user-mode Linux
// guest (iptables-legacy), must keep every address, port pool and flag; and the guest's init
// must mount what the host does not want written read-only.
import {describe, expect, it} from 'vitest'

import {withUmlDefault} from '../../src/commands/lab.js'
import {applyNat, currentLayer, iptablesCommands, natTool, parseSnatRules} from '../../src/lab/layer.js'
import {natRuleset, planLab} from '../../src/lab/plan.js'
import {initScript, umlPreflight} from '../../src/lab/uml.js'
import {facts, flow} from './helpers.js'

describe('lab layer', () => {
  it('the lab\'s own SNAT ruleset becomes one iptables SNAT rule per sender, same pool', () => {
    const plan = planLab(flow({role: 'server', qps: 40, senders: 3, client_addresses: 2, nat: {port_range: [20000, 20099], conntrack_time_wait: 120}}), facts({}))
    const cmds = iptablesCommands(parseSnatRules(natRuleset(plan)!))
    expect(cmds).toEqual([
      ['-w', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'srv', '-s', '198.18.1.2', '-p', 'tcp', '-j', 'SNAT', '--to-source', '198.19.0.101:20000-20099'],
      ['-w', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'srv', '-s', '198.18.2.2', '-p', 'tcp', '-j', 'SNAT', '--to-source', '198.19.0.102:20000-20099'],
      ['-w', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'srv', '-s', '198.18.3.2', '-p', 'tcp', '-j', 'SNAT', '--to-source', '198.19.0.101:20000-20099'],
    ])
  })

  it('port modes and masquerade carry over: random, fully-random, a port range', () => {
    const rules = parseSnatRules(
      [
        'oifname "srv" ip saddr 198.18.1.2 ip protocol tcp snat to 198.19.0.101:40000-40999 fully-random',
        'oifname "srv" ip saddr 198.18.2.2 ip protocol tcp snat ip to 198.19.0.101 random,persistent',
        'oifname "srv" masquerade to :40000-40999 random',
        'oifname "srv" masquerade',
      ].join('\n'),
    )
    expect(iptablesCommands(rules).map((a) => a.slice(7).join(' '))).toEqual([
      '-s 198.18.1.2 -p tcp -j SNAT --to-source 198.19.0.101:40000-40999 --random-fully',
      '-s 198.18.2.2 -p tcp -j SNAT --to-source 198.19.0.101 --random --persistent',
      '-p tcp -j MASQUERADE --to-ports 40000-40999 --random',
      '-p tcp -j MASQUERADE',
    ])
  })

  it('a rule the translation does not know is refused, never dropped', () => {
    expect(() => parseSnatRules('oifname "srv" ip saddr 198.18.1.2 tcp dport 80 snat to 198.19.0.101')).toThrow(/cannot translate/)
  })

  it('the guest layer installs iptables-legacy rules, the host layer nftables', async () => {
    const ruleset = 'table ip twlab {\n  chain post {\n    oifname "srv" ip saddr 198.18.1.2 ip protocol tcp snat to 198.19.0.101:1-2\n  }\n}\n'
    const calls: string[][] = []
    const runIn = async (_ns: string, args: string[]) => (calls.push(args), '')
    await applyNat('ns', ruleset, runIn, 'uml-guest')
    await applyNat('ns', ruleset, runIn, 'host')
    expect(calls.map((c) => c[0])).toEqual(['iptables-legacy', 'nft'])
    expect(natTool('uml-guest')).toEqual(['iptables-legacy', 'iptables'])
    expect(currentLayer({TWLAB_LAYER: 'uml-guest'})).toBe('uml-guest')
    expect(currentLayer({})).toBe('host')
  })

  it('the guest mounts the package and node read-only, writes only to the scratch folder', () => {
    const s = initScript({scratch: '/tmp/twlab-uml-x', pkg: '/tmp/clone', nodeDir: '/usr/bin', nodeName: 'node'})
    expect(s).toMatch(/mount -t hostfs -r -o \/tmp\/clone none \/run\/tw\/pkg/)
    expect(s).toMatch(/mount -t hostfs -r -o \/usr\/bin none \/run\/tw\/node/)
    const writable = [...s.matchAll(/mount -t hostfs (?!-r)-o (\S+)/g)].map((m) => m[1])
    expect(writable).toEqual(['/tmp/twlab-uml-x'])
    // Private /run (ip netns) and /tmp, mounted after the package so a clone under /tmp stays visible.
    expect(s.indexOf('tmpfs /tmp')).toBeGreaterThan(s.indexOf('/run/tw/pkg'))
    expect(s).toMatch(/poweroff -f/)
  })

  it('a bare --uml means the default kernel binary; a path is kept', () => {
    expect(withUmlDefault(['--example', '--uml'])).toEqual(['--example', '--uml', '/usr/bin/linux.uml'])
    expect(withUmlDefault(['--uml', '--json'])).toEqual(['--uml', '/usr/bin/linux.uml', '--json'])
    expect(withUmlDefault(['--uml', '/opt/linux'])).toEqual(['--uml', '/opt/linux'])
  })

  it('a missing uml kernel is one line naming the Debian packages (or root, first)', () => {
    const root = typeof process.getuid !== 'function' || process.getuid() === 0
    const err = (() => {
      try {
        umlPreflight('/nonexistent/linux.uml')
      } catch (error) {
        return error as {code: string; oneLine: () => string}
      }
      return null
    })()
    expect(err).not.toBeNull()
    if (root) {
      expect(err!.oneLine()).toBe('no user-mode Linux kernel at /nonexistent/linux.uml (install it: apt-get install -y user-mode-linux kmod iptables iproute2 procps)')
    } else {
      expect(err!.code).toBe('lab.root')
    }
    expect(err!.oneLine()).not.toContain('\n')
  })
})
