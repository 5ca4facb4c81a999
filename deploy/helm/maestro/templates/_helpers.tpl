{{- define "maestro.fullname" -}}{{ printf "%s-maestro" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- define "maestro.labels" -}}
app.kubernetes.io/name: maestro
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "maestro.selector" -}}
app.kubernetes.io/name: maestro
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "maestro.redisUrl" -}}
{{- if .Values.redis.externalUrl -}}{{ .Values.redis.externalUrl }}{{- else -}}redis://{{ .Release.Name }}-redis-master:6379{{- end -}}
{{- end -}}
{{- define "maestro.secretName" -}}{{ .Values.secrets.existingSecret | default (include "maestro.fullname" .) }}{{- end -}}
{{- define "maestro.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "maestro.fullname" . }}
env:
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
