/**
 * One entry point for the container image: `node dist/services/entry.js <role>`
 * with role gateway, router or standalone. Each role's main.ts is its own
 * composition root; this only picks one.
 */
const roles = { gateway: './gateway/main.js', router: './router/main.js', standalone: './standalone/main.js' } as const;
const role = process.argv[2];
if (role === undefined || !(role in roles)) {
  console.error(`usage: entry.js <${Object.keys(roles).join('|')}> [--help]`);
  process.exit(2);
}
process.argv.splice(2, 1);
await import(roles[role as keyof typeof roles]);
