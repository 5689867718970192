/**
 * The host policy's refusal (src/policy). A request the host's policy does not allow fails with
 * PolicyRefused, whatever the request says; no retry can change the policy.
 */
import { failureKind, type FerryErrorOptions } from '../ferry-error';

/** What the policy was asked to allow. */
export type PolicyStep = 'pre-dump' | 'dump' | 'restore';

/** Which rule of the policy refused it. */
export type PolicyRule = 'uid' | 'cgroup' | 'executable' | 'image-root' | 'process-unreadable';

export class PolicyRefused extends failureKind('policy-refused', { retryable: false }) {
  constructor(
    readonly step: PolicyStep,
    /** `pid 1234` or the refused path. */
    readonly subject: string,
    readonly rule: PolicyRule,
    /** Why, in terms of the rule: e.g. `its uid 1001 is not one of the allowed uids 1000`. */
    readonly reason: string,
    /** The policy file, or null for the built-in default policy. */
    readonly policySource: string | null,
    options?: FerryErrorOptions,
  ) {
    super(
      `host policy refused ${step} of ${subject}: ${reason} ` +
        `(${policySource ? `policy file ${policySource}` : 'default policy'}). Nothing was touched; ` +
        (rule === 'image-root'
          ? 'use an images dir under one of the allowed image roots, or ask the host administrator to add a root'
          : 'choose a process the policy allows, or ask the host administrator to allow this one (FERRY_HOST_POLICY)'),
      options,
    );
  }
}
