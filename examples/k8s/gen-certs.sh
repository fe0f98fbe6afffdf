#!/usr/bin/env bash
# Makes a private CA and the webhook's serving certificate for
# outrider-webhook.outrider-system.svc, valid for a year. Usage: gen-certs.sh [OUTDIR]
# (default ./certs). Writes ca.crt, ca.key, tls.crt, tls.key. Without cert-manager, the API
# server must trust ca.crt: README.md shows how to put it in the webhook's caBundle.
set -euo pipefail
out="${1:-certs}"
service="${SERVICE:-outrider-webhook}"
namespace="${NAMESPACE:-outrider-system}"
mkdir -p "$out"
cd "$out"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
  -keyout ca.key -out ca.crt -subj "/CN=outrider-webhook-ca" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout tls.key -out tls.csr -subj "/CN=${service}.${namespace}.svc" 2>/dev/null
# The API server checks the name it dials: <service>.<namespace>.svc.
printf 'subjectAltName=DNS:%s,DNS:%s.%s,DNS:%s.%s.svc\nextendedKeyUsage=serverAuth\n' \
  "$service" "$service" "$namespace" "$service" "$namespace" > tls.ext
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
  -extfile tls.ext -out tls.crt 2>/dev/null
rm -f tls.csr tls.ext ca.srl
chmod 600 ca.key tls.key
echo "wrote $(pwd)/{ca.crt,ca.key,tls.crt,tls.key} for ${service}.${namespace}.svc"
