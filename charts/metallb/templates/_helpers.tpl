{{- define "metallb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "metallb.labels" -}}
app.kubernetes.io/name: {{ include "metallb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}


{{- /*
A generated multi-document manifest (.text) with .annotations set on its ServiceAccount;
the other documents are left as they are. Without annotations, the text unchanged.
*/ -}}
{{- define "metallb.annotateServiceAccount" -}}
{{- if not .annotations -}}
{{- .text -}}
{{- else -}}
{{- $out := list -}}
{{- range $doc := splitList "\n---\n" .text -}}
{{- $obj := fromYaml $doc -}}
{{- if eq (get $obj "kind") "ServiceAccount" -}}
{{- $_ := set $obj.metadata "annotations" $.annotations -}}
{{- $out = append $out (toYaml $obj) -}}
{{- else -}}
{{- $out = append $out $doc -}}
{{- end -}}
{{- end -}}
{{- join "\n---\n" $out -}}
{{- end -}}
{{- end -}}

{{- /* An httpGet probe from upstream-shaped values (.probe); .host, .path, .port. */ -}}
{{- define "metallb.probe" -}}
httpGet:
  {{- with .host }}
  host: {{ . }}
  {{- end }}
  path: {{ .path }}
  port: {{ .probe.port | default 17472 | int }}
initialDelaySeconds: {{ .probe.initialDelaySeconds | int }}
periodSeconds: {{ .probe.periodSeconds | int }}
timeoutSeconds: {{ .probe.timeoutSeconds | default 1 | int }}
successThreshold: {{ .probe.successThreshold | default 1 | int }}
failureThreshold: {{ .probe.failureThreshold | default 3 | int }}
{{- end -}}

{{- /* tls.minVersion, checked against what the binaries accept. */ -}}
{{- define "metallb.tlsMinVersion" -}}
{{- if not (has . (list "VersionTLS12" "VersionTLS13")) -}}
{{- fail (printf "tls.minVersion must be VersionTLS12 or VersionTLS13, not %q" .) -}}
{{- end -}}
{{- . -}}
{{- end -}}


{{- /*
frr-k8s mode (upstream's frrk8s.* values): on with frrk8s.enabled (frr-k8s in the
release's namespace, installed beside MetalLB) or frrk8s.external (frr-k8s installed
elsewhere, in frrk8s.namespace). metallb-py bundles no frr-k8s chart.
*/ -}}
{{- define "metallb.frrk8s" -}}
{{- if and .Values.frrk8s.enabled .Values.frrk8s.external -}}
{{- fail "frrk8s.enabled frrk8s.external are mutually exclusive!" -}}
{{- end -}}
{{- if and (or .Values.frrk8s.enabled .Values.frrk8s.external) .Values.speaker.frr.enabled -}}
{{- fail "speaker.frr.enabled and frrk8s.enabled / external are mutually exclusive!" -}}
{{- end -}}
{{- if or .Values.frrk8s.enabled .Values.frrk8s.external }}true{{ end -}}
{{- end -}}

{{- define "metallb.frrk8sNamespace" -}}
{{- if .Values.frrk8s.external -}}
{{- required "namespace is required when frrk8s is external" .Values.frrk8s.namespace -}}
{{- else -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{- define "metallb.bgpType" -}}
{{- if include "metallb.frrk8s" . }}frr-k8s{{ else if .Values.speaker.frr.enabled }}frr{{ end -}}
{{- end -}}


{{- /*
The release's base name for objects upstream's chart names after it (monitoring, RBAC for
Prometheus): fullnameOverride, else the release name when it already holds the chart's
name, else "<release>-<name>". The workloads and their RBAC keep deploy/'s fixed names.
*/ -}}
{{- define "metallb.fullname" -}}
{{- $name := include "metallb.name" . -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- /* The labels a component's Pods carry for monitors and policies to select (.ctx, .component). */ -}}
{{- define "metallb.componentSelector" -}}
app.kubernetes.io/name: {{ include "metallb.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- /*
The metrics flags and TLS flags both components take from the tls.* values
(.ctx, .secret: the component's *MetricsTLSSecret). The binaries refuse unknown cipher
suite or curve names at start-up, naming the flag.
*/ -}}
{{- define "metallb.tlsArgs" -}}
{{- $tls := .ctx.Values.tls | default dict -}}
{{- with $tls.cipherSuites }}
- --tls-cipher-suites={{ . }}
{{- end }}
{{- with $tls.curvePreferences }}
- --tls-curve-preferences={{ . }}
{{- end }}
{{- with $tls.minVersion }}
- --tls-min-version={{ include "metallb.tlsMinVersion" . }}
{{- end }}
{{- if .secret }}
- --metrics-cert-dir=/etc/metrics
{{- end }}
{{- end -}}

{{- /* Mount and volume of a component's metrics certificate Secret (.secret), at --metrics-cert-dir. */ -}}
{{- define "metallb.metricsCertMount" -}}
{{- if .secret }}
- {name: metrics-certs, mountPath: /etc/metrics, readOnly: true}
{{- end }}
{{- end -}}
{{- define "metallb.metricsCertVolume" -}}
{{- if .secret }}
- name: metrics-certs
  secret: {secretName: {{ .secret | quote }}}
{{- end }}
{{- end -}}

{{- /*
Which Prometheus Operator monitor is on: "service", "pod" or "" (both on fails, as
upstream's chart does).
*/ -}}
{{- define "metallb.monitor" -}}
{{- $p := .Values.prometheus -}}
{{- if and $p.serviceMonitor.enabled $p.podMonitor.enabled -}}
{{- fail "prometheus.serviceMonitor.enabled and prometheus.podMonitor.enabled cannot both be set" -}}
{{- end -}}
{{- if $p.serviceMonitor.enabled }}service{{ else if $p.podMonitor.enabled }}pod{{ end -}}
{{- end -}}

{{- /*
The RBAC subject of the Prometheus that scrapes, from prometheus.serviceAccount and
prometheus.namespace; rendering fails naming the missing value.
*/ -}}
{{- define "metallb.prometheusSubject" -}}
{{- $monitor := printf "prometheus.%sMonitor.enabled" (include "metallb.monitor" .) -}}
{{- $why := printf "is required when prometheus.rbacPrometheus and %s are true" $monitor -}}
- kind: ServiceAccount
  name: {{ required (printf "prometheus.serviceAccount (the ServiceAccount Prometheus runs as) %s" $why) .Values.prometheus.serviceAccount | quote }}
  namespace: {{ required (printf "prometheus.namespace (where Prometheus runs) %s" $why) .Values.prometheus.namespace | quote }}
{{- end -}}
