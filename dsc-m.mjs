import {FlowTable} from './dist/discover/group.js'
import {streamLines} from './dist/sources/sockets.js'
import {execa} from 'execa'
const t = new FlowTable(10)
t.addListener('LISTEN 0 4096 198.18.0.1:80 0.0.0.0:*'); t.addListener('LISTEN 0 4096 198.18.0.1:81 0.0.0.0:*')
const t0 = performance.now()
if (process.argv[2] === 'parse') await streamLines(execa, undefined, ['cat', '/tmp/dsc-tw1m.txt'], (l) => t.addTimeWait(l))
else await streamLines(execa, undefined, ['cat', '/tmp/dsc-tw1m.txt'], () => {})
console.log(process.argv[2], Math.round(performance.now() - t0), 'ms', Math.round(process.resourceUsage().maxRSS / 1024), 'MB', [...t.groups.values()].map(g => g.timeWait))
