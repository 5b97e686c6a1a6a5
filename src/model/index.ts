export {runModel, modelFlow, widenRange} from './flow.js'
export {hostParams, type HostParams} from './host.js'
export type {FlowModel, HostModel, ModelResult} from './types.js'
export * as constants from './constants.js'
