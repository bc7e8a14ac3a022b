import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ROLES } from '../../auth/index.js';
import {
  DEFAULT_PAUSE_MINUTES,
  DOMAIN_RULE,
  MAX_LIST,
  MAX_PAUSE_MINUTES,
  MAX_RETENTION_DAYS,
  MAX_RULE_TEXT,
  MIN_PAUSE_MINUTES,
  PURPOSE,
  REGION_PATTERN,
  type CollectionEvent,
} from '../../collection/index.js';
import { idSchemas, plainText, stringArray } from '../../model/index.js';
import type { VaultServices } from '../../services/index.js';
import { principalOf } from '../auth.js';
import { bearerAuth, errorResponses } from '../errors.js';
import type { HttpMetrics } from '../metrics.js';

const ruleList = (items: object) => ({ type: 'array', maxItems: MAX_LIST, items }) as const;

const contextRulesSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    apps: ruleList(plainText(MAX_RULE_TEXT, 1)),
    domains: ruleList({ type: 'string', maxLength: 255, pattern: DOMAIN_RULE.source }),
    titles: ruleList(plainText(MAX_RULE_TEXT, 1)),
  },
} as const;

const contextRulesView = { type: 'object', properties: { apps: stringArray, domains: stringArray, titles: stringArray } } as const;

function kindTermsSchema() {
  return {
    type: 'object',
    required: ['purposes', 'retention_days'],
    additionalProperties: false,
    properties: {
      purposes: { type: 'array', minItems: 1, maxItems: MAX_LIST, items: { type: 'string', pattern: PURPOSE.source } },
      retention_days: { type: 'integer', minimum: 1, maximum: MAX_RETENTION_DAYS },
      excluded_contexts: contextRulesSchema,
      excluded_regions: ruleList({ type: 'string', pattern: REGION_PATTERN.source }),
    },
  } as const;
}

function manifestBodySchema(kinds: readonly string[]) {
  return {
    type: 'object',
    required: ['kinds'],
    additionalProperties: false,
    description: 'The whole manifest: per kind its purposes, retention and exclusions; exclusions for every kind; base_version refuses the write (409) unless it is the version in force',
    properties: {
      kinds: { type: 'object', additionalProperties: false, properties: Object.fromEntries(kinds.map((k) => [k, kindTermsSchema()])) },
      excluded_contexts: contextRulesSchema,
      base_version: { type: 'integer', minimum: 1, maximum: 2147483647 },
    },
  } as const;
}

const manifestView = {
  type: 'object',
  required: ['version', 'manifest', 'plain_language'],
  properties: {
    version: { type: 'integer' },
    created_at: { type: 'string' },
    created_by: { type: 'string' },
    manifest: {
      type: 'object',
      properties: {
        kinds: {
          type: 'object',
          additionalProperties: {
            type: 'object',
            properties: { purposes: stringArray, retention_days: { type: 'integer' }, excluded_contexts: contextRulesView, excluded_regions: stringArray },
          },
        },
        excluded_contexts: contextRulesView,
      },
    },
    plain_language: stringArray,
  },
} as const;

const employeeParams = { type: 'object', required: ['id'], properties: { id: idSchemas.employeeId } } as const;

const captureStateView = {
  type: 'object',
  properties: { employee_id: { type: 'string' }, paused: { type: 'boolean' }, opted_out: { type: 'boolean' }, paused_until: { type: ['string', 'null'] } },
} as const;

const scopeStatusView = {
  type: 'object',
  properties: {
    paused: { type: 'boolean' },
    since: { type: ['string', 'null'] },
    reason: { type: ['string', 'null'] },
    paused_by: { type: ['string', 'null'] },
    resume_requested_by: { type: ['string', 'null'] },
  },
} as const;

const programStatusView = { type: 'object', properties: { collection: scopeStatusView, exports: scopeStatusView, resumed: { type: 'boolean' } } } as const;

const programBody = {
  type: 'object',
  required: ['reason'],
  additionalProperties: false,
  properties: { reason: { type: 'string', minLength: 1, maxLength: 500, pattern: '^[^\\u0000-\\u001f\\u007f]*[^\\s\\u0000-\\u001f\\u007f][^\\u0000-\\u001f\\u007f]*$' }, scope: { type: 'string', enum: ['collection', 'exports'] } },
} as const;

const pauseBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { minutes: { type: 'integer', minimum: MIN_PAUSE_MINUTES, maximum: MAX_PAUSE_MINUTES, default: DEFAULT_PAUSE_MINUTES } },
} as const;

const eventStreamResponse = {
  description:
    'text/event-stream: one event per change (pause, resume, opt_out, opt_in, program_pause, program_resume, exports_freeze, exports_resume_requested, exports_resume, manifest), ' +
    'each with its id; a comment line every heartbeat; send Last-Event-ID to resume after the last event seen (a reset event when more than 1,000 behind)',
  content: { 'text/event-stream': { schema: { type: 'string' } } },
} as const;

/** One server-sent event: the change's id, its type, and its data as one JSON line. */
function sseFrame(e: CollectionEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify({ ...e.data, type: e.type, at: e.occurredAt.toISOString() })}\n\n`;
}

const LAST_EVENT_ID = /^\d{1,15}$/;
/** What an agent may leave unread on its event stream before it is disconnected. */
const MAX_UNREAD_BYTES = 1024 * 1024;

/** Operations whose body may be left out (fastify-swagger marks every declared body required). */
export const OPTIONAL_BODIES: ReadonlyArray<readonly [path: string, method: 'post']> = [['/v1/employees/{id}/pause', 'post']];

export function collectionRoutes(services: VaultServices, metrics: HttpMetrics) {
  const { collection } = services;
  return async (app: FastifyInstance): Promise<void> => {
    // Event streams never end by themselves: a shutting-down server ends them (agents reconnect elsewhere).
    const feeds = new Set<ServerResponse>();
    app.addHook('preClose', async () => {
      for (const raw of feeds) if (!raw.writableEnded) raw.end();
    });

    app.get('/v1/collection/manifest', {
      config: { roles: [...ROLES] },
      schema: { tags: ['collection'], summary: 'The collection manifest in force, and in plain language', security: bearerAuth, response: { 200: manifestView, ...errorResponses } },
      handler: async () => collection.manifest(),
    });

    app.put('/v1/collection/manifest', {
      config: { roles: ['privacy-officer'] },
      schema: {
        tags: ['collection'],
        summary: 'Store a new version of the collection manifest (audited with its diff)',
        security: bearerAuth,
        body: manifestBodySchema(services.settings.recordKinds),
        response: {
          200: {
            type: 'object',
            properties: {
              version: { type: 'integer' },
              unchanged: { type: 'boolean' },
              diff: {
                type: ['object', 'null'],
                properties: {
                  kinds_added: stringArray,
                  kinds_removed: stringArray,
                  kinds_changed: stringArray,
                  excluded_contexts_changed: { type: 'boolean' },
                  needs_fresh_consent: stringArray,
                },
              },
            },
          },
          ...errorResponses,
        },
      },
      handler: async (request) => {
        const result = await collection.putManifest(principalOf(request), request.body);
        if (!result.unchanged) metrics.collectionChanges.inc({ change: 'manifest' });
        return result;
      },
    });

    app.get('/v1/collection/status', {
      config: { roles: ['ingest-agent'] },
      schema: {
        tags: ['collection'],
        summary: 'Whether to capture for this employee now, which kinds and contexts, until when, and a 60 s signed capture permit',
        security: bearerAuth,
        querystring: { type: 'object', required: ['employee_id'], additionalProperties: false, properties: { employee_id: idSchemas.employeeId } },
        response: {
          200: {
            type: 'object',
            properties: {
              employee_id: { type: 'string' },
              capture: { type: 'boolean' },
              reason: { type: ['string', 'null'] },
              kinds: stringArray,
              excluded_contexts: contextRulesView,
              kind_exclusions: { type: 'object', additionalProperties: contextRulesView },
              until: { type: ['string', 'null'] },
              manifest_version: { type: 'integer' },
              permit: { type: ['string', 'null'] },
              permit_expires_at: { type: ['string', 'null'] },
              permit_key_id: { type: 'string' },
            },
          },
          ...errorResponses,
        },
      },
      handler: async (request) => collection.captureStatus(principalOf(request), (request.query as { employee_id: string }).employee_id),
    });

    app.get('/v1/collection/permit-keys', {
      config: { roles: [...ROLES] },
      schema: {
        tags: ['collection'],
        summary: 'The JWKS that capture permits are signed with',
        security: bearerAuth,
        response: { 200: { type: 'object', properties: { keys: { type: 'array', items: { type: 'object', additionalProperties: true } } } }, ...errorResponses },
      },
      handler: async () => collection.permitKeys(),
    });

    app.get('/v1/collection/events', {
      config: { roles: ['ingest-agent'] },
      schema: {
        tags: ['collection'],
        summary: 'Server-sent events: every pause, resume, opt-out and manifest version, within a second',
        security: bearerAuth,
        querystring: { type: 'object', additionalProperties: false, properties: { employee_id: idSchemas.employeeId } },
        headers: { type: 'object', properties: { 'last-event-id': { type: 'string', pattern: LAST_EVENT_ID.source } } },
        response: { 200: eventStreamResponse, ...errorResponses },
      },
      handler: async (request, reply) => {
        feeds.add(reply.raw);
        reply.raw.once('close', () => feeds.delete(reply.raw));
        return streamEvents(services, metrics, request, reply);
      },
    });

    app.get('/v1/program/status', {
      config: { roles: [...ROLES] },
      schema: { tags: ['collection'], summary: 'Whether collection or exports are paused, since when and why', security: bearerAuth, response: { 200: programStatusView, ...errorResponses } },
      handler: async () => collection.programStatus(),
    });

    for (const [path, act, summary] of [
      ['/v1/program/pause', 'pause', 'Kill switch: stop all collection ("collection", default) or freeze exports ("exports": no dataset granted, open streams cut)'],
      ['/v1/program/resume', 'resume', 'Resume collection, or request and (a second person) confirm resuming exports'],
    ] as const) {
      app.post(path, {
        config: { roles: ['security-admin', 'privacy-officer'] },
        schema: { tags: ['collection'], summary, security: bearerAuth, body: programBody, response: { 200: programStatusView, 202: programStatusView, ...errorResponses } },
        handler: async (request, reply) => {
          if (act === 'pause') {
            const status = await collection.pauseProgram(principalOf(request), request.body);
            metrics.collectionChanges.inc({ change: 'program_pause' });
            return status;
          }
          const status = await collection.resumeProgram(principalOf(request), request.body);
          if (status.resumed) metrics.collectionChanges.inc({ change: 'program_resume' });
          return reply.status(status.resumed ? 200 : 202).send(status);
        },
      });
    }

    app.post('/v1/employees/:id/pause', {
      config: { roles: ['employee', 'privacy-officer'] },
      schema: {
        tags: ['collection'],
        summary: `Pause this employee's capture for {minutes} (${MIN_PAUSE_MINUTES}-${MAX_PAUSE_MINUTES}, default ${DEFAULT_PAUSE_MINUTES}): records captured in the window are dropped whenever they arrive`,
        security: bearerAuth,
        params: employeeParams,
        body: pauseBody,
        response: { 200: captureStateView, ...errorResponses },
      },
      handler: async (request) => {
        const state = await collection.pauseEmployee(principalOf(request), (request.params as { id: string }).id, request.body ?? {});
        metrics.collectionChanges.inc({ change: 'employee_pause' });
        return state;
      },
    });

    app.delete('/v1/employees/:id/pause', {
      config: { roles: ['employee', 'privacy-officer'] },
      schema: { tags: ['collection'], summary: "End this employee's pause now", security: bearerAuth, params: employeeParams, response: { 200: captureStateView, ...errorResponses } },
      handler: async (request) => collection.endEmployeePause(principalOf(request), (request.params as { id: string }).id),
    });

    app.post('/v1/employees/:id/opt-out', {
      config: { roles: ['employee', 'privacy-officer'] },
      schema: { tags: ['collection'], summary: "Stop this employee's capture until they opt back in", security: bearerAuth, params: employeeParams, response: { 200: captureStateView, ...errorResponses } },
      handler: async (request) => {
        const state = await collection.optOut(principalOf(request), (request.params as { id: string }).id);
        metrics.collectionChanges.inc({ change: 'employee_opt_out' });
        return state;
      },
    });

    app.delete('/v1/employees/:id/opt-out', {
      config: { roles: ['employee', 'privacy-officer'] },
      schema: { tags: ['collection'], summary: 'Opt this employee back in', security: bearerAuth, params: employeeParams, response: { 200: captureStateView, ...errorResponses } },
      handler: async (request) => collection.optIn(principalOf(request), (request.params as { id: string }).id),
    });

    app.get('/v1/employees/:id/consent', {
      config: { roles: ['employee', 'privacy-officer'] },
      schema: {
        tags: ['collection'],
        summary: 'Which manifest version this employee consented to, when, and which kinds of the manifest in force need fresh consent',
        security: bearerAuth,
        params: employeeParams,
        response: {
          200: {
            type: 'object',
            properties: {
              employee_id: { type: 'string' },
              enrolled: { type: 'boolean' },
              consented_version: { type: ['integer', 'null'] },
              consented_at: { type: ['string', 'null'] },
              manifest_version: { type: 'integer' },
              kinds_consented: stringArray,
              kinds_needing_consent: stringArray,
              capture: captureStateView,
            },
          },
          ...errorResponses,
        },
      },
      handler: async (request) => collection.consent(principalOf(request), (request.params as { id: string }).id),
    });
  };
}

/**
 * The agents' change feed. Listens before it replays, so no change falls between the replay and
 * the live feed; each event is sent once, in id order, and only those of `employee_id` (plus the
 * program's and the manifest's) when the agent names one.
 */
async function streamEvents(services: VaultServices, metrics: HttpMetrics, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const { collection } = services;
  const principal = principalOf(request);
  const only = (request.query as { employee_id?: string }).employee_id;
  const header = request.headers['last-event-id'];
  let sent = typeof header === 'string' && LAST_EVENT_ID.test(header) ? Number(header) : collection.lastEventId;
  const live: CollectionEvent[] = [];
  let replaying = true;
  const raw = reply.raw;
  const write = (frame: string) => {
    if (raw.writableEnded || raw.destroyed) return;
    // An agent that stops reading is dropped, not buffered for: it reconnects with Last-Event-ID.
    if (raw.writableLength > MAX_UNREAD_BYTES) raw.destroy();
    else raw.write(frame);
  };
  const send = (e: CollectionEvent) => {
    if (e.id <= sent) return;
    sent = e.id;
    if (only === undefined || e.employeeId === null || e.employeeId === only) write(sseFrame(e));
  };
  const unsubscribe = collection.subscribe((events) => (replaying ? live.push(...events) : events.forEach(send)));
  let heartbeat: NodeJS.Timeout | undefined;
  let counted = false;
  const stop = () => {
    unsubscribe();
    clearInterval(heartbeat);
    if (counted) metrics.eventStreams.dec();
    counted = false;
  };
  try {
    const { backlog, resetTo } = await collection.eventFeed(principal, sent, only);
    reply.hijack();
    metrics.eventStreams.inc();
    counted = true;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    raw.write(`retry: 1000\n: connected\n\n`);
    heartbeat = setInterval(() => write(': heartbeat\n\n'), services.settings.sseHeartbeatMs);
    raw.once('close', stop);
    if (raw.destroyed) return stop();
    if (resetTo !== undefined) {
      // Too far behind, or an id that never was: start from now, and ask for the status again.
      sent = resetTo;
      write(`id: ${resetTo}\nevent: reset\ndata: ${JSON.stringify({ type: 'reset', reason: 'ask GET /v1/collection/status again: changes were missed' })}\n\n`);
    }
    backlog.forEach(send);
    replaying = false;
    live.forEach(send);
  } catch (err) {
    stop();
    if (reply.sent) raw.destroy();
    else throw err;
  }
}
