/**
 * Trigger rules: which processes of this host (a pid file, a command-line pattern, a cgroup), on
 * which events (shutdown, request, preemption, memory-pressure), get what (a checkpoint, a
 * migration to a named host, or a dumpNow signal to the checkpoint already running), with which
 * policy. The file (FERRY_TRIGGERS) is JSON, read and validated once, like the host policy: an
 * unknown key is refused, because a misspelt field would silently change what a rule does.
 *
 *   {"version": 1, "rules": [{"name": "web", "target": {"pidFile": "/run/web.pid"},
 *     "events": ["request", "shutdown"], "action": {"type": "checkpoint"},
 *     "policy": {"preDumps": 2, "maxDowntimeMs": 500, "leaveRunning": false}}]}
 *
 * Pure apart from loadTriggerRules (one read of the file).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config/config';
import { checkHostName } from '../core';
import { shown } from '../policy/host-policy';

export const TRIGGERS_SETTING = 'FERRY_TRIGGERS';
const MAX_RULES_BYTES = 256 * 1024;

export const TRIGGER_EVENTS = ['shutdown', 'request', 'preemption', 'memory-pressure'] as const;
export type TriggerEvent = (typeof TRIGGER_EVENTS)[number];

export type TriggerTarget = { kind: 'pid-file'; pidFile: string } | { kind: 'cmdline'; pattern: string; regex: RegExp } | { kind: 'cgroup'; cgroup: string };

export type TriggerAction = { type: 'checkpoint' } | { type: 'migrate'; to: string } | { type: 'dump-now' };

export interface TriggerPolicy {
  /** Most pre-dumps before the final dump (the convergence policy's maxPreDumps). */
  preDumps?: number;
  /** Frozen-time goal of the final dump (ms). */
  maxDowntimeMs?: number;
  /** Keep the process running after the final dump (default false). */
  leaveRunning: boolean;
  /**
   * Time the final dump plus its upload need before a deadline (ms, default 30000): with less
   * left, no pre-dump is taken, and a running checkpoint is told to dump now.
   */
  finalReserveMs: number;
}

/** When a `memory-pressure` rule fires (memory-pressure.ts): either threshold, or both. */
export interface MemoryThresholds {
  /** PSI `some avg10` (percent) above which the rule fires, read from psiFile. */
  psiAbove?: number;
  /** Default /proc/pressure/memory; a cgroup v2 group's memory.pressure for that group. */
  psiFile: string;
  /** Resident memory of a matched process tree above which the rule fires for that process. */
  rssAboveBytes?: number;
}

export interface TriggerRule {
  name: string;
  target: TriggerTarget;
  events: readonly TriggerEvent[];
  action: TriggerAction;
  policy: TriggerPolicy;
  /** Present exactly when the rule lists memory-pressure. */
  memory?: MemoryThresholds;
}

export interface TriggerRules {
  /** The file the rules came from. */
  source: string;
  rules: readonly TriggerRule[];
}

export const DEFAULT_FINAL_RESERVE_MS = 30_000;
/** Rule names become part of workflow ids and URLs. */
const RULE_NAME = /^[a-z0-9][a-z0-9_-]{0,47}$/;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A value from the file as a message shows it: strings quoted, anything else as JSON, long ones cut. */
function showValue(v: unknown): string {
  return typeof v === 'string' ? `"${shown(v, 80)}"` : shown(JSON.stringify(v) ?? 'missing', 80);
}

function invalid(file: string, problem: string): ConfigError {
  return new ConfigError(TRIGGERS_SETTING, `names ${shown(file)}, which ${problem}`);
}

function checkKeys(file: string, where: string, value: Json, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw invalid(file, `has an unknown key ${shown(key)} in ${where} (allowed: ${allowed.join(', ')})`);
  }
}

function wholeNumber(file: string, where: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(file, `has ${where} ${showValue(value)}, not a whole number from ${min} to ${max}`);
  }
  return value;
}

function parseTarget(file: string, where: string, value: unknown): TriggerTarget {
  if (!isObject(value)) throw invalid(file, `has ${where}.target that is not an object such as {"pidFile": "/run/app.pid"}`);
  checkKeys(file, `${where}.target`, value, ['pidFile', 'cmdline', 'cgroup']);
  const keys = Object.keys(value);
  if (keys.length !== 1) throw invalid(file, `has ${where}.target with ${keys.length} keys; give exactly one of pidFile, cmdline, cgroup`);
  const v = value[keys[0]!];
  if (typeof v !== 'string' || v === '' || v.length > 4096 || v.includes('\0')) throw invalid(file, `has ${where}.target.${keys[0]} that is not a non-empty string`);
  if (keys[0] === 'pidFile') {
    if (!path.isAbsolute(v)) throw invalid(file, `has ${where}.target.pidFile ${shown(v)}, not an absolute path`);
    return { kind: 'pid-file', pidFile: path.normalize(v) };
  }
  if (keys[0] === 'cgroup') {
    if (!v.startsWith('/') || v.split('/').includes('..')) throw invalid(file, `has ${where}.target.cgroup ${shown(v)}, not a cgroup path such as /system.slice/app.service`);
    return { kind: 'cgroup', cgroup: v.length > 1 ? v.replace(/\/+$/, '') : v };
  }
  let regex: RegExp;
  try {
    regex = new RegExp(v);
  } catch (err) {
    throw invalid(file, `has ${where}.target.cmdline ${shown(v)}, not a regular expression (${(err as Error).message})`);
  }
  return { kind: 'cmdline', pattern: v, regex };
}

function parseEvents(file: string, where: string, value: unknown): TriggerEvent[] {
  if (!Array.isArray(value) || value.length === 0) throw invalid(file, `has ${where}.events that is not a non-empty list of ${TRIGGER_EVENTS.join(', ')}`);
  const out: TriggerEvent[] = [];
  for (const [i, e] of value.entries()) {
    if (!TRIGGER_EVENTS.includes(e as TriggerEvent)) throw invalid(file, `has ${where}.events[${i}] ${showValue(e)}; events are ${TRIGGER_EVENTS.join(', ')}`);
    if (!out.includes(e as TriggerEvent)) out.push(e as TriggerEvent);
  }
  return out;
}

function parseAction(file: string, where: string, value: unknown): TriggerAction {
  if (!isObject(value)) throw invalid(file, `has ${where}.action that is not an object such as {"type": "checkpoint"}`);
  const type = value.type;
  if (type === 'checkpoint' || type === 'dump-now') {
    checkKeys(file, `${where}.action`, value, ['type']);
    return { type };
  }
  if (type === 'migrate') {
    checkKeys(file, `${where}.action`, value, ['type', 'to']);
    const problem = checkHostName(value.to);
    if (problem) throw invalid(file, `has ${where}.action.to that ${problem}`);
    return { type, to: value.to as string };
  }
  throw invalid(file, `has ${where}.action.type ${showValue(type)}; it is checkpoint, migrate or dump-now`);
}

function parsePolicy(file: string, where: string, value: unknown): TriggerPolicy {
  const policy: TriggerPolicy = { leaveRunning: false, finalReserveMs: DEFAULT_FINAL_RESERVE_MS };
  if (value === undefined) return policy;
  if (!isObject(value)) throw invalid(file, `has ${where}.policy that is not an object`);
  checkKeys(file, `${where}.policy`, value, ['preDumps', 'maxDowntimeMs', 'leaveRunning', 'finalReserveMs']);
  if (value.preDumps !== undefined) policy.preDumps = wholeNumber(file, `${where}.policy.preDumps`, value.preDumps, 0, 100);
  if (value.maxDowntimeMs !== undefined) policy.maxDowntimeMs = wholeNumber(file, `${where}.policy.maxDowntimeMs`, value.maxDowntimeMs, 1, 3_600_000);
  if (value.finalReserveMs !== undefined) policy.finalReserveMs = wholeNumber(file, `${where}.policy.finalReserveMs`, value.finalReserveMs, 0, 3_600_000);
  if (value.leaveRunning !== undefined) {
    if (typeof value.leaveRunning !== 'boolean') throw invalid(file, `has ${where}.policy.leaveRunning that is not true or false`);
    policy.leaveRunning = value.leaveRunning;
  }
  return policy;
}

function parseMemory(file: string, where: string, value: unknown): MemoryThresholds {
  if (!isObject(value)) throw invalid(file, `has ${where}.events with memory-pressure but no ${where}.memory such as {"rssAboveBytes": 1073741824} or {"psiAbove": 20}`);
  checkKeys(file, `${where}.memory`, value, ['psiAbove', 'psiFile', 'rssAboveBytes']);
  const m: MemoryThresholds = { psiFile: '/proc/pressure/memory' };
  if (value.psiAbove !== undefined) {
    if (typeof value.psiAbove !== 'number' || !(value.psiAbove >= 0 && value.psiAbove < 100)) throw invalid(file, `has ${where}.memory.psiAbove ${showValue(value.psiAbove)}, not a percentage from 0 to below 100`);
    m.psiAbove = value.psiAbove;
  }
  if (value.psiFile !== undefined) {
    if (typeof value.psiFile !== 'string' || !path.isAbsolute(value.psiFile)) throw invalid(file, `has ${where}.memory.psiFile ${showValue(value.psiFile)}, not an absolute path`);
    if (m.psiAbove === undefined) throw invalid(file, `has ${where}.memory.psiFile without psiAbove`);
    m.psiFile = path.normalize(value.psiFile);
  }
  if (value.rssAboveBytes !== undefined) m.rssAboveBytes = wholeNumber(file, `${where}.memory.rssAboveBytes`, value.rssAboveBytes, 4096, Number.MAX_SAFE_INTEGER);
  if (m.psiAbove === undefined && m.rssAboveBytes === undefined) throw invalid(file, `has ${where}.memory with no threshold; give psiAbove, rssAboveBytes or both`);
  return m;
}

function parseRule(file: string, i: number, value: unknown): TriggerRule {
  const where = `rules[${i}]`;
  if (!isObject(value)) throw invalid(file, `has ${where} that is not an object`);
  checkKeys(file, where, value, ['name', 'target', 'events', 'action', 'policy', 'memory']);
  if (typeof value.name !== 'string' || !RULE_NAME.test(value.name)) {
    throw invalid(file, `has ${where}.name ${showValue(value.name)}; a rule name is 1-48 chars of a-z 0-9 _ - (it becomes part of workflow ids)`);
  }
  const rule: TriggerRule = {
    name: value.name,
    target: parseTarget(file, where, value.target),
    events: parseEvents(file, where, value.events),
    action: parseAction(file, where, value.action),
    policy: parsePolicy(file, where, value.policy),
  };
  if (rule.events.includes('memory-pressure')) rule.memory = parseMemory(file, where, value.memory);
  else if (value.memory !== undefined) throw invalid(file, `has ${where}.memory but its events do not list memory-pressure`);
  if (rule.action.type === 'dump-now' && rule.policy.preDumps !== undefined) {
    throw invalid(file, `has ${where}.policy.preDumps with action dump-now, which starts nothing: the running checkpoint keeps its own policy`);
  }
  return rule;
}

/** The rules a file's text holds; ConfigError naming FERRY_TRIGGERS and the first problem. */
export function parseTriggerRules(text: string, file: string): TriggerRules {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw invalid(file, `is not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(doc)) throw invalid(file, 'does not hold a JSON object');
  checkKeys(file, 'the file', doc, ['version', 'rules']);
  if (doc.version !== 1) throw invalid(file, `has version ${showValue(doc.version)}; this ferry reads version 1`);
  if (!Array.isArray(doc.rules)) throw invalid(file, 'has no "rules" list');
  const rules = doc.rules.map((r, i) => parseRule(file, i, r));
  const names = new Set<string>();
  for (const r of rules) {
    if (names.has(r.name)) throw invalid(file, `has two rules named ${shown(r.name)}; names must be unique`);
    names.add(r.name);
  }
  return { source: file, rules };
}

/** Reads and validates the rules file (an absolute path, as FERRY_TRIGGERS gives it). */
export function loadTriggerRules(file: string): TriggerRules {
  let text: string;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw invalid(file, 'is not a regular file');
    if (st.size > MAX_RULES_BYTES) throw invalid(file, `is ${st.size} bytes, more than a rules file can sensibly be (${MAX_RULES_BYTES})`);
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw invalid(file, `cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseTriggerRules(text, file);
}

/** The rule named `name`, or a message listing the rules there are. */
export function findRule(rules: TriggerRules, name: string): TriggerRule | string {
  const rule = rules.rules.find((r) => r.name === name);
  if (rule) return rule;
  const known = rules.rules.map((r) => r.name);
  return `no trigger rule named ${shown(name)} in ${shown(rules.source)}${known.length ? ` (rules: ${known.join(', ')})` : ' (it has no rules)'}`;
}
