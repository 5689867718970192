/**
 * The host policy: which processes this host lets ferry checkpoint and where images may go.
 * Enforced by the CRIU driver through DriverOptions.policy; see docs/reliability.md.
 */
export {
  POLICY_SETTING,
  checkImagesDirAllowed,
  checkProcessAllowed,
  defaultHostPolicy,
  loadHostPolicy,
  parseHostPolicy,
  processViolation,
  readProcessFacts,
  resolveReal,
  type HostPolicy,
  type PolicyDefaults,
  type ProcessFacts,
} from './host-policy';
export { PolicyRefused, isPolicyRefused, type PolicyRule, type PolicyStep } from './errors';
