{{/* The chart's name, or nameOverride. */}}
{{- define "storage-auditor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name: fullnameOverride, or the release name (with the chart
name unless the release name already holds it). Truncated so that "<fullname>-state"
and the CronJob's Job names stay within their limits (a CronJob's name may be at most 52
characters: its Jobs append 11).
*/}}
{{- define "storage-auditor.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 46 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 46 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 46 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* chart label value: name-version. */}}
{{- define "storage-auditor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "storage-auditor.labels" -}}
helm.sh/chart: {{ include "storage-auditor.chart" . }}
{{ include "storage-auditor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the auditor's pods (immutable in a Deployment's selector). */}}
{{- define "storage-auditor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "storage-auditor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the auditor runs as. */}}
{{- define "storage-auditor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "storage-auditor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The state ConfigMap's name. */}}
{{- define "storage-auditor.stateConfigMap" -}}
{{- printf "%s-state" (include "storage-auditor.fullname" .) }}
{{- end }}

{{/* The Secret holding the Slack webhook URL or bot token. */}}
{{- define "storage-auditor.slackSecret" -}}
{{- default (printf "%s-slack" (include "storage-auditor.fullname" .)) .Values.slack.existingSecret }}
{{- end }}

{{/* Whether the Slack digest goes through a bot token (a channel is set). */}}
{{- define "storage-auditor.slackBot" -}}
{{- if .Values.slack.channel }}true{{ end }}
{{- end }}

{{/*
validate stops a release whose values contradict each other, with what to change.
The schema catches typos; these need more than one value.
*/}}
{{- define "storage-auditor.validate" -}}
{{- $v := .Values }}
{{- if and (gt (len $v.fix.allow) 0) (not $v.fix.enabled) }}
{{- fail "fix.allow is set but fix.enabled is false: set fix.enabled: true to apply fixes, or remove fix.allow" }}
{{- end }}
{{- if and $v.serviceMonitor.enabled (ne $v.mode "deployment") }}
{{- fail "serviceMonitor.enabled needs mode: deployment: only auditor serve exposes /metrics" }}
{{- end }}
{{- if $v.slack.enabled }}
{{- if and $v.slack.existingSecret (or $v.slack.webhookURL $v.slack.botToken) }}
{{- fail "slack: set slack.existingSecret or slack.webhookURL/slack.botToken, not both (the chart creates a Secret only without existingSecret)" }}
{{- end }}
{{- if and (not $v.slack.existingSecret) $v.slack.channel (not $v.slack.botToken) }}
{{- fail "slack.channel posts with a bot token: set slack.botToken, or slack.existingSecret with the token under slack.botTokenKey" }}
{{- end }}
{{- if and (not $v.slack.existingSecret) (not $v.slack.channel) (not $v.slack.webhookURL) }}
{{- fail "slack.enabled needs a destination: slack.existingSecret (a Secret with the webhook URL or bot token), slack.webhookURL, or slack.channel with slack.botToken" }}
{{- end }}
{{- if and (not $v.slack.existingSecret) $v.slack.webhookURL $v.slack.channel }}
{{- fail "slack: slack.webhookURL and slack.channel are both set; a webhook posts to its own channel: leave slack.channel empty, or use slack.botToken with slack.channel" }}
{{- end }}
{{- if and $v.slack.onlyChanges (not $v.state.enabled) (eq $v.mode "cronjob") }}
{{- fail "slack.onlyChanges needs run-to-run state to know what changed: set state.enabled: true" }}
{{- end }}
{{- else if or $v.slack.webhookURL $v.slack.botToken $v.slack.existingSecret $v.slack.channel }}
{{- fail "slack settings are given but slack.enabled is false: set slack.enabled: true" }}
{{- end }}
{{- end }}

{{/* The auditor's arguments common to run and serve. */}}
{{- define "storage-auditor.commonArgs" -}}
- --config
- /etc/storage-auditor/auditor.yaml
{{- if .Values.state.enabled }}
- --state-configmap
- {{ printf "%s/%s" .Release.Namespace (include "storage-auditor.stateConfigMap" .) }}
{{- end }}
{{- if .Values.slack.enabled }}
{{- if .Values.slack.channel }}
- --slack-channel
- {{ .Values.slack.channel | quote }}
{{- end }}
{{- if .Values.slack.minSeverity }}
- --slack-min-severity
- {{ .Values.slack.minSeverity }}
{{- end }}
{{- if .Values.slack.onlyChanges }}
- --slack-only-changes
{{- end }}
{{- end }}
{{- end }}

{{/* The pod spec shared by the CronJob's Jobs and the Deployment. */}}
{{- define "storage-auditor.podSpec" -}}
serviceAccountName: {{ include "storage-auditor.serviceAccountName" . }}
# The auditor reads the cluster through the API server with this account's token.
automountServiceAccountToken: true
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  fsGroup: 65532
  seccompProfile:
    type: RuntimeDefault
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "storage-auditor.fullname" . }}
  # Writable scratch space for --output-file or --state-file given in extraArgs; the
  # root file system is read-only.
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
{{- end }}

{{/* The auditor container's settings shared by both modes (after name and args). */}}
{{- define "storage-auditor.container" -}}
image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
imagePullPolicy: {{ .Values.image.pullPolicy }}
env:
  # deliver.go resolves a state ConfigMap given without a namespace to this one.
  - name: POD_NAMESPACE
    valueFrom:
      fieldRef:
        fieldPath: metadata.namespace
  {{- if .Values.slack.enabled }}
  {{- if include "storage-auditor.slackBot" . }}
  - name: SLACK_BOT_TOKEN
    valueFrom:
      secretKeyRef:
        name: {{ include "storage-auditor.slackSecret" . }}
        key: {{ .Values.slack.botTokenKey }}
  {{- else }}
  - name: SLACK_WEBHOOK_URL
    valueFrom:
      secretKeyRef:
        name: {{ include "storage-auditor.slackSecret" . }}
        key: {{ .Values.slack.webhookURLKey }}
  {{- end }}
  {{- end }}
  {{- with .Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  readOnlyRootFilesystem: true
  allowPrivilegeEscalation: false
  privileged: false
  capabilities:
    drop: ["ALL"]
  seccompProfile:
    type: RuntimeDefault
resources:
  {{- toYaml .Values.resources | nindent 2 }}
volumeMounts:
  - name: config
    mountPath: /etc/storage-auditor
    readOnly: true
  - name: tmp
    mountPath: /tmp
{{- end }}

{{/* Checksums that roll the pods when their configuration changes. */}}
{{- define "storage-auditor.checksums" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if and .Values.slack.enabled (not .Values.slack.existingSecret) }}
checksum/slack: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end }}

{{/* --fix and its classes, for run (cronjob) and serve (deployment) alike. */}}
{{- define "storage-auditor.fixArgs" -}}
{{- if .Values.fix.enabled }}
- --fix
- --yes
{{- with .Values.fix.allow }}
- --allow
- {{ join "," . }}
{{- end }}
{{- end }}
{{- end }}
