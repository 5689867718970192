/**
 * The host policy: which processes this host lets ferry checkpoint and where images may go.
 * A HostPolicy is the CRIU driver's TargetGuard (DriverOptions.policy); see docs/reliability.md.
 */
export {
  POLICY_SETTING,
  checkImagesDirAllowed,
  checkProcessAllowed,
  checkRestoredProcessesAllowed,
  defaultHostPolicy,
  loadHostPolicy,
  parseHostPolicy,
  processViolation,
  readProcessFacts,
  resolveReal,
  rootWorkerPolicyProblem,
  HostPolicy,
  type HostPolicyRules,
  type PolicyDefaults,
  type ProcessFacts,
} from './host-policy';
export { PolicyRefused, type PolicyRule, type PolicyStep } from '../core';
