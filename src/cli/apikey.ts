// `mammocad apikey`: API keys for the GraphQL API. `create` prints a new key once (the database
// keeps only its hash) and is how the first admin key is made; `list` and `revoke` manage them.
// Creating and revoking are recorded in the audit trail.

import { hostname } from 'node:os';
import { Option, type Command } from 'commander';
import { ROLES, type Role } from '../domain/index.js';
import { createApiKey } from '../graphql/auth.js';
import { withStore } from './context.js';
import { parseRole } from './options.js';
import { print } from './output.js';

export function registerApiKeyCommands(program: Command): Command {
  const apikey = program.command('apikey').description('API keys for the GraphQL API: create, list, revoke');
  apikey
    .command('create')
    .description('create a key and print it (shown once: the database keeps only a hash); the way to make the first admin key')
    .addOption(new Option('--role <role>', `one of ${ROLES.join(', ')}`).argParser(parseRole).makeOptionMandatory())
    .option('--name <name>', 'who or what uses the key', 'created on the command line')
    .option('--json', 'print JSON')
    .action(async (opts: { role: Role; name: string; json?: boolean }, cmd: Command) => {
      const actor = `cli:${hostname()}`;
      const { key, record } = await withStore(cmd, async (store) => {
        const created = await createApiKey(store, { name: opts.name, role: opts.role, createdBy: actor });
        await store.audit.record({ actor, action: 'apikey.created', target: `apikey:${created.record.prefix}`, details: { role: opts.role } });
        return created;
      });
      print(Boolean(opts.json), { key, prefix: record.prefix, role: record.role, name: record.name }, `${key}\n(role ${record.role}; store it now, it is not shown again; revoke with: mammocad apikey revoke ${record.prefix})`);
    });
  apikey
    .command('list')
    .description('list keys (prefix, name, role, last use, revoked)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const keys = await withStore(cmd, (store) => store.apiKeys.list());
      const shown = keys.map(({ secretHash: _hidden, id: _id, ...rest }) => rest);
      print(Boolean(opts.json), shown, shown.map((k) => `${k.prefix}  ${k.role.padEnd(9)} ${k.name}${k.revokedAt ? '  (revoked)' : ''}`).join('\n') || 'no API keys');
    });
  apikey
    .command('revoke')
    .description('revoke a key at once')
    .argument('<prefix>', 'the key prefix, e.g. mk_3f9a12bc')
    .option('--json', 'print JSON')
    .action(async (prefix: string, opts: { json?: boolean }, cmd: Command) => {
      const key = await withStore(cmd, async (store) => {
        const revoked = await store.apiKeys.revoke(prefix);
        await store.audit.record({ actor: `cli:${hostname()}`, action: 'apikey.revoked', target: `apikey:${prefix}` });
        return revoked;
      });
      print(Boolean(opts.json), { prefix: key.prefix, revokedAt: key.revokedAt }, `revoked ${key.prefix}`);
    });
  return apikey;
}
