import {afterEach, describe, expect, it, vi} from 'vitest'

import {preflight} from '../../src/lab/system.js'

afterEach(() => vi.restoreAllMocks())

describe('lab preflight', () => {
  it('without root: one clear error that says root is needed', () => {
    vi.spyOn(process, 'getuid').mockReturnValue(1000)
    expect(() => preflight()).toThrow(/needs root/)
    try {
      preflight()
    } catch (error) {
      expect((error as {code: string}).code).toBe('lab.root')
    }
  })

  it('without ip or nft: names the Debian packages to install', () => {
    vi.spyOn(process, 'getuid').mockReturnValue(0)
    try {
      preflight({path: '/nonexistent', extraDirs: []})
      expect.unreachable('preflight should fail without the tools')
    } catch (error) {
      const e = error as {code: string; message: string; hint: string}
      expect(e.code).toBe('lab.tools')
      expect(e.message).toContain('`ip`')
      expect(e.message).toContain('`nft`')
      expect(e.hint).toContain('apt-get install -y iproute2 nftables')
    }
  })
})
