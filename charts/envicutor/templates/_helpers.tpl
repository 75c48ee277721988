{{/* Chart name, overridable. */}}
{{- define "envicutor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name, at most 63 characters (DNS label). */}}
{{- define "envicutor.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "envicutor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of a component's objects: <fullname>-controller, <fullname>-agent (fullname cut to 44 so "-controller-metrics" fits 63). */}}
{{- define "envicutor.componentName" -}}
{{- printf "%s-%s" (include "envicutor.fullname" .root | trunc 44 | trimSuffix "-") .component }}
{{- end }}

{{/* Standard labels; pass (dict "root" $ "component" "controller"). */}}
{{- define "envicutor.labels" -}}
helm.sh/chart: {{ include "envicutor.chart" .root }}
{{ include "envicutor.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: envicutor
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels: stable across upgrades (Deployment/DaemonSet selectors are immutable). */}}
{{- define "envicutor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "envicutor.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/* ServiceAccount of a component; pass (dict "root" $ "component" "agent"). */}}
{{- define "envicutor.serviceAccountName" -}}
{{- $sa := (index .root.Values .component).serviceAccount }}
{{- if $sa.create }}
{{- default (include "envicutor.componentName" .) $sa.name }}
{{- else }}
{{- default "default" $sa.name }}
{{- end }}
{{- end }}

{{/* Image reference; pass (dict "image" .Values.x.image "root" $). The tag defaults to the appVersion; a digest wins. */}}
{{- define "envicutor.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag | toString) }}
{{- end }}
{{- end }}

{{/* Name of the leader-election Lease. */}}
{{- define "envicutor.leaseName" -}}
{{- default (include "envicutor.componentName" (dict "root" . "component" "controller")) .Values.controller.leaderElection.leaseName }}
{{- end }}
