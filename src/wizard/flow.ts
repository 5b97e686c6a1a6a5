import type {Facts} from '../facts/types.js'
import {DEFAULT_PORT_RANGE} from '../model/constants.js'
import type {Report} from '../rules/types.js'
import {FLOW_DEFAULTS, HOST_LABEL, HOST_LABEL_HELP, NAT_DEFAULTS, type Closer, type Flow, type NatPortMode, type Role, type Topology} from '../topology/types.js'
import {summarizeHost, type HostSummary} from './host.js'
import {
  formatRange,
  parseCount,
  parseFlowName,
  parseOptionalKernel,
  parseOptionalPortRange,
  parsePeerAnswer,
  parsePortRange,
  parseQps,
  parseSeconds,
  suggestFlowName,
} from './parse.js'
import {ask, type Prompts} from './prompts.js'
import {offerSysctl, offerTopology, writePending, type Pending, type WriteOutcome} from './save.js'

/**
 * The wizard's question flow: what the host says, what the user sees, the flows, then the same
 * findings `check` prints and the offers to save. Prompts are injected (terminal, --answers
 * replay, or a test script); nothing here knows which.
 */
export type Symptom = 'resets' | 'stalls' | 'eaddrnotavail' | 'planning'

export interface WizardIO {
  prompts: Prompts
  /** One line to the user (stdout). */
  print: (line: string) => void
  /** Styling for the lines the flow prints (no-op in tests and without a TTY). */
  style?: {bold: (s: string) => string; dim: (s: string) => string}
}

export interface WizardOptions {
  facts: Facts
  /** Default for the topology's `host:` label (the live host's name). */
  hostname?: string
  /** Defaults for the save prompts (--output-topology, --output-sysctl). */
  outputTopology?: string
  outputSysctl?: string
  /**
   * Replaying --answers: a file is written only when the answers or an --output-* flag name
   * it, so a script never writes to a default path it did not ask for.
   */
  replay?: boolean
  /** Root writes the sysctl.d file to /etc/sysctl.d by default; others to the current directory. */
  isRoot?: boolean
  /** Flows `twadvisor discover` inferred on the host (wizard --discover): offered as the defaults. */
  discovered?: Flow[]
}

export interface WizardResult {
  symptom: Symptom
  topology: Topology
  report: Report
  /** The exit code `check` would give for these findings (0 clean, 2 critical). */
  exitCode: number
  written: WriteOutcome[]
  /** Ctrl-C arrived while files were being written: the ones listed were finished, no more. */
  interrupted: boolean
}

const SYMPTOMS: {value: Symptom; name: string; description: string}[] = [
  {value: 'resets', name: 'Connection resets (RST) on new connections', description: 'a client gets "connection reset by peer" right at connect'},
  {value: 'stalls', name: 'Connects that stall for 1 s or 3 s', description: 'SYN retransmits: latency spikes of exactly 1 s, sometimes 3 s'},
  {value: 'eaddrnotavail', name: '"Cannot assign requested address" (EADDRNOTAVAIL)', description: 'connect() fails on the client: no free source port'},
  {value: 'planning', name: 'Nothing yet: checking a setup or planning capacity', description: 'every question, with neutral defaults'},
]

/** What each symptom means, before the questions that matter for it (lines of at most 100 columns). */
const SYMPTOM_INTRO: Record<Symptom, string[]> = {
  resets: [
    'Resets at connect come from a new SYN landing on a 4-tuple the server still holds in TIME_WAIT:',
    'the server answers with the old ACK and the client resets. It hurts when many senders share a',
    'source address (SNAT, a proxy). The questions start from the server, the NAT and keep-alive.',
  ],
  stalls: [
    'A 1 s stall (then 3 s) is a SYN retransmitted after it hit a 4-tuple the server still holds in',
    'TIME_WAIT (a stale ACK, or a PAWS drop). Same cause as resets: senders sharing a source address',
    '(SNAT). The questions start from the server, the NAT and keep-alive.',
  ],
  eaddrnotavail: [
    'connect() fails with EADDRNOTAVAIL when every source port toward one destination ip:port is held',
    'in TIME_WAIT on this host, because this host closes first. The questions start from the client:',
    'its rate per destination, who closes, its source addresses.',
  ],
  planning: ['Every question, with neutral defaults: describe each flow of new connections this host takes part in.'],
}

interface FlowCtx {
  symptom: Symptom
  index: number
  taken: string[]
  host: HostSummary
  /** The flow `discover` found at this position: its values are the defaults. */
  discovered?: Flow
}

const NAT_MODE_CHOICES: {value: NatPortMode; name: string; description: string}[] = [
  {value: 'preserve', name: 'preserve: keeps the sender\'s port when it can', description: 'Linux SNAT / masquerade without random flags (the default)'},
  {value: 'random', name: 'random: a port from the pool per connection', description: 'masquerade random'},
  {value: 'fully-random', name: 'fully-random: a port from the pool per connection', description: 'masquerade fully-random, as kube-proxy sets it'},
]

const ROLE_CHOICES: {value: Role; name: string; description: string}[] = [
  {value: 'client', name: 'client: this host opens the connections', description: 'e.g. an app server calling a database, a cache or an API'},
  {value: 'server', name: 'server: this host accepts them', description: 'e.g. the web or API server the clients connect to'},
  {value: 'nat', name: 'nat: this host source-NATs them', description: 'a NAT gateway or a Kubernetes node masquerading pod traffic'},
]

/** One flow's questions, in the order that lets each default build on the earlier answers. */
export async function askFlow(io: WizardIO, ctx: FlowCtx): Promise<Flow> {
  const p = io.prompts
  const id = (field: string) => `flows.${ctx.index}.${field}`
  const serverSide = ctx.symptom === 'resets' || ctx.symptom === 'stalls'
  const d = ctx.discovered
  const role = await p.select<Role>({
    id: id('role'),
    message: "This host's role in the flow",
    hint: serverSide
      ? 'The server holds the TIME_WAIT entries that new SYNs collide with: answer from the server if you can.'
      : ctx.symptom === 'eaddrnotavail'
        ? 'EADDRNOTAVAIL happens on the client that opens the connections.'
        : 'The host these sysctls are from, as it takes part in this flow.',
    choices: ROLE_CHOICES,
    default: d?.role ?? (serverSide ? 'server' : 'client'),
  })
  const peer = await ask(p, {
    id: id('peer'),
    message: role === 'server' ? 'Listener ip:port the clients connect to' : 'Server ip:port the connections go to',
    hint:
      role === 'server'
        ? "This host's own address and port, as the clients dial it (e.g. 10.0.1.10:80)."
        : 'The destination as packets carry it (after DNS; before any DNAT), e.g. 10.0.2.20:11211.',
    default: d && d.role === role ? d.peer : undefined,
    parse: parsePeerAnswer,
  })
  const name = await ask(p, {
    id: id('name'),
    message: 'A name for this flow',
    hint: 'Used in findings and waivers; letters, digits, ".", "_" and "-".',
    default: d && d.peer === peer && !ctx.taken.includes(d.name) ? d.name : suggestFlowName(role, peer, ctx.taken),
    parse: (raw) => parseFlowName(raw, ctx.taken),
  })
  const qps = await ask(p, {
    id: id('qps'),
    message: 'New connections per second in this flow, at peak',
    hint: 'Connections, not requests (keep-alive shares one); `nstat` TcpActiveOpens/TcpPassiveOpens over 10 s give the rate.',
    default: d && d.peer === peer ? String(d.qps) : '100',
    parse: parseQps,
  })
  const closesFirst = await p.select<Closer>({
    id: id('closes_first'),
    message: 'Which side closes the connection first?',
    hint: 'That side holds TIME_WAIT for 60 s; `ss -tan state time-wait` on each side shows which one it is.',
    choices: [
      {value: 'server', name: 'the server'},
      {value: 'client', name: 'the client'},
    ],
    default: d && d.peer === peer ? d.closes_first : serverSide || (ctx.symptom === 'planning' && role !== 'client') ? 'server' : 'client',
  })
  const keepalive = await p.confirm({
    id: id('keepalive'),
    message: 'Is keep-alive or a connection pool on for this flow?',
    hint: 'Reused connections open no new 4-tuples; "no" when every request opens a new connection.',
    default: d && d.peer === peer ? d.keepalive : false,
  })

  // NAT: for role nat this host IS the NAT; for a client hunting EADDRNOTAVAIL it rarely matters.
  let behindNat = role === 'nat'
  if (role !== 'nat') {
    behindNat = await p.confirm({
      id: id('nat'),
      message: role === 'client' ? "Does this host's traffic leave through SNAT on the way?" : 'Do the clients reach this server through SNAT?',
      hint: 'A NAT gateway, a Kubernetes node masquerading pods, an LB rewriting the source: the classic cause of resets.',
      default: d && d.peer === peer ? d.nat !== undefined : serverSide && role !== 'client',
    })
  }
  let nat: Flow['nat']
  if (behindNat) {
    const portRange = await ask(p, {
      id: id('nat.port_range'),
      message: 'The NAT source port pool (low-high)',
      hint: `Masquerade keeps the senders' source ports when it can: their ip_local_port_range (${formatRange(DEFAULT_PORT_RANGE)} by default).`,
      default: formatRange(DEFAULT_PORT_RANGE),
      parse: parsePortRange,
    })
    const ct = await ask(p, {
      id: id('nat.conntrack_time_wait'),
      message: 'nf_conntrack_tcp_timeout_time_wait on the NAT (seconds)',
      hint: 'How long the NAT keeps a closed tuple (120 s by default); not the TCP TIME_WAIT of either end.',
      default: String(role === 'nat' ? (ctx.host.conntrackTimeWaitSeconds ?? NAT_DEFAULTS.conntrack_time_wait) : NAT_DEFAULTS.conntrack_time_wait),
      parse: parseSeconds,
    })
    const portMode = await p.select<NatPortMode>({
      id: id('nat.port_mode'),
      message: 'How does the NAT pick source ports?',
      hint: 'Masquerade keeps a free sender port; kube-proxy uses fully-random. Remapped ports meet other senders\' TIME_WAIT.',
      choices: NAT_MODE_CHOICES,
      default: NAT_DEFAULTS.port_mode,
    })
    nat = {port_range: portRange, conntrack_time_wait: ct, port_mode: portMode}
    // The NAT's kernel decides whether a full pool evicts (6.5+) or drops SYNs; for role nat it is this host's.
    if (role !== 'nat') {
      const natKernel = await ask(p, {
        id: id('nat.kernel'),
        message: "The NAT's kernel version, if you know it (e.g. 6.1; empty if not)",
        hint: 'Since 6.5 a full SNAT pool evicts closing conntrack entries; older NATs drop the SYN.',
        default: '',
        parse: parseOptionalKernel,
      })
      if (natKernel) nat.kernel = natKernel
    }
  }

  const clientAddresses = await ask(p, {
    id: id('client_addresses'),
    message: role === 'client' && !behindNat ? `How many source IP addresses does this host use toward ${peer}?` : 'How many source addresses do the connections come from, as the server sees them?',
    hint: behindNat
      ? "Behind SNAT: the NAT's public addresses for this traffic; each has its own source ports."
      : 'Each source address has its own source ports toward a destination: more addresses, more room.',
    default: String(d && d.peer === peer ? d.client_addresses : FLOW_DEFAULTS.client_addresses),
    parse: (raw) => parseCount(raw, 1, 'a number of addresses'),
  })
  // Senders matter where addresses can be shared: on the server or the NAT, or behind a NAT.
  let senders = clientAddresses
  if (role !== 'client' || behindNat) {
    senders = await ask(p, {
      id: id('senders'),
      message: 'How many distinct hosts (pods, VMs) send this traffic?',
      hint: `More senders than addresses (${clientAddresses}) share them: unrelated sequence numbers turn a collision into a reset.`,
      default: String(Math.max(clientAddresses, d && d.peer === peer ? d.senders : clientAddresses)),
      parse: (raw) => parseCount(raw, clientAddresses, 'a number of hosts'),
    })
  }
  const serverEndpoints = await ask(p, {
    id: id('server_endpoints'),
    message: 'Over how many server ip:port endpoints is the flow spread?',
    hint: 'Each server ip:port is its own set of 4-tuples (DNS round robin, several backends dialled directly).',
    default: String(FLOW_DEFAULTS.server_endpoints),
    parse: (raw) => parseCount(raw, 1, 'a number of endpoints'),
  })
  let clientPortRange: [number, number] | undefined
  if (role !== 'client' && !behindNat && ctx.symptom !== 'eaddrnotavail') {
    clientPortRange = await ask(p, {
      id: id('client_port_range'),
      message: "The clients' ip_local_port_range, if you know it (low-high; empty if not)",
      hint: `Their ports decide how soon a 4-tuple comes back; empty assumes the default ${formatRange(DEFAULT_PORT_RANGE)}.`,
      default: '',
      parse: parseOptionalPortRange,
    })
  }
  // The clients' kernel decides whether a remapped sender looks unrelated (timestamp offsets)
  // and whether a rejected SYN costs milliseconds (5.6+ resend) or a second.
  let clientKernel: string | undefined
  if (role !== 'client' && closesFirst === 'server') {
    clientKernel = await ask(p, {
      id: id('client_kernel'),
      message: "The clients' kernel version, if you know it (e.g. 6.18.20; empty for this host's)",
      hint: 'Their timestamp offsets (per host pair, or per 4-tuple from 7.0) decide if a remapped SYN is rejected.',
      default: '',
      parse: parseOptionalKernel,
    })
  }
  const flow: Flow = {
    name,
    role,
    peer,
    qps,
    closes_first: closesFirst,
    keepalive,
    client_addresses: clientAddresses,
    senders,
    server_endpoints: serverEndpoints,
  }
  if (clientPortRange) flow.client_port_range = clientPortRange
  if (nat) flow.nat = nat
  if (clientKernel) flow.client_kernel = clientKernel
  return flow
}

/** The symptom, then the flows: everything the topology file will hold. */
export async function askTopology(io: WizardIO, opts: WizardOptions, host: HostSummary): Promise<{symptom: Symptom; topology: Topology}> {
  const p = io.prompts
  const dim = io.style?.dim ?? ((s: string) => s)
  const symptom = await p.select<Symptom>({
    id: 'symptom',
    message: 'What are you seeing?',
    hint: 'The symptom decides which side the questions start from.',
    choices: SYMPTOMS,
    default: 'planning',
  })
  for (const line of SYMPTOM_INTRO[symptom]) io.print(dim(line))
  const hostLabel = await p.input({
    id: 'host',
    message: 'A label for this host in reports',
    hint: 'The topology\'s "host:": a host name or short label.',
    // A dump's kernel.hostname is input too: offered only when it is a valid label.
    default: [opts.hostname, host.hostname].find((h) => h !== undefined && HOST_LABEL.test(h)) ?? 'localhost',
    validate: (raw) => (raw.trim() === '' ? 'type a label, e.g. php-01' : HOST_LABEL.test(raw.trim()) ? true : `use ${HOST_LABEL_HELP}`),
  })
  const flows: Flow[] = []
  const found = opts.discovered ?? []
  if (found.length > 0) {
    io.print(dim(`discover found ${found.length} flow(s) on this host: ${found.map((f) => `${f.name} (${f.qps}/s)`).join(', ')}. Their values are the defaults below (Enter keeps them).`))
  }
  for (;;) {
    io.print('')
    io.print(io.style?.bold(`Flow ${flows.length + 1}`) ?? `Flow ${flows.length + 1}`)
    flows.push(await askFlow(io, {symptom, index: flows.length, taken: flows.map((f) => f.name), host, discovered: found[flows.length]}))
    const another = await p.confirm({
      id: `flows.${flows.length - 1}.another`,
      message: 'Add another flow?',
      hint: 'Another destination, or the same one seen from another role (e.g. this server also calls a cache).',
      default: flows.length < found.length,
    })
    if (!another) break
  }
  return {symptom, topology: {file: '(wizard)', host: hostLabel.trim(), waivers: [], flows}}
}

/** The whole wizard: host, questions, findings, offers, then the writes (all at the end). */
export async function runWizard(io: WizardIO, opts: WizardOptions): Promise<WizardResult> {
  const host = summarizeHost(opts.facts)
  for (const line of host.lines) io.print(line)
  io.print('')
  const {symptom, topology} = await askTopology(io, opts, host)

  const [{checkHosts}, {exitCodeFor}, {renderText}, {settleReport}] = await Promise.all([
    import('../check.js'),
    import('../rules/report.js'),
    import('../render/text.js'),
    import('../generate/settle.js'),
  ])
  const {report, rules} = checkHosts([{facts: opts.facts, topology}])
  const exitCode = exitCodeFor(report, 'critical')
  io.print('')
  io.print(renderText(report, {failOn: 'critical', exitCode}))
  io.print('')

  // Offers: every question first, every write last, so Ctrl-C at any question writes nothing.
  const pending: Pending[] = []
  const topo = await offerTopology(io, opts, topology)
  if (topo?.pending) pending.push(topo.pending)
  const hostReport = report.hosts[0]
  if (hostReport) {
    // The sysctl.d file carries the remedies and what they lead to (as `generate` writes it).
    const settled = settleReport(hostReport, {facts: opts.facts, topology, rules})
    const sysctl = await offerSysctl(io, opts, settled, topo?.path)
    if (sysctl) pending.push(sysctl)
  }
  io.prompts.done?.()
  const {written, interrupted} = await writePending(pending)
  for (const w of written) io.print(w.message)
  return {symptom, topology, report, exitCode, written, interrupted}
}
