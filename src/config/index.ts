export { configSchema, ENVIRONMENT_KEYS, SECRET_KEYS, type Config } from './config.schema.js';
export { loadConfig, redactConfig, PROJECT_ROOT, type LoadedConfig, type LoadOptions } from './load-config.js';
export { createLogger, type Logger } from './logger.js';
