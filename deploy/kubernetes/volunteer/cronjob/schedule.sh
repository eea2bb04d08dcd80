#!/bin/sh
# Writes schedule.yaml beside this script: the minute of the day at which this cluster's CronJob reports.
#
#   ./schedule.sh          # the seed is the kube-system namespace's UID, read with kubectl (current context)
#   ./schedule.sh SEED     # any string that differs per cluster, e.g. for a GitOps repository rendered offline
#
# The minute is the first 32 bits of SHA-256("spartakus:schedule:" + SEED), modulo the 1,440 minutes of a day (UTC).
# A fleet therefore spreads evenly over the day, and a re-install of one cluster keeps its minute.
set -eu

seed=${1:-}
if [ -z "$seed" ]; then
  seed=$(kubectl get namespace kube-system -o jsonpath='{.metadata.uid}')
fi
if [ -z "$seed" ]; then
  echo "schedule.sh: no seed: kubectl returned no kube-system UID; pass a per-cluster string instead" >&2
  exit 2
fi

if command -v sha256sum >/dev/null 2>&1; then
  digest=$(printf '%s' "spartakus:schedule:$seed" | sha256sum)
else
  digest=$(printf '%s' "spartakus:schedule:$seed" | shasum -a 256)
fi
minute_of_day=$(( 0x$(printf '%s' "$digest" | cut -c1-8) % 1440 ))
schedule="$(( minute_of_day % 60 )) $(( minute_of_day / 60 )) * * *"

cat > "$(dirname "$0")/schedule.yaml" <<YAML
# Written by schedule.sh: this cluster's minute of the day (UTC). Run schedule.sh again to change the seed.
apiVersion: batch/v1
kind: CronJob
metadata:
  name: spartakus-volunteer
  namespace: spartakus-volunteer
spec:
  schedule: "$schedule"
YAML
echo "schedule: $schedule (UTC)"
