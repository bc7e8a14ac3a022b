export { buildHttpServer, type HttpServerOptions } from './server.js';
export { HTTP_STATUS } from './errors.js';
