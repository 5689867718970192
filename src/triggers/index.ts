/**
 * Event-driven checkpoints: trigger rules (rules.ts), what they match (match.ts), one workflow per
 * event (event-ids.ts, fire.ts), the event sources (request-server.ts; the worker's own stop), and
 * the service `ferry worker` runs (service.ts). See docs/triggers.md.
 */
export * from './rules';
export * from './match';
export * from './event-ids';
export * from './fire';
export * from './request-server';
export * from './preemption';
export * from './memory-pressure';
export * from './service';
