import type { FastifyInstance } from 'fastify';
import { stringArray } from '../../model/index.js';
import { loggableError } from '../../errors/index.js';
import type { VaultServices } from '../../services/index.js';
import { principalOf } from '../auth.js';
import { bearerAuth, errorResponses } from '../errors.js';

const rotationView = {
  type: ['object', 'null'],
  properties: {
    rotation_id: { type: 'string' },
    to_kek: { type: 'string' },
    from_keks: stringArray,
    started_at: { type: 'string' },
    started_by: { type: 'string' },
    keys_rewrapped: { type: 'integer' },
    secrets_rewrapped: { type: 'integer' },
    keys_remaining: { type: 'integer' },
    finished_at: { type: ['string', 'null'] },
  },
} as const;

const keyStatusView = {
  type: 'object',
  properties: {
    kek_id: { type: 'string' },
    keks_held: stringArray,
    aead: { type: 'string' },
    employees: { type: 'integer' },
    live_keys: { type: 'integer' },
    destroyed_keys: { type: 'integer' },
    live_keys_by_kek: { type: 'object', additionalProperties: { type: 'integer' } },
    month_keys_from: { type: 'string' },
    rotation: rotationView,
    rotating_here: { type: 'boolean' },
  },
} as const;

export function keyRoutes(services: VaultServices) {
  const { keys } = services;
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/v1/keys/status', {
      config: { roles: ['security-admin', 'auditor'] },
      schema: { tags: ['keys'], summary: 'KEKs held, data keys per KEK, month keys kept, and the rotation running or last run', security: bearerAuth, response: { 200: keyStatusView, ...errorResponses } },
      handler: async (request) => ({ ...(await keys.status(principalOf(request))), rotating_here: keys.rotating }),
    });

    app.post('/v1/keys/rotate', {
      config: { roles: ['security-admin'] },
      schema: {
        tags: ['keys'],
        summary: 'Rotate the KEK while the vault serves: 202 at once, the rotation runs on this instance (or resumes the one cut); follow it with GET /v1/keys/status',
        security: bearerAuth,
        response: { 202: keyStatusView, ...errorResponses },
      },
      handler: async (request, reply) => {
        keys.rotate(principalOf(request)).catch((err: unknown) => app.log.error({ alarm: 'kek_rotation_failed', error: loggableError(err) }, 'KEK rotation stopped; run it again to resume'));
        return reply.status(202).send({ ...(await keys.status(principalOf(request))), rotating_here: true });
      },
    });
  };
}
