// Issue 10's "Why": two flows the old rules called critical that the lab measured harmless, as
// declared in examples/why-remap-nots and examples/why-preserve-rfc1337 (each beside the
// sysctl dump of this project's 6.18.44 machine with the one setting the flow names). `check`
// must not call either critical, and the harm model must put both under the harm budget
// (0.1 %), with the figures worked out below by hand from docs/kernel.md. The lab runs the same
// two flows (the fidelity matrix's why-* scenarios, which this file keeps equal to the examples).
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {checkHosts} from '../../src/check.js'
import {whyPreserveRfc1337, whyRemapNots} from '../../src/lab/scenarios.js'
import {HARM_BUDGET} from '../../src/model/predict.js'
import type {FlowModel} from '../../src/model/types.js'
import type {HostReport} from '../../src/rules/types.js'
import {readDumpFile} from '../../src/sources/dump.js'
import {loadTopologyFile} from '../../src/topology/load.js'

const EXAMPLES = join(import.meta.dirname, '../../examples')

async function checked(example: string): Promise<{host: HostReport; flow: FlowModel}> {
  const facts = await readDumpFile(join(EXAMPLES, example, 'sysctl.txt'))
  const topology = await loadTopologyFile(join(EXAMPLES, example, 'topology.yaml'))
  const host = checkHosts([{facts, topology}]).report.hosts[0]!
  return {host, flow: host.model!.flows[0]!}
}

/** The old verdicts these flows got, and any critical finding at all. */
function criticalOrOld(host: HostReport): string[] {
  return host.findings.filter((f) => f.severity === 'critical' || f.id === 'server-tw-collision-shared' || f.id === 'rfc1337-nat-stalls').map((f) => `${f.id} (${f.severity})`)
}

describe('issue 10 Why: both flows are predicted harmless', () => {
  // A: 2 senders remapped into a 1,000-port pool at 125/s; server 6.18.44 with tcp_timestamps=0.
  //  - The senders' ports (default range 32768-60999) lie outside the pool: every SYN is remapped.
  //  - Pool capacity without eviction 1000 / 120 s = 8.33/s < 125/s, and the NAT is taken as 6.5+:
  //    it evicts, so a tuple comes back every 1000 / 125 = 8 s, and a SYN meets TIME_WAIT with
  //    c = 1 − e^(−60/8) = 1 − e^(−7.5) = 0.999447.
  //  - No timestamps: the ISN decides, and it depends on the ports, so every collision is
  //    unrelated (the other sender, or the same one from another port): q = 1 × 1/2.
  //  - Rejected, the RST clearing entries: q·c / (1 + q·c) = 0.499724 / 1.499724 = 0.333210.
  //    (An upper bound: the lab counts about 1 % client RSTs here, 35 in 4,500 — the 6.5+ NAT
  //    evicts a tuple only for a SYN whose sequence number is past the old entry's — but what
  //    rejects that 1 % is not modelled yet, so the model keeps the coin flip.)
  //  - A 6.18 client resends after ~2 ms, and without timestamps or tcp_rfc1337 the resend finds
  //    the entry gone: stall 0. safe_qps none (no rate makes it stall).
  it('A (why-remap-nots): no critical finding; a third of SYNs rejected at most, none stalls', async () => {
    const {host, flow} = await checked('why-remap-nots')
    // tcp_rfc1337=0: the RST clears any entry, so no tuple can stick.
    expect(flow.stuckTupleShare).toBe(0)
    expect(criticalOrOld(host)).toEqual([])
    const benign = host.findings.find((f) => f.id === 'server-tw-collision-benign')
    expect(benign?.message).not.toContain('null')
    expect(flow.collisionShare).toBeCloseTo(1 - Math.exp(-7.5), 6)
    const x = 0.5 * (1 - Math.exp(-7.5))
    expect(flow.rejectShare).toBeCloseTo(x / (1 + x), 6)
    expect(flow.stallShare).toBe(0)
    expect(flow.stallShare).toBeLessThanOrEqual(HARM_BUDGET)
    expect(flow.harmful).toBe(false)
    expect(flow.safeQps).toBeNull()
  })

  // B: 2 senders on one shared range 40000-40999 at 100/s behind a port-preserving SNAT without
  // a range (1024-65535), conntrack TIME_WAIT 120 s; server 6.18.44 with tcp_rfc1337=1.
  //  - Each sender (50/s) uses the 500 even ports first: it is back on its own port after
  //    500 / 50 = 10 s, and its own 4-tuple is in TIME_WAIT with 1 − e^(−60·50/500) = 0.997521.
  //    Its own tuple is accepted (ISN and timestamp offset keyed on the 4-tuple, same clock).
  //  - The other sender used the same port within conntrack's 120 s (> 10 s), so half the
  //    connects are remapped (1/2 × min(1, 120/10) = 0.5): 50/s at random into the
  //    64,512 − 500 = 64,012 free ports.
  //  - Holes (tuples conntrack freed when their sender re-opened its own port while the server
  //    still holds them): 50/s × (60 − 10) s = 2,500; a remap lands in one with
  //    2500 / 64012 = 0.039055, so 0.5 × 0.039055 = 0.019528 of connects meet TIME_WAIT there.
  //  - Those are unrelated (the other sender, or the same from another port with per-4-tuple
  //    timestamp offsets on 6.18.17+): rejected 1/2 of the time, and with tcp_rfc1337=1 the RST
  //    clears nothing: 0.5 × 0.019528 = 0.009764 rejected.
  //  - A rejected connect stalls when its resend is rejected too or the stale ACK was
  //    rate-limited (100 × 0.009764 / 2500 = 0.000391 rejects/s per hole: 1 − e^(−0.5 × 0.000391)
  //    = 0.000195). After the client's RST conntrack reopens the connection and the NAT remaps the
  //    resend afresh (the sender's port is still the other's): it is rejected like a remapped SYN,
  //    0.5 × 0.039055 = 0.019528, not like the average connect. 1 − 0.980472 × 0.999805 = 0.019719.
  //  - Stall 0.009764 × 0.019719 = 0.000193: 0.02 %, a fifth of the 0.1 % budget. (At 136/s the
  //    same arithmetic gives 0.04 % and the lab measured 0.087 % over 55,487 connects: close to the
  //    budget, so the example runs at 100/s.)
  it('B (why-preserve-rfc1337): no critical finding; 1 % rejected, 0.02 % stall', async () => {
    const {host, flow} = await checked('why-preserve-rfc1337')
    expect(criticalOrOld(host)).toEqual([])
    expect(flow.natRemapShare).toBeCloseTo(0.5, 9)
    expect(flow.natHoles).toBeCloseTo(2500, 6)
    const holeShare = 2500 / 64012
    const remapCollision = 0.5 * holeShare
    const own = 0.5 * (1 - Math.exp((-60 * 50) / 500))
    expect(flow.collisionShare).toBeCloseTo(remapCollision + own, 6)
    const rejected = 0.5 * remapCollision
    expect(flow.rejectShare).toBeCloseTo(rejected, 6)
    const rateLimited = 1 - Math.exp(-0.5 * ((100 * rejected) / 2500))
    const stall = rejected * (1 - (1 - 0.5 * holeShare) * (1 - rateLimited))
    expect(flow.stallShare).toBeCloseTo(stall, 9)
    expect(flow.stallShare).toBeCloseTo(0.000193, 6)
    expect(flow.stallShare).toBeLessThanOrEqual(HARM_BUDGET)
    expect(flow.harmful).toBe(false)
    expect(flow.rfc1337Harm).toBe(false)
  })

  // B, what the stall share leaves out (lab, 6.18, 180 s at 100/s with captures): the NAT kept
  // sender 1's port 40074 on a tuple whose TIME_WAIT was sender 2's; each SYN was a PAWS reject
  // that re-armed the 60 s, tcp_rfc1337=1 dropped the RST, and sender 1 was back on 40074 every
  // ~10 s: all 13 of its connects from that port failed, from 21 s to the end (a 600 s run had
  // no such tuple). One stuck tuple fails 1 connect in (2 senders × 500 ports) = 0.1 %: a warning
  // with tcp_rfc1337=0 as its remedy (the RST then clears the entry), no critical.
  it('B: a stuck tuple is possible and costs 1 / (senders × ports); tcp_rfc1337=0 removes it', async () => {
    const {host, flow} = await checked('why-preserve-rfc1337')
    expect(flow.stuckTupleShare).toBeCloseTo(1 / (2 * 500), 12)
    const stuck = host.findings.find((f) => f.id === 'rfc1337-stuck-tuple')
    expect(stuck?.severity).toBe('warning')
    expect(stuck?.message).toContain('every 10 s')
    expect(stuck?.message).toContain('0.1 %')
    // Offered only because the re-check found the rule no longer fires with it.
    expect(stuck?.remedies.map((r) => r.sysctl)).toEqual([{'net.ipv4.tcp_rfc1337': '0'}])
    expect(stuck?.remedies[0]?.after.stuckTupleShare).toBe(0)
    // The host-wide rfc1337 warning gives way to the flow's, which says more.
    expect(host.findings.map((f) => f.id)).not.toContain('rfc1337-worsens-collisions')
  })

  it('the fidelity matrix runs the same two flows the examples declare', async () => {
    for (const [example, scenario] of [
      ['why-remap-nots', whyRemapNots],
      ['why-preserve-rfc1337', whyPreserveRfc1337],
    ] as const) {
      const [declared] = (await loadTopologyFile(join(EXAMPLES, example, 'topology.yaml'))).flows
      const {name: _name, ...flow} = declared!
      expect(flow, example).toEqual(expect.objectContaining(scenario))
    }
  })
})
