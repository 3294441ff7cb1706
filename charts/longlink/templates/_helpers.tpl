{{/* Names */}}
{{- define "longlink.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
A generated object name: "<base><suffix>" when it fits Kubernetes' 63 characters; else <base> cut to
leave room, "-", 8 hex characters of the whole name's SHA-256, then <suffix> whole. A plain cut to 63
made two names alike once it took their differing ends away ("-gateway" and "-router" of a release
name of 53 characters); the hash of the whole name keeps them apart, and the suffix still says what
the object is. Names that fit are unchanged. Call with (dict "base" ... "suffix" "-gateway").
*/}}
{{- define "longlink.objectName" -}}
{{- $whole := printf "%s%s" .base .suffix | trimSuffix "-" }}
{{- if le (len $whole) 63 }}
{{- $whole }}
{{- else }}
{{- printf "%s-%s%s" (.base | trunc (int (sub 54 (len .suffix))) | trimSuffix "-") ($whole | sha256sum | trunc 8) .suffix }}
{{- end }}
{{- end }}

{{/*
The release's name for its objects before any cut (objectName cuts it with its suffix). A trailing "-"
(a fullnameOverride or nameOverride ending in one) is dropped, as earlier releases of the chart did
before adding the suffix: "foo-" names "foo-gateway", not "foo--gateway" (an upgrade renames nothing).
*/}}
{{- define "longlink.wholeName" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* A component's object name: call with (dict "ctx" $ "suffix" "-gateway"). */}}
{{- define "longlink.nameWith" -}}
{{- include "longlink.objectName" (dict "base" (include "longlink.wholeName" .ctx) "suffix" .suffix) }}
{{- end }}

{{- define "longlink.fullname" -}}
{{- include "longlink.nameWith" (dict "ctx" . "suffix" "") }}
{{- end }}

{{- define "longlink.gateway.fullname" -}}
{{- include "longlink.nameWith" (dict "ctx" . "suffix" "-gateway") }}
{{- end }}

{{- define "longlink.router.fullname" -}}
{{- include "longlink.nameWith" (dict "ctx" . "suffix" "-router") }}
{{- end }}

{{- define "longlink.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels */}}
{{- define "longlink.labels" -}}
helm.sh/chart: {{ include "longlink.chart" . }}
{{ include "longlink.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: longlink
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "longlink.selectorLabels" -}}
app.kubernetes.io/name: {{ include "longlink.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Component labels: call with (dict "ctx" $ "component" "gateway") */}}
{{- define "longlink.componentLabels" -}}
{{ include "longlink.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "longlink.componentSelectorLabels" -}}
{{ include "longlink.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "longlink.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "longlink.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "longlink.secretName" -}}
{{- default (include "longlink.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{- define "longlink.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* monitoring.coreos.com objects render when the API exists or monitoring.force is set. */}}
{{- define "longlink.monitoringApi" -}}
{{- if or .Values.monitoring.force (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") }}true{{ end }}
{{- end }}

{{/* Grace periods: explicit values are checked, empty ones are computed. */}}
{{- define "longlink.gateway.grace" -}}
{{- $d := .Values.gateway.drain }}
{{- $min := add $d.preStopSleepSeconds (div (add $d.windowMs 999) 1000) }}
{{- $computed := add $d.preStopSleepSeconds (div (add $d.shutdownTimeoutMs 999) 1000) 5 }}
{{- $g := .Values.gateway.terminationGracePeriodSeconds | default $computed | int }}
{{- if lt $g (int $min) }}
{{- fail (printf "gateway.terminationGracePeriodSeconds (%d) must be >= drain.preStopSleepSeconds + drain.windowMs/1000 (%d), or the kubelet kills gateways mid-drain" $g (int $min)) }}
{{- end }}
{{- $g }}
{{- end }}

{{- define "longlink.router.grace" -}}
{{- $computed := add .Values.router.preStopSleepSeconds (div (add .Values.router.shutdownTimeoutMs 999) 1000) 5 }}
{{- .Values.router.terminationGracePeriodSeconds | default $computed | int }}
{{- end }}

{{/* Checks of values the services would reject at start-up: fail at render time instead of in CrashLoopBackOff. */}}
{{- define "longlink.validate" -}}
{{- /* extraEnv lands in a ConfigMap (plain text, readable with ConfigMap access, shown by kubectl describe): credentials go through the Secret only.
     The list is every variable the services mark secret (tests/chart/secret-env.test.ts derives it from their config specs), and the
     OpenTelemetry SDK's header variables (a collector's auth token rides in them). */}}
{{- $secretVars := list "LONGLINK_JWT_SECRET" "LONGLINK_API_KEYS" "LONGLINK_CONSOLE_TOKEN" "LONGLINK_REDIS_URL" "LONGLINK_REDIS_CLUSTER_NODES" "LONGLINK_WEBHOOKS" "OTEL_EXPORTER_OTLP_HEADERS" "OTEL_EXPORTER_OTLP_TRACES_HEADERS" }}
{{- range $where, $env := dict "gateway.extraEnv" .Values.gateway.extraEnv "router.extraEnv" .Values.router.extraEnv "tracing.extraEnv" .Values.tracing.extraEnv }}
{{- range $k, $_ := $env }}
{{- if has $k $secretVars }}
{{- fail (printf "%s.%s: a credential would land in a ConfigMap in plain text; use the Secret (auth.*, redis.url, redis.clusterNodes, tracing.otlpHeaders, router.console.token, router.webhooks.existingSecret, or auth.existingSecret)" $where $k) }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq (int .Values.gateway.metricsPort) (int .Values.gateway.port) }}
{{- fail "gateway.metricsPort must differ from gateway.port (/metrics stays off the public WebSocket port)" }}
{{- end }}
{{- $d := .Values.gateway.drain }}
{{- if le (int $d.shutdownTimeoutMs) (int $d.windowMs) }}
{{- fail "gateway.drain.shutdownTimeoutMs must exceed gateway.drain.windowMs (LONGLINK_SHUTDOWN_TIMEOUT_MS > LONGLINK_DRAIN_WINDOW_MS)" }}
{{- end }}
{{- $hb := .Values.gateway.heartbeat }}
{{- if or (gt (int $hb.minMs) (int $hb.maxMs)) (lt (int $hb.defaultMs) (int $hb.minMs)) (gt (int $hb.defaultMs) (int $hb.maxMs)) }}
{{- fail "gateway.heartbeat: need minMs <= defaultMs <= maxMs" }}
{{- end }}
{{- if gt (mul 3 (int .Values.gateway.sessionStartTargetMs)) (int .Values.gateway.resumeTimeoutMs) }}
{{- fail "gateway.sessionStartTargetMs must be at most a third of gateway.resumeTimeoutMs (LONGLINK_SESSION_START_TARGET_MS, LONGLINK_RESUME_TIMEOUT_MS)" }}
{{- end }}
{{- $mode := .Values.auth.jwt.mode }}
{{- if not .Values.auth.existingSecret }}
{{- if and (eq $mode "publicKey") (not .Values.auth.jwt.publicKey) }}
{{- fail "auth.jwt.mode=publicKey needs auth.jwt.publicKey (or auth.existingSecret)" }}
{{- end }}
{{- if and .Values.auth.jwt.secret (lt (len .Values.auth.jwt.secret) 32) }}
{{- fail "auth.jwt.secret must be at least 32 characters" }}
{{- end }}
{{- range .Values.auth.apiKeys }}
{{- if lt (len .) 16 }}
{{- fail "auth.apiKeys: every key must be at least 16 characters" }}
{{- end }}
{{- end }}
{{- with .Values.router.console.token }}
{{- if lt (len .) 24 }}
{{- fail "router.console.token must be at least 24 characters" }}
{{- end }}
{{- if has . $.Values.auth.apiKeys }}
{{- fail "router.console.token must differ from every auth.apiKeys key" }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (eq $mode "jwks") (not .Values.auth.jwt.jwksUrl) }}
{{- fail "auth.jwt.mode=jwks needs auth.jwt.jwksUrl" }}
{{- end }}
{{- if and .Values.gateway.ingress.enabled (le (int .Values.gateway.ingress.timeoutSeconds) (div (add (div (mul $hb.maxMs 3) 2) $hb.graceMs) 1000)) }}
{{- fail "gateway.ingress.timeoutSeconds must exceed the longest heartbeat deadline (heartbeat.maxMs x 1.5 + graceMs), or the proxy cuts idle clients" }}
{{- end }}
{{- end }}

{{/*
Checksum of what the pods read from the Secret, over the values that feed it
(generated credentials are kept across upgrades, so they never change it).
With an existing Secret the chart cannot see its content: rotate by changing
its name or restarting the deployments.
*/}}
{{- define "longlink.secretChecksum" -}}
{{- $in := dict "existing" .Values.auth.existingSecret "keys" .Values.auth.secretKeys "jwt" .Values.auth.jwt "apiKeys" .Values.auth.apiKeys "redis" .Values.redis.url "console" .Values.router.console }}
{{- /* Only when set: the checksum of a release without them stays as it was (no restart on upgrade). */}}
{{- with .Values.redis.clusterNodes }}{{ $_ := set $in "redisClusterNodes" . }}{{ end }}
{{- with .Values.tracing.otlpHeaders }}{{ $_ := set $in "otlpHeaders" . }}{{ end }}
{{- toJson $in | sha256sum }}
{{- end }}

{{/*
An optional credential from the Secret, as an env entry: with the chart's Secret only when its value
is set; with auth.existingSecret always, optional (the variable stays unset when that Secret lacks
the key). Call with (dict "ctx" $ "name" "OTEL_EXPORTER_OTLP_HEADERS" "key" "otlp-headers" "set" value).
*/}}
{{- define "longlink.secretEnv" -}}
{{- if or .set .ctx.Values.auth.existingSecret }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "longlink.secretName" .ctx }}
      key: {{ .key }}
      {{- if .ctx.Values.auth.existingSecret }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}

{{/* The pod-level and container-level bits both deployments share. */}}
{{- define "longlink.podCommon" -}}
serviceAccountName: {{ include "longlink.serviceAccountName" .ctx }}
automountServiceAccountToken: false
{{- /* Service links would inject LONGLINK_GATEWAY_PORT=tcp://... for a Service named longlink-gateway. */}}
enableServiceLinks: false
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .values.topologySpread.enabled }}
topologySpreadConstraints:
  - maxSkew: {{ dig "zone" "maxSkew" 1 .values.topologySpread }}
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: {{ dig "zone" "whenUnsatisfiable" "ScheduleAnyway" .values.topologySpread }}
    labelSelector:
      matchLabels:
        {{- include "longlink.componentSelectorLabels" (dict "ctx" .ctx "component" .component) | nindent 8 }}
    matchLabelKeys: [pod-template-hash]
  - maxSkew: {{ dig "node" "maxSkew" 1 .values.topologySpread }}
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: {{ dig "node" "whenUnsatisfiable" "ScheduleAnyway" .values.topologySpread }}
    labelSelector:
      matchLabels:
        {{- include "longlink.componentSelectorLabels" (dict "ctx" .ctx "component" .component) | nindent 8 }}
    matchLabelKeys: [pod-template-hash]
{{- end }}
{{- end }}

{{/* Probes on the named port: call with (dict "p" .Values.x.probes "port" "http") */}}
{{- define "longlink.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: {{ .port }}}
  periodSeconds: {{ .p.startup.periodSeconds }}
  failureThreshold: {{ .p.startup.failureThreshold }}
  timeoutSeconds: {{ .p.startup.timeoutSeconds }}
readinessProbe:
  httpGet: {path: /readyz, port: {{ .port }}}
  periodSeconds: {{ .p.readiness.periodSeconds }}
  failureThreshold: {{ .p.readiness.failureThreshold }}
  timeoutSeconds: {{ .p.readiness.timeoutSeconds }}
livenessProbe:
  httpGet: {path: /healthz, port: {{ .port }}}
  periodSeconds: {{ .p.liveness.periodSeconds }}
  failureThreshold: {{ .p.liveness.failureThreshold }}
  timeoutSeconds: {{ .p.liveness.timeoutSeconds }}
{{- end }}

{{/* An env value from YAML as a quoted string; whole numbers never in exponent form (6.048e+08). */}}
{{- define "longlink.envValue" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) }}{{ int64 . | toString | quote }}{{ else }}{{ toString . | quote }}{{ end }}
{{- end }}

{{/* Egress both services need: DNS, NATS, optional OTLP, extra rules. */}}
{{- define "longlink.egressCommon" -}}
{{- $e := .Values.networkPolicy.egress }}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ $e.dns.namespace }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
- to:
    {{- toYaml $e.nats.to | nindent 4 }}
  ports:
    - port: {{ $e.nats.port }}
      protocol: TCP
{{- if $e.otlp.enabled }}
- ports:
    {{- range $e.otlp.ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
  {{- with $e.otlp.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- with $e.extra }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* OpenTelemetry: the services read the SDK's standard OTEL_* variables (services/shared/tracing.ts). */}}
{{- define "longlink.tracingEnv" -}}
{{- with .Values.tracing.otlpEndpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ . | quote }}
{{- end }}
{{- range $k, $v := .Values.tracing.extraEnv }}
{{ $k }}: {{ include "longlink.envValue" $v }}
{{- end }}
{{- end }}
