import {describe, expect, it} from 'vitest'

import {TwError} from '../../src/errors.js'
import {readNetnsFacts, validateNetnsName} from '../../src/sources/netns.js'

describe('validateNetnsName: only names `ip netns` creates files for', () => {
  it.each(['twtest-1', 'blue', 'ns_2.a', 'A-Z.0_9'])('accepts %j', (name) => {
    expect(() => validateNetnsName(name)).not.toThrow()
  })

  it.each(['', '.', '..', 'a;rm -rf /', '$(id)', '`id`', 'a b', 'x/y', '../etc', 'a\nb', 'n'.repeat(65), 'ns*'])('refuses %j with a TwError on --netns', (name) => {
    try {
      validateNetnsName(name)
      expect.unreachable(`accepted ${JSON.stringify(name)}`)
    } catch (error) {
      expect(error).toBeInstanceOf(TwError)
      expect((error as TwError).code).toBe('netns.name')
      expect((error as TwError).position.field).toBe('--netns')
      expect((error as TwError).hint).toMatch(/letters, digits/)
    }
  })

  it('readNetnsFacts refuses a bad name before starting any process', async () => {
    await expect(readNetnsFacts('x;touch /tmp/never')).rejects.toMatchObject({code: 'netns.name'})
  })
})
