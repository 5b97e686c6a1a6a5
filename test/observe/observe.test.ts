import {execFileSync, spawnSync} from 'node:child_process'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {counterMeanings, renderObservation} from '../../src/render/observe.js'
import {countPeers, rates, type Observation} from '../../src/sources/observe.js'
import {rootSuite} from '../root.js'

describe('observe: parsing and rates', () => {
  it('counts TIME_WAIT sockets per peer from ss output, largest first', () => {
    const ss = [
      '0      0      198.18.99.1:41000     198.18.99.1:8080',
      '0      0      198.18.99.1:41002     198.18.99.1:8080',
      '0      0      198.18.99.1:41004     198.18.99.2:443',
      '',
    ].join('\n')
    expect(countPeers(ss, 10)).toEqual([
      {peer: '198.18.99.1:8080', sockets: 2},
      {peer: '198.18.99.2:443', sockets: 1},
    ])
    expect(countPeers(ss, 1)).toHaveLength(1)
  })

  it('turns two snapshots into per-second rates, leaving out absent counters', () => {
    const r = rates(
      {atMs: 0, counters: {TcpActiveOpens: 100, TcpExtTWRecycled: 5}, timeWaitSockets: 0},
      {atMs: 2000, counters: {TcpActiveOpens: 700, TcpExtTWRecycled: 5}, timeWaitSockets: 0},
    )
    expect(r.TcpActiveOpens).toBe(300)
    expect(r.TcpExtTWRecycled).toBe(0)
    expect(r).not.toHaveProperty('TcpExtPAWSTimewait')
  })
})

describe('observe: what each counter means on this kernel', () => {
  const obs = (kernel: string | null): Observation => ({
    source: 'live',
    kernel,
    intervalSeconds: 5,
    rates: {TcpExtTW: 10, TcpExtTWKilled: 0, TcpExtPAWSTimewait: 1, TcpExtPAWSEstab: 2},
    totals: {TcpExtTW: 1000, TcpExtTWKilled: 3, TcpExtPAWSTimewait: 7, TcpExtPAWSEstab: 9},
    timeWaitSockets: 600,
    timeWaitByPeer: [],
  })

  it('TW and TWKilled are armed timers (> 4 s / at most 4 s), and RST-cleared entries are counted nowhere', () => {
    const m = counterMeanings('6.18.44')
    expect(m.TcpExtTW).toMatch(/armed for more than 4 s/)
    expect(m.TcpExtTWKilled).toMatch(/at most 4 s/)
    expect(m.TcpExtTWKilled).toMatch(/RST .*counted nowhere/)
    expect(m.TcpExtTW).not.toMatch(/finished/)
  })

  it('PAWSTimewait is shown from 6.16; before, PAWSEstab with what it mixes', () => {
    const newer = renderObservation(obs('6.18.44'))
    expect(newer).toMatch(/TcpExtPAWSTimewait/)
    expect(newer).not.toMatch(/TcpExtPAWSEstab/)
    const older = renderObservation(obs('6.1.176'))
    expect(older).not.toMatch(/TcpExtPAWSTimewait/)
    expect(older).toMatch(/TcpExtPAWSEstab .*established AND TIME_WAIT/)
    expect(older).toMatch(/kernel 6\.1\.176/)
  })
})

// A real namespace with real TIME_WAIT sockets: 50 short connections on 198.18.99.1 where the
// client closes first, then `observe --netns` must see the opens and the TIME_WAIT peer.
rootSuite('observe --netns on a real namespace', 'network namespaces', () => {
  const ns = `twobs-${process.pid}`
  const ip = (...args: string[]) => execFileSync('ip', args, {stdio: 'pipe'})
  beforeAll(() => {
    spawnSync('ip', ['netns', 'del', ns])
    ip('netns', 'add', ns)
    ip('-n', ns, 'link', 'set', 'lo', 'up')
    ip('-n', ns, 'addr', 'add', '198.18.99.1/32', 'dev', 'lo')
  })
  afterAll(() => {
    spawnSync('ip', ['netns', 'del', ns])
  })

  it('reports the connections opened during the interval and TIME_WAIT per peer', async () => {
    // Traffic and observation run concurrently inside the namespace, both bounded in time.
    const traffic = `
      const net = require('node:net');
      const srv = net.createServer((s) => s.on('data', () => {}).on('end', () => s.end()));
      srv.listen(8080, '198.18.99.1', async () => {
        await new Promise((r) => setTimeout(r, 1500));
        for (let i = 0; i < 50; i++) {
          await new Promise((res, rej) => {
            const c = net.connect(8080, '198.18.99.1', () => { c.end(); });
            c.on('close', res); c.on('error', rej); c.setTimeout(2000, () => c.destroy());
          });
        }
        setTimeout(() => srv.close(), 200);
      });
      setTimeout(() => process.exit(0), 10000).unref();`
    const {execa} = await import('execa')
    const driver = execa('ip', ['netns', 'exec', ns, process.execPath, '-e', traffic], {timeout: 15_000})
    const obs = await execa(process.execPath, ['bin/run.js', 'observe', '--netns', ns, '--interval', '4', '--json'], {timeout: 20_000})
    await driver
    const out = JSON.parse(obs.stdout) as {intervalSeconds: number; rates: Record<string, number>; timeWaitByPeer: {peer: string; sockets: number}[]}
    expect(Math.round(out.rates.TcpActiveOpens! * out.intervalSeconds)).toBeGreaterThanOrEqual(50)
    expect(out.timeWaitByPeer.find((p) => p.peer === '198.18.99.1:8080')?.sockets).toBeGreaterThanOrEqual(50)
  })

  it('refuses a namespace name that could be an injection, with exit 1', async () => {
    const {execa} = await import('execa')
    const r = await execa(process.execPath, ['bin/run.js', 'observe', '--netns', 'x;touch /tmp/pwned', '--interval', '1'], {reject: false})
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toContain('not a valid network namespace name')
  })
})
