{{/* The release's full name, at most 63 characters (a label value's limit). */}}
{{- define "rollgate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The labels that select the controller's pods. */}}
{{- define "rollgate.selectorLabels" -}}
app.kubernetes.io/name: rollgate-controller
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The labels of every object. */}}
{{- define "rollgate.labels" -}}
{{ include "rollgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The service account the controller runs as. */}}
{{- define "rollgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rollgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
A duration value checked: (list "path.of.value" value), whole numbers of
units such as 15s, 1m30s or 2h.
*/}}
{{- define "rollgate.duration" -}}
{{- $path := index . 0 -}}
{{- $value := index . 1 | toString -}}
{{- if not (regexMatch "^([0-9]+(ns|us|ms|s|m|h))+$" $value) -}}
{{- fail (printf "%s: expected a duration such as 15s or 1m, found %q" $path $value) -}}
{{- end -}}
{{- $value -}}
{{- end -}}
