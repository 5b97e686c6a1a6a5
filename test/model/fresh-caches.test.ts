import {describe, expect, it, vi} from 'vitest'

// identity() and isLoopbackPeer() keep their answers for the life of the process (identity.ts,
// host.ts). Every test after the first that asks the same question gets the kept answer, so a
// fault in the code that works it out would only ever show in the first caller; in a long-lived
// process (the mutation runs keep their modules between runs) not at all. These tests ask a
// freshly loaded module, every question once, each answer from docs/kernel.md "Identity".

describe('answers worked out afresh', () => {
  it('identity: PAWS needs timestamps on both sides; a remapped sender is related only without per-port offsets', async () => {
    vi.resetModules()
    const {identity} = await import('../../src/model/identity.js')
    const schemes = ['none', 'per-connection', 'per-host-pair', 'per-4-tuple'] as const
    for (const scheme of schemes) {
      // Both send timestamps: PAWS decides. Related from another port: no offset, or one per host pair.
      const both = identity(1, 1, scheme)
      expect(both, scheme).toEqual({
        paws: true,
        scheme,
        sameSenderRemapRelated: scheme === 'none' || scheme === 'per-host-pair',
        // Its own tuple: related unless every connection gets a new random offset (4.10).
        sameSenderOwnTupleRelated: scheme !== 'per-connection',
      })
      // The server without timestamps: the ISN decides; it depends on the ports, and on its own tuple it moves on.
      expect(identity(0, 1, scheme), scheme).toEqual({paws: false, scheme, sameSenderRemapRelated: false, sameSenderOwnTupleRelated: true})
      expect(identity(1, 0, scheme), scheme).toEqual({paws: false, scheme, sameSenderRemapRelated: false, sameSenderOwnTupleRelated: true})
      // tcp_timestamps=2 on the clients: timestamps without an offset, whatever the kernel.
      expect(identity(1, 2, scheme), scheme).toEqual({paws: true, scheme: 'none', sameSenderRemapRelated: true, sameSenderOwnTupleRelated: true})
    }
  })

  it('isLoopbackPeer: each peer asked once', async () => {
    vi.resetModules()
    const {isLoopbackPeer} = await import('../../src/model/host.js')
    const loop = ['127.9.9.9:81', 'localhost:81', 'LOCALHOST:82', '[::1]:81', '[0:0:0:0:0:0:0:1]:81', '[::ffff:127.1.2.3]:81']
    const other = ['126.0.0.1:81', '10.0.0.127:81', '[::ffff:128.0.0.1]:81', '[0:0:0:0:0:0:1:1]:81', '[::11]:81', 'localhost.example:81', '127.0.0.1:70000', 'no-port']
    for (const p of loop) expect(isLoopbackPeer(p), p).toBe(true)
    for (const p of other) expect(isLoopbackPeer(p), p).toBe(false)
  })
})
