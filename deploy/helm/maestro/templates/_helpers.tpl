{{- define "maestro.fullname" -}}{{ printf "%s-maestro" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- define "maestro.labels" -}}
app.kubernetes.io/name: maestro
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end -}}
{{- define "maestro.selector" -}}
app.kubernetes.io/name: maestro
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- /* The chart's own Redis runs when redis.enabled and no redis.externalUrl is set. */ -}}
{{- define "maestro.ownRedis" -}}{{- if and .Values.redis.enabled (not .Values.redis.externalUrl) (not .Values.redis.existingSecret) -}}true{{- end -}}{{- end -}}
{{- define "maestro.redisUrl" -}}
{{- if .Values.redis.externalUrl -}}{{ .Values.redis.externalUrl }}
{{- else if .Values.redis.enabled -}}redis://{{ include "maestro.fullname" . }}-redis:6379
{{- else if not .Values.redis.existingSecret -}}{{ fail "redis.enabled=false needs redis.externalUrl (redis://, rediss://, redis-sentinel://, redis-cluster://) or redis.existingSecret" }}
{{- end -}}
{{- end -}}
{{- /* REDIS_URL comes from a Secret: an external URL may hold a password. */ -}}
{{- define "maestro.redisSecretName" -}}{{ .Values.redis.existingSecret | default (printf "%s-redis-url" (include "maestro.fullname" .)) }}{{- end -}}
{{- define "maestro.secretName" -}}{{ .Values.secrets.existingSecret | default (include "maestro.fullname" .) }}{{- end -}}
{{- define "maestro.adminSecretName" -}}{{ .Values.admin.existingSecret | default (printf "%s-admin" (include "maestro.fullname" .)) }}{{- end -}}
{{- /* Pod annotations: a changed ConfigMap or Secret rolls the pods (helm upgrade). */ -}}
{{- define "maestro.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}
{{- define "maestro.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "maestro.fullname" . }}
env:
  - name: REDIS_URL
    valueFrom:
      secretKeyRef:
        name: {{ include "maestro.redisSecretName" . }}
        key: {{ .Values.redis.existingSecretKey }}
  - name: MAESTRO_JWT_KEYS
    valueFrom:
      secretKeyRef:
        name: {{ include "maestro.secretName" . }}
        key: jwtKeys
        optional: true
  - name: NODE_ID
    valueFrom:
      fieldRef:
        fieldPath: metadata.name
{{- end -}}
