import {describe, expect, it} from 'vitest'

import {parsePeer} from '../../src/topology/peer.js'

describe('parsePeer', () => {
  it('ip:port and [ipv6]:port', () => {
    expect(parsePeer('10.0.1.10:80')).toEqual({host: '10.0.1.10', port: 80})
    expect(parsePeer('[2001:db8::1]:443')).toEqual({host: '2001:db8::1', port: 443})
    expect(parsePeer('db:1')).toEqual({host: 'db', port: 1})
    expect(parsePeer('db:65535')).toEqual({host: 'db', port: 65535})
  })

  it('ports are 1-65535; a bare IPv6 address or no port is not a peer', () => {
    for (const bad of ['db:0', 'db:65536', 'db:99999', 'db', '2001:db8::1:443', 'db:', '[::1]']) {
      expect(() => parsePeer(bad), bad).toThrow(`"${bad}" is not ip:port (port 1-65535)`)
    }
  })
})
