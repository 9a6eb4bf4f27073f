{{/* Names, labels and the pieces every Oblivion pod shares. */}}

{{- define "oblivion.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "oblivion.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The one labels helper. Call with (dict "ctx" $ "component" "nexus") for the full set, or add
"selector" true for the immutable subset used in selectors.
*/}}
{{- define "oblivion.labels" -}}
app.kubernetes.io/name: {{ include "oblivion.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- if not .selector }}
app.kubernetes.io/part-of: oblivion
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{- end }}
{{- end -}}

{{- define "oblivion.image" -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .ctx.Chart.AppVersion) -}}
{{- end -}}

{{- define "oblivion.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "oblivion.fullname" .)) -}}
{{- end -}}

{{- define "oblivion.nexusUrl" -}}
{{- printf "http://%s-nexus.%s.svc:%v" (include "oblivion.fullname" .) .Release.Namespace .Values.nexus.service.port -}}
{{- end -}}

{{- define "oblivion.qdrantUrl" -}}
{{- if .Values.qdrant.enabled -}}
{{- printf "http://%s-qdrant:6333" (include "oblivion.fullname" .) -}}
{{- else -}}
{{- required "qdrant.external.url is required when qdrant.enabled is false" .Values.qdrant.external.url -}}
{{- end -}}
{{- end -}}

{{/* One env entry read from the Oblivion Secret: (dict "ctx" $ "name" "OBLIVION_X" "key" "x" "optional" bool) */}}
{{- define "oblivion.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret | default (include "oblivion.secretName" .ctx) }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/* The connection settings Nexus's API, worker and migrations share. Pass (dict "ctx" $ "secret" name). */}}
{{- define "oblivion.dataEnv" -}}
{{- $ctx := .ctx -}}
{{- $fullname := include "oblivion.fullname" $ctx -}}
{{- if $ctx.Values.postgresql.enabled }}
{{ include "oblivion.secretEnv" (dict "ctx" $ctx "secret" .secret "name" "OBLIVION_POSTGRES_PASSWORD" "key" "postgres-password") }}
- name: OBLIVION_DATABASE_URL
  value: {{ printf "postgresql+psycopg://%s:$(OBLIVION_POSTGRES_PASSWORD)@%s-postgresql:5432/%s" $ctx.Values.postgresql.username $fullname $ctx.Values.postgresql.database | quote }}
{{- else }}
{{ include "oblivion.secretEnv" (dict "ctx" $ctx "secret" .secret "name" "OBLIVION_DATABASE_URL" "key" "database-url") }}
{{- end }}
{{- if $ctx.Values.redis.enabled }}
- name: OBLIVION_REDIS_URL
  value: {{ printf "redis://%s-redis:6379/0" $fullname | quote }}
{{- else }}
{{ include "oblivion.secretEnv" (dict "ctx" $ctx "secret" .secret "name" "OBLIVION_REDIS_URL" "key" "redis-url") }}
{{- end }}
{{- end -}}

{{/* Everything Nexus's API and worker read: data services, keys and integration credentials. */}}
{{- define "oblivion.nexusEnv" -}}
{{ include "oblivion.dataEnv" (dict "ctx" .) }}
{{ include "oblivion.secretEnv" (dict "ctx" . "name" "OBLIVION_ADMIN_TOKEN" "key" "admin-token") }}
{{ include "oblivion.secretEnv" (dict "ctx" . "name" "OBLIVION_JWT_SIGNING_KEY" "key" "jwt-signing-key") }}
{{ include "oblivion.secretEnv" (dict "ctx" . "name" "OBLIVION_MASTER_KEY" "key" "master-key") }}
{{ include "oblivion.secretEnv" (dict "ctx" . "name" "OBLIVION_SLACK_SIGNING_SECRET" "key" "slack-signing-secret" "optional" true) }}
{{ include "oblivion.secretEnv" (dict "ctx" . "name" "OBLIVION_SLACK_BOT_TOKEN" "key" "slack-bot-token" "optional" true) }}
{{ include "oblivion.secretEnv" (dict "ctx" . "name" "OBLIVION_CLICKUP_TOKEN" "key" "clickup-token" "optional" true) }}
{{ include "oblivion.secretEnv" (dict "ctx" . "name" "OBLIVION_CLICKUP_WEBHOOK_SECRET" "key" "clickup-webhook-secret" "optional" true) }}
{{ include "oblivion.secretEnv" (dict "ctx" . "name" "OBLIVION_QDRANT_API_KEY" "key" "qdrant-api-key" "optional" true) }}
{{- end -}}

{{/* Pod placement and security shared by every component: pass the component's values block. */}}
{{- define "oblivion.podPlacement" -}}
{{- with .podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "oblivion.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
