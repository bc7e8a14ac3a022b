import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest, onSendHookHandler } from 'fastify';
import { ROLES, type Role } from '../../auth/index.js';
import { consoleAssetsDir } from '../../config/paths.js';
import type { RequestOrigin } from '../../console/index.js';
import { VaultError } from '../../errors/index.js';
import { EMPLOYEE_ID, plainText, TEAM_ID } from '../../model/index.js';
import type { VaultServices } from '../../services/index.js';
import { errorResponses } from '../errors.js';

/**
 * The console loads only its own scripts and styles, talks only to this vault, and cannot be
 * framed: an injected `<script>` or inline handler does not run, and no token leaves for another origin.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // A console build is replaced in place on upgrade; a cached module of the old one would mix with the new.
  'cache-control': 'no-store',
} as const;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

/** Path segments of letters, digits, `.`, `_`, `-`, none starting with a dot (so never `.`, `..` or a dotfile). */
const ASSET_PATH = /^(?:[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}\/){0,7}[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

const notFound = () => new VaultError('ERR_NOT_FOUND', 'no such route');

/**
 * The file under `root` that `relative` names, or undefined: the name must be a plain path of
 * known extension, and the file, symbolic links resolved, must still lie inside `root`.
 */
async function assetFile(root: string, relative: string): Promise<{ file: string; type: string } | undefined> {
  if (!ASSET_PATH.test(relative)) return undefined;
  const type = CONTENT_TYPES[path.extname(relative).toLowerCase()];
  if (!type) return undefined;
  try {
    const realRoot = await fs.realpath(root);
    const file = await fs.realpath(path.join(realRoot, relative));
    if (!file.startsWith(realRoot + path.sep)) return undefined;
    if (!(await fs.stat(file)).isFile()) return undefined;
    return { file, type };
  } catch {
    return undefined;
  }
}

/** Whether `url` (path and query, as sent) is the console's: `/console` or under `/console/`. */
function isConsolePath(url: string): boolean {
  const pathname = url.split('?', 1)[0]!;
  return pathname === '/console' || pathname.startsWith('/console/');
}

/**
 * Puts the console's headers on every answer under /console, whoever answers it: its routes, the
 * server's 404 and 405, an error. Registered on the server itself, where encapsulated hooks of the
 * console's routes would not reach those answers.
 */
export const consoleSecurityHeaders: onSendHookHandler = async (request, reply, payload) => {
  if (isConsolePath(request.url)) void reply.headers(SECURITY_HEADERS);
  return payload;
};

function originOf(request: FastifyRequest): RequestOrigin {
  const origin = request.headers.origin;
  return {
    remoteAddress: request.socket.remoteAddress ?? request.ip,
    host: request.headers.host,
    origin: typeof origin === 'string' ? origin : undefined,
    headerNames: Object.keys(request.headers),
  };
}

const devTokenBody = {
  type: 'object',
  additionalProperties: false,
  required: ['role', 'sub'],
  properties: {
    role: { type: 'string', enum: [...ROLES] },
    sub: { type: 'string', pattern: EMPLOYEE_ID.source },
    teams: { type: 'array', maxItems: 64, items: { type: 'string', pattern: TEAM_ID.source } },
    purpose: plainText(256, 1),
  },
} as const;

interface DevTokenBody {
  role: Role;
  sub: string;
  teams?: string[];
  purpose?: string;
}

/**
 * The web console: its page and assets from the build in dist/console, what the sign-in page
 * asks of the vault, and the development mint. None of these is in the OpenAPI document: they are
 * the console's, not the API's, and the mint exists only on a development vault.
 */
export function consoleRoutes(services: VaultServices, assetsDir = consoleAssetsDir()) {
  return async (app: FastifyInstance): Promise<void> => {

    const page = async (_request: FastifyRequest, reply: FastifyReply) => {
      const html = await fs.readFile(path.join(assetsDir, 'index.html')).catch(() => undefined);
      if (!html) throw new VaultError('ERR_NOT_FOUND', 'the console is not built on this vault (npm run build:console)');
      return reply.type('text/html; charset=utf-8').send(html);
    };
    const hidden = { hide: true, tags: ['console'] };
    app.get('/console', { config: { public: true }, schema: { ...hidden, summary: 'The web console' }, handler: page });
    app.get('/console/', { config: { public: true }, schema: { ...hidden, summary: 'The web console' }, handler: page });

    app.get('/console/assets/*', {
      config: { public: true },
      schema: { ...hidden, summary: "The console's scripts and styles" },
      handler: async (request, reply) => {
        const relative = (request.params as { '*'?: string })['*'] ?? '';
        const asset = await assetFile(assetsDir, relative);
        if (!asset) throw notFound();
        return reply.type(asset.type).send(await fs.readFile(asset.file));
      },
    });

    app.get('/console/config', {
      config: { public: true },
      schema: {
        ...hidden,
        summary: 'What the sign-in page offers: the development mint or not',
        response: { 200: { type: 'object', properties: { environment: { type: 'string' }, dev_token: { type: 'boolean' } } } },
      },
      handler: async (request) => ({
        environment: services.facts().env,
        dev_token: services.devTokens.offeredTo(originOf(request)),
      }),
    });

    // A vault that cannot mint has no such route; one that can answers 404 to a caller not at its machine.
    if (!services.devTokens.available) return;
    // Requests the mint refused before reading them: already tallied.
    const refusedAtTheDoor = new WeakSet<FastifyRequest>();
    app.post('/console/dev-token', {
      config: { public: true },
      // Before the body is read: a caller not offered the mint learns nothing from a validation error.
      onRequest: async (request) => {
        try {
          await services.devTokens.admit(originOf(request));
        } catch (err) {
          refusedAtTheDoor.add(request);
          throw err;
        }
      },
      // A body the mint cannot take (not JSON, against the schema, too large, a training job
      // without a purpose) is refused anonymously, which the error handler leaves to the tallies.
      onResponse: async (request, reply) => {
        if (refusedAtTheDoor.has(request) || reply.statusCode < 400 || reply.statusCode >= 500) return;
        services.devTokens.refuse(originOf(request), 'invalid_request');
      },
      schema: {
        ...hidden,
        summary: 'Development only, from loopback: a token signed with the development key',
        body: devTokenBody,
        response: { 200: { type: 'object', properties: { token: { type: 'string' }, expires_in: { type: 'integer' } } }, ...errorResponses },
      },
      handler: async (request) => {
        const body = request.body as DevTokenBody;
        return services.devTokens.mint(originOf(request), {
          role: body.role,
          sub: body.sub,
          ...(body.teams ? { teams: body.teams } : {}),
          ...(body.purpose !== undefined ? { purpose: body.purpose } : {}),
        });
      },
    });
  };
}
