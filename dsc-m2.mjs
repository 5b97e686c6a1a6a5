import {FlowTable, lineSplitter} from './dist/discover/group.js'
import {createReadStream} from 'node:fs'
const t = new FlowTable(10)
t.addListener('LISTEN 0 4096 198.18.0.1:80 0.0.0.0:*'); t.addListener('LISTEN 0 4096 198.18.0.1:81 0.0.0.0:*')
const t0 = performance.now()
const s = lineSplitter((l) => t.addTimeWait(l))
for await (const c of createReadStream('/tmp/dsc-tw1m.txt', {encoding: 'utf8', highWaterMark: 65536})) s.push(c)
s.end()
console.log(Math.round(performance.now() - t0), 'ms')
