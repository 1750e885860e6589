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
