#!/bin/bash
# TIMESTACK LAB STAND-IN for Apache Kafka's bin/kafka-storage.sh — not Apache Kafka.
# Implements what Timestack calls: `random-uuid`, and `format --cluster-id ID --config FILE
# [--ignore-formatted]`, which writes meta.properties (version 1: cluster.id, node.id,
# directory.id) into every log.dirs entry as Kafka 3.9 does. Tansu keeps no data on disk.
set -euo pipefail

uuid() { head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' | cut -c1-22; }

case ${1:-} in
  random-uuid) uuid; exit 0 ;;
  format) shift ;;
  *) echo "usage: kafka-storage.sh random-uuid | format --cluster-id ID --config FILE [--ignore-formatted]" >&2; exit 1 ;;
esac

cluster_id="" config="" ignore=false
while [[ $# -gt 0 ]]; do
  case $1 in
    -t|--cluster-id) cluster_id=$2; shift 2 ;;
    -c|--config) config=$2; shift 2 ;;
    -g|--ignore-formatted) ignore=true; shift ;;
    *) echo "kafka-storage.sh (stand-in): unknown argument $1" >&2; exit 1 ;;
  esac
done
[[ -n $cluster_id && -n $config ]] || { echo "format needs --cluster-id and --config" >&2; exit 1; }

prop() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$config" | tail -n 1; }
node_id=$(prop node.id)
IFS=, read -ra dirs <<< "$(prop log.dirs)"
for dir in "${dirs[@]}"; do
  if [[ -f $dir/meta.properties ]]; then
    if $ignore; then echo "All of the log directories are already formatted: $dir"; continue; fi
    echo "Log directory $dir is already formatted. Use --ignore-formatted to ignore this directory and format the others." >&2
    exit 1
  fi
  mkdir -p "$dir"
  printf '#\n#%s\nnode.id=%s\ndirectory.id=%s\nversion=1\ncluster.id=%s\n' \
    "$(date)" "$node_id" "$(uuid)" "$cluster_id" > "$dir/meta.properties"
  echo "Formatting $dir (Timestack lab stand-in: meta.properties only)"
done
