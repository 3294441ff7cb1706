/**
 * Dashboards, rules and scrape configs against a real Prometheus (Debian
 * package) scraping a real local cluster (NATS, Redis, 1 router, 2 gateways)
 * with live SDK clients and pushes:
 *  - promtool accepts every config and the rules file;
 *  - every metric a dashboard or rule names is exported by the code (real
 *    /metrics scrapes) or recorded by a rule, and docs/metrics.md documents
 *    exactly what is exported;
 *  - every dashboard query (variables substituted) and rule expression
 *    evaluates without error, dashboards show data with sensible values,
 *    Prometheus evaluates every rule healthily, a healthy cluster fires no
 *    availability alert, and a killed gateway or NATS server does.
 * Prometheus missing is a failure naming `bash tests/setup.sh`, never a skip.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { prometheusBinary, promtool, startPrometheus, type RunningPrometheus } from '../../infra/local/prometheus.js';
import { CLUSTER_API_KEY, CLUSTER_SECRET, startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { apiCall } from '../../infra/local/api-call.js';
import { mintToken } from '../../services/standalone/dev-token.js';
import { fleetClient, waitFor, type Recorded } from '../helpers/sdk-clients.js';
import { connect, mustConnect } from '../helpers/client.js';
import {
  RULES_FILE, allPanels, dashboards, promqlMetricNames, query, ruleGroups, samples, scalar, scrapeNames, substitute, until,
} from './promql.js';

const USERS = 6;
const PUSHES = 4;
/** One per scrape interval or so: the channel fan-out rates need increases seen by several scrapes. */
const CHANNEL_PUBLISHES = 3;
/** Wide enough to cover the whole test run: every rate has its samples. */
const RATE_WINDOW = '2m';
const ALL = { namespace: '.*', pod: '.*' };

describe('observability on a real Prometheus', () => {
  let cluster: Cluster | undefined;
  let prom: RunningPrometheus | undefined;
  const fleet: Recorded[] = [];
  let exported = new Set<string>();
  let families = new Map<string, string>();
  const recorded = new Set(ruleGroups().flatMap((g) => g.rules.flatMap((r) => (r.record ? [r.record] : []))));

  before(async () => {
    // Fails (never skips) with the setup hint when the Debian package is missing.
    prometheusBinary('prometheus');
    prometheusBinary('promtool');
    // Webhooks on (JetStream queue; the receiver address refuses connections), so their metrics are exported too.
    cluster = await startCluster({
      gateways: 2, routers: 1, jetstream: true,
      routerEnv: { LONGLINK_WEBHOOKS: JSON.stringify([{ name: 'obs', url: 'http://127.0.0.1:9/hooks', events: ['*'], secrets: ['whsec_' + Buffer.alloc(32, 7).toString('base64')] }]) },
    });
    const c = cluster;
    prom = await startPrometheus({
      targets: [
        { job: 'longlink-gateway', urls: c.gateways.map((g) => `${g.httpUrl}/metrics`) },
        { job: 'longlink-router', urls: [`${c.apiUrl}/metrics`] },
      ],
      rulesFiles: [RULES_FILE],
      intervalS: 1,
    });
    // Prometheus applies new targets after its discovery throttle (~5 s): the activity
    // below must come after its first scrape, or rates and quantiles over it stay empty.
    await until(prom.url, 'count(up == 1)', (s) => Number(s[0]?.value[1]) === 3, 'the first scrape of every target');
    // Channel traffic spread over several scrapes, so the fan-out rates (and the rule over them) have samples.
    const sub = await mustConnect(c.url, { token: await mintToken(CLUSTER_SECRET, 'obs-ch', { ttlSeconds: 600, channels: ['obs:room'] }), query: { channels: '1' } });
    await sub.until(() => sub.frames.find((f) => f.op === 'subscribed' && f.channel === 'obs:room'), 5_000, 'the obs:room subscription');
    for (let i = 0; i < CHANNEL_PUBLISHES; i++) {
      const r = await apiCall(c.apiUrl, CLUSTER_API_KEY, 'POST', '/v1/publish', { channel: 'obs:room', data: { i } });
      assert.equal(r.status, 200);
      await sub.frame('pub', i);
      await new Promise((res) => setTimeout(res, 1_200));
    }
    sub.close();
    await sub.closeEvent();
    for (let i = 0; i < USERS; i++) fleet.push(fleetClient(c, `obs${i}`));
    await waitFor(() => fleet.every((r) => r.client.state === 'connected'), 20_000, 'the fleet to connect');
    for (let n = 0; n < PUSHES; n++) {
      const r = await c.push(fleet.map((f) => f.user), { n });
      assert.equal(r.status, 200);
    }
    await waitFor(() => fleet.every((r) => r.seqs.length >= PUSHES), 15_000, 'every push to arrive');
    // A refused upgrade and a closed connection, so the by-reason series exist.
    const refused = await connect(c.url, { token: 'not-a-jwt' });
    assert.equal(refused.ok, false);
    const extra = await mustConnect(c.url, { token: await c.token('obs-extra') });
    await extra.frame('hello');
    extra.close();
    await extra.closeEvent();

    for (const url of [...c.gateways.map((g) => `${g.httpUrl}/metrics`), `${c.apiUrl}/metrics`]) {
      const s = await scrapeNames(url);
      for (const n of s.series) exported.add(n);
      for (const [k, v] of s.families) families.set(k, v);
    }
    exported = new Set([...exported, 'up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'ALERTS', 'ALERTS_FOR_STATE', ...recorded]);
    families = new Map([...families].filter(([k]) => k.startsWith('longlink_')));
    // Prometheus has scraped the state after all that, and evaluated the rules on it.
    await until(prom.url, 'sum(longlink_gateway_connections)', (s) => Number(s[0]?.value[1]) === USERS, `${USERS} live connections in Prometheus`);
    await until(prom.url, 'sum(longlink_gateway_pushes_delivered_total)', (s) => Number(s[0]?.value[1]) >= USERS * PUSHES, 'the pushes in Prometheus');
    await until(prom.url, 'count(pod:longlink_gateway_resident_memory_per_connection_bytes:ratio)', (s) => s.length > 0, 'the recording rules');
    await until(prom.url, 'count(pod:longlink_gateway_channel_fanout:ratio_5m)', (s) => s.length > 0, 'the channel fan-out rule');
    // Two closes: the channel subscriber's and the extra client's.
    await until(prom.url, 'sum(longlink_gateway_connections_closed_total)', (s) => Number(s[0]?.value[1]) >= 2, 'the extra client\'s close');
    await until(prom.url, 'min(count_over_time(up[1m]))', (s) => Number(s[0]?.value[1]) >= 4, 'a few scrapes of every target');
    // Series born late (the refused upgrade, the closes) need samples from a few scrapes before their rates show.
    for (const m of ['longlink_gateway_auth_failures_total', 'longlink_gateway_connections_closed_total']) {
      await until(prom.url, `min(count_over_time(${m}[1m]))`, (s) => Number(s[0]?.value[1]) >= 3, `a few scrapes of ${m}`);
    }
  });

  after(async () => {
    for (const r of fleet) r.client.close();
    await prom?.stop();
    await cluster?.stop();
  });

  it('promtool accepts the configs and the rules', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'longlink-promtool-'));
    try {
      const rules = promtool(['check', 'rules', RULES_FILE]);
      assert.equal(rules.status, 0, rules.output);
      for (const f of ['infra/prometheus/prometheus.local.yml', prom!.configFile]) {
        const r = promtool(['check', 'config', f]);
        assert.equal(r.status, 0, `${f}: ${r.output}`);
      }
      // Debian's Prometheus is built without Kubernetes discovery: check the rest of the
      // Kubernetes example with its discovery block swapped for static targets.
      const k8s = parseYaml(readFileSync('infra/prometheus/prometheus.kubernetes.yml', 'utf8')) as { rule_files: string[]; scrape_configs: Array<Record<string, unknown>> };
      assert.deepEqual(k8s.scrape_configs.map((s) => s.job_name), ['longlink-gateway', 'longlink-router']);
      for (const s of k8s.scrape_configs) {
        assert.deepEqual(s.kubernetes_sd_configs, [{ role: 'pod' }], `${String(s.job_name)}: pod discovery`);
        delete s.kubernetes_sd_configs;
        s.static_configs = [{ targets: ['10.0.0.1:8080'] }];
      }
      k8s.rule_files = [path.resolve(RULES_FILE)];
      writeFileSync(path.join(dir, 'k8s.yml'), toYaml(k8s));
      const r = promtool(['check', 'config', path.join(dir, 'k8s.yml')]);
      assert.equal(r.status, 0, `prometheus.kubernetes.yml: ${r.output}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the PromQL tokenizer finds metric names and nothing else', () => {
    assert.deepEqual(
      promqlMetricNames('sum by (le, pod) (rate(a_bucket{x="y", b=~"$z"}[5m])) / on (pod) group_left b offset 10m > 1e3 and bool c:d:ratio unless absent(e)').sort(),
      ['a_bucket', 'b', 'c:d:ratio', 'e'],
    );
  });

  it('dashboards and rules name only metrics the services export or the rules record', () => {
    const missing: string[] = [];
    for (const { file, dashboard } of dashboards()) {
      for (const p of allPanels(dashboard)) {
        for (const t of p.targets ?? []) {
          for (const n of promqlMetricNames(substitute(t.expr, ALL, RATE_WINDOW))) if (!exported.has(n)) missing.push(`${file} "${p.title}": ${n}`);
        }
      }
      for (const v of dashboard.templating.list) {
        const q = typeof v.query === 'string' ? v.query : v.query?.query;
        const m = q?.match(/^label_values\((\w+)/);
        if (m && !exported.has(m[1]!)) missing.push(`${file} variable ${v.name}: ${m[1]!}`);
      }
    }
    for (const g of ruleGroups()) {
      for (const r of g.rules) for (const n of promqlMetricNames(r.expr)) if (!exported.has(n)) missing.push(`${RULES_FILE} ${r.alert ?? r.record}: ${n}`);
    }
    assert.deepEqual(missing, [], 'metrics named but not exported');
  });

  it('docs/metrics.md documents exactly the exported longlink_* metrics', () => {
    const doc = readFileSync('docs/metrics.md', 'utf8').replace(/\b[a-z_]+:longlink_[a-z0-9_]+:[a-z0-9_]+/g, '');
    const named = new Set(doc.match(/\blonglink_[a-z0-9_]+/g) ?? []);
    const undocumented = [...families.keys()].filter((n) => !named.has(n));
    assert.deepEqual(undocumented, [], 'exported but not in docs/metrics.md');
    const stale = [...named].filter((n) => !families.has(n) && !exported.has(n) && !/_(bucket|sum|count)$/.test(n) && !n.endsWith('_'));
    assert.deepEqual(stale, [], 'in docs/metrics.md but not exported');
    for (const [name, type] of families) {
      if (type === 'counter') assert.match(name, /_total$/, `counter ${name} lacks _total`);
      assert.notEqual(type, 'summary', `${name}: use histograms, not summaries`);
    }
  });

  it('every dashboard query evaluates and shows data', async () => {
    const problems: string[] = [];
    for (const { file, dashboard } of dashboards()) {
      for (const p of allPanels(dashboard)) {
        if (p.type === 'row') continue;
        let series = 0;
        for (const t of p.targets ?? []) {
          const r = await query(prom!.url, substitute(t.expr, ALL, RATE_WINDOW));
          if (!r.ok) problems.push(`${file} "${p.title}" ${t.refId}: ${r.error}`);
          else series += r.samples.length;
        }
        if (series === 0) problems.push(`${file} "${p.title}": no data`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('dashboard values match the cluster', async () => {
    const dashboard = dashboards()[0]!.dashboard;
    const panel = (title: string): string[] => {
      const p = allPanels(dashboard).find((x) => x.title === title && x.type !== 'row');
      assert.ok(p, `no panel "${title}"`);
      return (p.targets ?? []).map((t) => substitute(t.expr, ALL, RATE_WINDOW));
    };
    const url = prom!.url;
    assert.equal(await scalar(url, panel('Live connections')[0]!), USERS);
    assert.equal(await scalar(url, panel('Gateways up')[0]!), 2);
    assert.equal(await scalar(url, panel('Gateways (directory)')[0]!), 2);
    const perPod = await samples(url, panel('Live connections per pod')[0]!);
    assert.equal(perPod.length, 2, 'one series per gateway');
    assert.equal(perPod.reduce((n, s) => n + Number(s.value[1]), 0), USERS);
    // One pod selected: only its connections.
    const pod = cluster!.gateways[0]!.httpUrl.replace('http://', '');
    const one = await scalar(url, substitute(dashboard.panels.find((x) => x.title === 'Live connections')!.targets![0]!.expr, { namespace: 'local', pod }, RATE_WINDOW));
    assert.equal(one, Number(perPod.find((s) => s.metric.pod === pod)?.value[1]));
    const mem = await scalar(url, panel('Memory per connection')[0]!);
    assert.ok(mem > 100_000 && mem < 1e9, `memory per connection ${mem} bytes`);
    for (const s of await samples(url, 'pod:longlink_gateway_resident_memory_per_connection_bytes:ratio')) {
      assert.ok(Number(s.value[1]) > 100_000, `recorded memory per connection ${s.value[1]}`);
    }
    const p99 = await scalar(url, panel('Push latency (router accept → socket write)')[1]!);
    assert.ok(p99 > 0 && p99 <= 5, `push p99 ${p99} s`);
    assert.ok(await scalar(url, panel('Pushes/s')[0]!) > 0);
    const fds = await samples(url, panel('Open files')[0]!);
    assert.equal(fds.length, 3, 'gateways and router');
    for (const s of fds) assert.ok(Number(s.value[1]) > 0 && Number(s.value[1]) < 0.8, `fd ratio ${s.value[1]}`);
    const reasons = await samples(url, panel('Closes by reason')[0]!);
    assert.ok(reasons.length > 0 && reasons.every((s) => /^[A-Z_]+$/.test(s.metric.reason ?? '')), JSON.stringify(reasons.map((s) => s.metric)));
    const auth = await samples(url, 'sum by (reason) (longlink_gateway_auth_failures_total)');
    assert.ok(auth.some((s) => s.metric.reason === 'LL_AUTH_INVALID_TOKEN'), JSON.stringify(auth));
    assert.equal(await scalar(url, 'min(longlink_nats_connected)'), 1);
    assert.equal(await scalar(url, 'min(longlink_router_redis_connected)'), 1);
    const heartbeats = await scalar(url, panel('Heartbeat rate')[0]!);
    assert.ok(heartbeats > 0, `heartbeat rate ${heartbeats}`);
  });

  it('every rule evaluates healthily; a healthy cluster fires no availability alert', async () => {
    const url = prom!.url;
    // Load-dependent alerts (event loop lag, latency, sweep time) are left out: a busy test box may trip them.
    const quiet = ['LonglinkGatewayDown', 'LonglinkRouterDown', 'LonglinkNatsDisconnected', 'LonglinkRedisDisconnected', 'LonglinkGatewayConnectionsDropped',
      'LonglinkGatewayDrainStuck', 'LonglinkGatewayNearCapacity', 'LonglinkPresenceLeaseExpired', 'LonglinkRouterStoreErrors'];
    for (const g of ruleGroups()) {
      for (const r of g.rules) {
        const res = await query(url, r.expr);
        assert.ok(res.ok, `${r.alert ?? r.record}: ${res.ok ? '' : res.error}`);
        if (r.record) assert.ok(res.samples.length > 0, `recording rule ${r.record} yields nothing`);
        if (r.alert && quiet.includes(r.alert)) assert.deepEqual(res.samples, [], `${r.alert} fires on a healthy cluster`);
      }
    }
    const rules = (await (await fetch(`${url}/api/v1/rules`)).json()) as { data: { groups: Array<{ name: string; rules: Array<{ name: string; health: string; lastError?: string }> }> } };
    const evaluated = rules.data.groups.flatMap((g) => g.rules);
    assert.equal(evaluated.length, ruleGroups().flatMap((g) => g.rules).length, 'Prometheus loaded every rule');
    for (const r of evaluated) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError ?? r.health}`);
    for (const r of ruleGroups().flatMap((g) => g.rules)) {
      if (!r.alert) continue;
      assert.ok(r.labels?.severity, `${r.alert}: severity label`);
      assert.ok(r.annotations?.summary && r.annotations.runbook && r.annotations.runbook_url, `${r.alert}: summary, runbook and runbook_url`);
      const anchor = r.annotations.runbook_url!.split('#')[1]!;
      assert.match(readFileSync('docs/observability.md', 'utf8'), new RegExp(`^#+ ${r.alert}$`, 'm'), `${r.alert}: no runbook section (#${anchor}) in docs/observability.md`);
    }
  });

  it('a killed gateway raises LonglinkGatewayDown, then its presence lease expires', async () => {
    const url = prom!.url;
    await cluster!.killGateway(1);
    const down = await until(url, 'ALERTS{alertname="LonglinkGatewayDown"}', (s) => s.length === 1, 'LonglinkGatewayDown pending');
    assert.equal(down[0]!.metric.pod, cluster!.gateways[1]!.httpUrl.replace('http://', ''));
    assert.equal(down[0]!.metric.alertstate, 'pending', 'for: 1m keeps it pending at first');
    await until(url, 'max(longlink_router_gateways{state="live"})', (s) => Number(s[0]?.value[1]) === 1, 'the lease of the dead gateway to expire');
    await until(url, 'sum(longlink_router_presence_lease_expiries_total)', (s) => Number(s[0]?.value[1]) >= 1, 'the lease expiry counted');
    await until(url, 'ALERTS{alertname="LonglinkPresenceLeaseExpired", alertstate="firing"}', (s) => s.length === 1, 'LonglinkPresenceLeaseExpired firing');
  });

  it('NATS going away raises LonglinkNatsDisconnected for the gateway and the router', async () => {
    const url = prom!.url;
    await cluster!.nats.kill(0);
    const alerts = await until(url, 'ALERTS{alertname="LonglinkNatsDisconnected"}', (s) => s.length === 2, 'LonglinkNatsDisconnected for the live gateway and the router');
    assert.deepEqual(alerts.map((s) => s.metric.job).sort(), ['longlink-gateway', 'longlink-router']);
    await until(url, 'sum(longlink_nats_disconnects_total)', (s) => Number(s[0]?.value[1]) >= 2, 'the disconnects counted');
  });
});
