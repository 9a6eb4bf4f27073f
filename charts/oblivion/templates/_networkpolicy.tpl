{{/* Egress rules the NetworkPolicies share. Each takes the root context. */}}

{{- define "oblivion.egress.dns" -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end -}}

{{- define "oblivion.egress.toComponent" -}}
- to:
    - podSelector:
        matchLabels:
          {{- include "oblivion.labels" (dict "ctx" .ctx "component" .component "selector" true) | nindent 10 }}
  ports:
    {{- range .ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end -}}

{{/* HTTPS anywhere: Slack, ClickUp and embedding providers have no fixed addresses. */}}
{{- define "oblivion.egress.https" -}}
- ports:
    - port: 443
      protocol: TCP
{{- end -}}

{{/* The data services Nexus's API, worker and migrations use: bundled pods or external ports. */}}
{{- define "oblivion.egress.data" -}}
{{- $ctx := .ctx -}}
{{- if $ctx.Values.postgresql.enabled }}
{{ include "oblivion.egress.toComponent" (dict "ctx" $ctx "component" "postgresql" "ports" (list 5432)) }}
{{- end }}
{{- if and .redis $ctx.Values.redis.enabled }}
{{ include "oblivion.egress.toComponent" (dict "ctx" $ctx "component" "redis" "ports" (list 6379)) }}
{{- end }}
{{- if and .qdrant $ctx.Values.qdrant.enabled }}
{{ include "oblivion.egress.toComponent" (dict "ctx" $ctx "component" "qdrant" "ports" (list 6333 6334)) }}
{{- end }}
{{- if or (not $ctx.Values.postgresql.enabled) (not $ctx.Values.redis.enabled) (not $ctx.Values.qdrant.enabled) }}
- ports:
    {{- range $ctx.Values.networkPolicy.externalDataPorts }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end }}
{{- end -}}
